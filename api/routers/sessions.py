"""``GET /v1/sessions/{session_id}``: a conversation's transcript, personal data redacted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import CallerKey, ReadyRuntime, check_can_read
from api.models import SESSION_ID, TranscriptResponse, error_responses

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
SessionId = Annotated[str, Path(pattern=SESSION_ID, description="Conversation id.")]


@router.get(
    "/{session_id}",
    response_model=TranscriptResponse,
    responses=error_responses(404, 422),
    summary="Read a conversation (redacted)",
)
def read_session(session_id: SessionId, key: CallerKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """The redacted transcript: a customer key sees only its own sessions, agents and admins see any."""
    check_can_read(runtime, key, session_id)
    messages = runtime.service.transcript(session_id)  # type: ignore[union-attr]
    return {"session_id": session_id, "messages": messages}
