"""``POST /v1/handoff``: the customer asks for a person; the conversation lands in the escalation queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CallerKey, ReadyRuntime, claim_session
from api.errors import validation_failure
from api.models import Escalation, HandoffRequest, error_responses
from api.runtime import Runtime

router = APIRouter(prefix="/v1/handoff", tags=["handoff"])


def _has_started(runtime: Runtime, session_id: str) -> bool:
    """Whether the session has messages or an escalation: something the case can take its language from."""
    if runtime.chat_service.transcript(session_id):
        return True
    return runtime.support_store.handoff_status(session_id)["escalation_id"] is not None


@router.post(
    "",
    status_code=201,
    response_model=Escalation,
    responses=error_responses(400, 403, 413, 422),
    summary="Hand the conversation to a person",
)
def request_handoff(body: HandoffRequest, key: CallerKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Queue the caller's session (its redacted transcript) for a human agent; returns the escalation.

    A session with no messages yet (the chat page's button pressed before the first message) is handed off only
    with ``lang``: the case needs a language, and an id nobody has used is not taken by mistake.
    """
    if body.lang is None and not _has_started(runtime, body.session_id):
        raise validation_failure(
            ["body", "lang"],
            f"session {body.session_id} has no messages: give lang (es or en) to hand it off before the first message",
            "missing",
        )
    claim_session(runtime, key, body.session_id)
    record: dict[str, Any] = runtime.chat_service.request_handoff(
        body.session_id, body.reason or "customer_request", lang=body.lang
    )
    return record
