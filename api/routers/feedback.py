"""``POST /v1/feedback``: thumbs up or down, with an optional comment, on one answer of a conversation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import CallerKey, ReadyRuntime, check_owns
from api.models import FeedbackRecord, FeedbackRequest, error_responses

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post(
    "",
    status_code=201,
    response_model=FeedbackRecord,
    responses=error_responses(400, 403, 404, 413, 422),
    summary="Rate an answer",
)
def add_feedback(body: FeedbackRequest, key: CallerKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Record the rating of answer number ``turn`` (0-based) of the caller's own session."""
    check_owns(runtime, key, body.session_id)
    answers = [m for m in runtime.chat_service.transcript(body.session_id) if m.get("role") == "assistant"]
    if body.turn >= len(answers):
        raise HTTPException(404, f"session {body.session_id} has no answer number {body.turn} ({len(answers)} answers)")
    record: dict[str, Any] = runtime.chat_service.add_feedback(body.session_id, body.turn, body.rating, body.comment)
    return record
