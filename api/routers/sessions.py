"""``GET /v1/sessions/{session_id}``: a conversation's transcript, personal data redacted, with the messages
exchanged with a person (role ``agent``); ``GET /v1/sessions/{session_id}/events``: the same, live, as server-sent
events."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CallerKey, ReadyRuntime, check_can_read
from api.models import SESSION_ID, TranscriptResponse, error_responses
from api.runtime import Runtime

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
SessionId = Annotated[str, Path(pattern=SESSION_ID, description="Conversation id.")]
POLL_S = 0.5  # how often the event stream looks for new messages
PING_S = 15.0  # a comment line this often keeps proxies from closing an idle stream


def _snapshot(runtime: Runtime, session_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from graph.nodes.handoff import session_transcript

    messages = session_transcript(runtime.service, session_id)
    return messages, runtime.chat_service.store.handoff_status(session_id)


def _poll(runtime: Runtime, session_id: str, key_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The next snapshot, or None once the stream's key is revoked (signed out, ``supportbot keys revoke``): an open
    stream kept sending the conversation to a revoked key until its ``wait`` ran out, up to an hour."""
    return _snapshot(runtime, session_id) if runtime.keys.is_live(key_id) else None


@router.get(
    "/{session_id}",
    response_model=TranscriptResponse,
    responses=error_responses(404, 422),
    summary="Read a conversation (redacted)",
)
def read_session(session_id: SessionId, key: CallerKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """The redacted transcript (bot turns and agent messages, in order) and who has the conversation now: a customer
    key sees only its own sessions, agents and admins see any."""
    check_can_read(runtime, key, session_id)
    messages, handoff = _snapshot(runtime, session_id)
    return {"session_id": session_id, "messages": messages, "handoff": handoff}


def _sse(kind: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get(
    "/{session_id}/events",
    response_class=StreamingResponse,
    responses={
        **error_responses(404, 422),
        200: {
            "description": "Server-sent events: `status` ({status, escalation_id, agent, last}) first and whenever "
            "it changes, and `message` ({index, role, content, ...}) for each new message; the event id is the "
            "message index, so a reconnecting client resumes with `Last-Event-ID`. The stream ends when `wait` runs "
            "out or the key is revoked.",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["status", "message"]},
                            "data": {"type": "string", "contentMediaType": "application/json"},
                        },
                        "required": ["event", "data"],
                    }
                }
            },
        },
    },
    summary="Follow a conversation live (server-sent events)",
)
async def session_events(
    session_id: SessionId,
    request: Request,
    key: CallerKey,
    runtime: ReadyRuntime,
    after: Annotated[int | None, Query(ge=-1, description="Send messages after this index (-1: all).")] = None,
    wait: Annotated[float, Query(gt=0, le=3600, description="Close the stream after this many seconds.")] = 300,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StreamingResponse:
    """New messages of the conversation (agent replies included) and changes of who has it, as they happen."""
    await run_in_threadpool(check_can_read, runtime, key, session_id)
    messages, handoff = await run_in_threadpool(_snapshot, runtime, session_id)
    # The id of the last event the client saw: a message index. Anything else ("--5", "-100", "²") is ignored, as
    # browsers ignore an id they cannot use: the stream starts with the new messages.
    if after is None and last_event_id is not None and re.fullmatch(r"[0-9]{1,9}", last_event_id.strip()):
        after = int(last_event_id)
    sent = len(messages) if after is None else min(after + 1, len(messages))

    async def events() -> AsyncIterator[str]:
        nonlocal messages, handoff, sent
        deadline, pinged = time.monotonic() + wait, time.monotonic()
        yield _sse("status", handoff)
        changed = False
        while True:
            for index in range(sent, len(messages)):
                yield _sse("message", {"index": index, **messages[index]}, index)
            sent = max(sent, len(messages))
            # A change of who has the conversation goes after the messages of the same snapshot: an agent's last
            # reply, then the release to the bot (the release came first until 2026-12-06).
            if changed:
                yield _sse("status", handoff)
                changed = False
            # The server is stopping (api.server): end now, not when wait runs out; the client reconnects.
            if time.monotonic() >= deadline or runtime.stopping.is_set() or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)
            if time.monotonic() - pinged >= PING_S:
                pinged = time.monotonic()
                yield ": ping\n\n"
            polled = await run_in_threadpool(_poll, runtime, session_id, key.id)
            if polled is None:
                return
            messages, status = polled
            if status != handoff:
                handoff, changed = status, True

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
