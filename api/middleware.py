"""The outermost ASGI layer: request ids, the body-size limit (413), a redacted access log, metrics, and a JSON 500.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so server-sent events stream through untouched. An exception that
escapes a route is answered here with ``{"detail": "internal server error", "request_id": ...}``, logged with
personal data masked, and not re-raised: no traceback reaches a client or the server's own error log.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import api_logger, redact_for_log, request_context
from api.metrics import Metrics

log = api_logger()
# An X-Request-ID a proxy or load balancer sent, kept when it is a plain token: it joins their log line to ours (and
# to the other replica's, when the proxy retries there). Anything else could forge or stuff a log line, and gets an
# id of ours.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ServiceMiddleware:
    """Limits, observes and protects every HTTP request of the app."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call (only HTTP requests are observed)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id: a 503 names it
        with request_context(request_id):  # every line logged while it is served names it (JSON logs)
            await self._handle(scope, receive, send, request_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                self._observe(scope, message["status"], started, request_id)
            elif message["type"] == "http.response.body" and scope.get("method") == "HEAD":
                message = {**message, "body": b""}  # HEAD: GET's status and headers, never its body
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._reply(send_with_id, 413, {"detail": self._too_large()})
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:  # a chunked body without Content-Length
                    raise HTTPException(413, self._too_large())
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:
            log.error(
                "request %s %s failed: %s: %s",
                request_id,
                scope.get("path", ""),
                type(exc).__name__,
                str(exc),
                exc_info=exc,
            )
            if not status["sent"]:
                await self._reply(send_with_id, 500, {"detail": "internal server error", "request_id": request_id})

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"

    def _observe(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()
        self.metrics.latency.labels(template).observe(elapsed)
        key_id = scope.get("state", {}).get("key_id", "-")
        # The path, never the query string (search queries are customer text); session ids are not personal data.
        log.info(
            "%s %s %d %.1fms key=%s id=%s",
            scope.get("method", ""),
            scope.get("path", ""),
            status,
            elapsed * 1e3,
            key_id,
            request_id,
        )

    @staticmethod
    async def _reply(send: Send, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def new_request_id() -> str:
    """A random request id the log redactor writes as it is.

    An id :func:`api.logs.redact_for_log` would change is drawn again: one ``uuid4().hex`` in eighteen ("ab12c4d5...")
    was logged as ``<IBAN>`` while the redactor went by an IBAN's shape alone, and the request a 503 named could not
    be found in the log; it now checks the check digits too, and a redraw is rare."""
    while True:
        request_id = uuid.uuid4().hex
        if redact_for_log(request_id) == request_id:
            return request_id


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # One the log redactor would change (a phone-like run of digits) would not be found in the log as sent.
            return text if INCOMING_REQUEST_ID.fullmatch(text) and redact_for_log(text) == text else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
