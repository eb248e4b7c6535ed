"""``POST /v1/handoff``: the customer asks for a person; the conversation lands in the escalation queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CallerKey, ReadyRuntime, claim_session
from api.models import HandoffRequest, Record, error_responses

router = APIRouter(prefix="/v1/handoff", tags=["handoff"])


@router.post(
    "",
    status_code=201,
    response_model=Record,
    responses=error_responses(400, 403, 413, 422),
    summary="Hand the conversation to a person",
)
def request_handoff(body: HandoffRequest, key: CallerKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Queue the caller's session (its redacted transcript) for a human agent; returns the escalation."""
    claim_session(runtime, key, body.session_id)
    record: dict[str, Any] = runtime.chat_service.request_handoff(body.session_id, body.reason, lang=body.lang)
    return record
