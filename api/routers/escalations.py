"""``GET /v1/escalations`` for agents: conversations handed to a person, with redacted transcripts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import AgentKey, ReadyRuntime
from api.models import EscalationList, error_responses

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])
ERRORS = error_responses(403, 422)


@router.get("", response_model=EscalationList, responses=ERRORS, summary="The escalation queue")
def escalations(
    key: AgentKey,
    runtime: ReadyRuntime,
    status: Annotated[Literal["open", "assigned", "closed"] | None, Query(description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Escalated conversations (redacted transcripts), newest first."""
    return {"escalations": runtime.store.escalations(status=status, limit=limit)}  # type: ignore[union-attr]
