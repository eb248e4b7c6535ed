"""``POST /v1/chat`` and ``POST /v1/chat/stream``: one customer turn, whole or as server-sent events.

Handlers are plain ``def`` functions: FastAPI runs them in its threadpool, so a turn of the blocking graph never
holds up other requests.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import CallerKey, ChatBody, ReadyRuntime, claim_session
from api.errors import validation_failure
from api.logs import api_logger
from api.models import ChatRequest, ChatResponse, error_responses
from api.runtime import SEE_LOG, Runtime
from graph.service import RequestKeyReused
from retrieval.text import clean

router = APIRouter(prefix="/v1/chat", tags=["chat"])
log = api_logger()
ERRORS = error_responses(400, 403, 409, 413, 422)

# One server-sent event, as clients (and schemathesis) parse it: the event name and its JSON data.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["token", "final", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["event", "data"],
}


# A client's key for one message (RFC draft "The Idempotency-Key HTTP Header Field"): the message sent again with the
# session's last key gets the first answer back instead of a second turn.
RequestKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A key of your choosing for this message (printable ASCII, at most 255 characters, e.g. a UUID). "
        "Sent again with the same message in the same session (a retry after a timeout), the answer of the first "
        "one comes back with `replayed: true` and the `Idempotent-Replayed: true` header, and the conversation "
        "holds the message once. The session's last key is remembered; the same key with another message is a 422.",
    ),
]
REPLAYED = "Idempotent-Replayed"


def _start(runtime: Runtime, key: Any, body: ChatRequest) -> dict[str, Any]:
    """Check the message, claim the session and return the service's keyword arguments."""
    if len(body.message) > runtime.config.max_message_chars:
        raise validation_failure(
            ["body", "message"],
            f"message is {len(body.message)} characters; at most {runtime.config.max_message_chars} are accepted",
            "string_too_long",
        )
    if not clean(body.message):  # what is kept: controls and zero-width characters are removed first
        raise validation_failure(["body", "message"], "message is blank", "string_too_short")
    session_id = body.session_id or uuid.uuid4().hex
    claim_session(runtime, key, session_id)
    return {"session_id": session_id, "mode": body.mode, "lang": body.lang}


def _count(runtime: Runtime, result: dict[str, Any]) -> None:
    if result.get("replayed"):  # the turn was counted when it was answered
        return
    runtime.metrics.chat_turns.labels(str(result.get("mode")), str(result.get("route")), str(result.get("lang"))).inc()


@router.post("", response_model=ChatResponse, responses=ERRORS, summary="Answer one customer message")
def chat(key: CallerKey, runtime: ReadyRuntime, body: ChatBody, response: Response,
         idempotency_key: RequestKey = None) -> dict[str, Any]:  # fmt: skip
    """Answer ``message`` in the conversation ``session_id`` (a new one when omitted).

    Returns the same fields as ``supportbot chat --json``: answer, lang, mode, route, sources, guardrails,
    latency_ms, node_latency_ms, session_id and tokens_generated, plus ``replayed``.
    """
    kwargs = _start(runtime, key, body)
    try:
        result: dict[str, Any] = runtime.chat_service.chat(body.message, **kwargs, request_key=idempotency_key)
    except RequestKeyReused as exc:
        raise validation_failure(["header", "Idempotency-Key"], str(exc), "idempotency_key_reused") from exc
    except ValueError as exc:  # a valid request this server cannot run (e.g. a mode without a model): 409
        raise HTTPException(409, str(exc)) from exc
    _count(runtime, result)
    if result.get("replayed"):
        response.headers[REPLAYED] = "true"
    return result


def in_one_thread(events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``events``, produced from start to end by one thread of their own.

    ``ChatService.stream`` holds the session's lock, which belongs to a thread, while it yields, and Starlette pulls
    each item of a sync stream on whichever worker thread is free: the lock was released from another thread (an
    ``error`` event), and the session stayed locked for good, each later message of it hanging on a worker thread.
    The thread runs the turn to its end even when the client goes away, so the turn is saved and the lock released.
    """
    box: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def produce() -> None:
        try:
            for event in events:
                box.put(("event", event))
        except BaseException as exc:  # handed to the consumer, which raises it where the route can answer it
            box.put(("error", exc))
        else:
            box.put(("end", None))

    threading.Thread(target=produce, name="chat-stream", daemon=True).start()
    while True:
        kind, value = box.get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/stream",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {
            "description": "Server-sent events: `token` events ({type, text, sentence}), each one sentence that has "
            "passed the output rails, then one `final` event with the same fields as POST /v1/chat plus `replaced` "
            "(true: a rail stopped the stream and `answer` replaces the text sent so far; `guardrails` says why); "
            "an `error` event ({type, detail, request_id}) if the turn fails midway.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
    },
    summary="Answer one customer message as server-sent events",
)
def chat_stream(key: CallerKey, runtime: ReadyRuntime, body: ChatBody, request: Request,
                idempotency_key: RequestKey = None) -> StreamingResponse:  # fmt: skip
    """Stream the answer to ``message`` sentence by sentence (each checked by the output rails), then the result.
    A replayed message (its Idempotency-Key sent again) is one ``final`` event."""
    kwargs = _start(runtime, key, body)
    events = in_one_thread(runtime.chat_service.stream(body.message, **kwargs, request_key=idempotency_key))
    try:  # the first event is pulled here, so a refused request is still a plain 4xx
        first = next(events, None)
    except RequestKeyReused as exc:
        raise validation_failure(["header", "Idempotency-Key"], str(exc), "idempotency_key_reused") from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc

    def stream() -> Iterator[str]:
        try:
            for event in [first] if first is not None else []:
                yield _sse(str(event.get("type", "token")), event)
            for event in events:
                if event.get("type") == "final":
                    _count(runtime, event)
                yield _sse(str(event.get("type", "token")), event)
        except Exception as exc:  # headers are sent: report the failure as an event, never a traceback
            # Both name the request (X-Request-ID): a customer's error is found in the log of the replica that had it.
            request_id = getattr(request.state, "request_id", "-")
            log.error("request %s %s stream failed: %s: %s", request_id, request.url.path, type(exc).__name__, str(exc))
            detail = f"the answer could not be completed; {SEE_LOG} (request {request_id})"
            yield _sse("error", {"type": "error", "detail": detail, "request_id": request_id})

    if first is not None and first.get("type") == "final":
        _count(runtime, first)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if first is not None and first.get("replayed"):
        headers[REPLAYED] = "true"
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
