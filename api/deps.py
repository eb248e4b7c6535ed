"""Dependencies shared by the routers, as ``Annotated`` aliases: the runtime, the caller's key by role, sessions.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Roles are ordered customer < agent <
admin: each may call the routes of the roles below it. Authentication runs before anything else, then the key's
rate limit, then the role check, then readiness; so a bad key is a 401 even while the service is loading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.keys import RANK, ApiKey, Role
from api.models import ChatRequest
from api.runtime import Runtime

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `supportbot keys create`.")
_bearer = HTTPBearer(auto_error=False, description="An API key from `supportbot keys create`, as a bearer token.")


def get_runtime(request: Request) -> Runtime:
    """The process's runtime (loaded once in the app's lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def authenticate(
    request: Request,
    runtime: RuntimeDep,
    header_key: Annotated[str | None, Security(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> ApiKey:
    """The caller's live key, after its rate limit; 401 without a valid key, 429 over the limit."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if "authorization" in request.headers and bearer is None:
        raise HTTPException(401, "the Authorization header must be 'Bearer <key>'", challenge)
    if header_key is None and "x-api-key" in request.headers:
        raise HTTPException(401, "the X-API-Key header is empty", challenge)
    keys = {k for k in (header_key, bearer.credentials if bearer is not None else None) if k is not None}
    if len(keys) > 1:  # two different credentials: refuse rather than pick one
        raise HTTPException(401, "conflicting API keys in Authorization and X-API-Key: send one", challenge)
    if not keys:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", challenge)
    key = keys.pop()
    record = runtime.keys.authenticate(key)
    if record is None:
        if runtime.keys.expired(key):
            raise HTTPException(401, "this console sign-in has expired: sign in again", challenge)
        raise HTTPException(401, "invalid or revoked API key", challenge)
    request.state.key_id = record.id
    staff = record.role in ("agent", "admin")  # the console: SUPPORTBOT_RATE_LIMIT_PER_MINUTE_STAFF
    limiter = runtime.staff_limiter if staff else runtime.limiter
    wait = limiter.acquire(record.id)
    if wait > 0:
        runtime.metrics.rate_limited.labels(record.role).inc()
        per_minute = runtime.config.rate_limit_per_minute_staff if staff else runtime.config.rate_limit_per_minute
        raise HTTPException(
            429,
            f"rate limit of {per_minute} requests per minute exceeded for this key",
            {"Retry-After": limiter.retry_after(wait)},
        )
    return record


CallerKey = Annotated[ApiKey, Depends(authenticate)]


def _require(role: Role) -> Callable[[ApiKey], ApiKey]:
    def check(key: CallerKey) -> ApiKey:
        if RANK[key.role] < RANK[role]:
            raise HTTPException(403, f"this route needs a key with the {role} role; this key's role is {key.role}")
        return key

    return check


AgentKey = Annotated[ApiKey, Depends(_require("agent"))]
AdminKey = Annotated[ApiKey, Depends(_require("admin"))]


def ready_runtime(runtime: RuntimeDep) -> Runtime:
    """The runtime, or 503 while the graph or the index is not loaded."""
    runtime.require()
    return runtime


ReadyRuntime = Annotated[Runtime, Depends(ready_runtime)]


def claim_session(runtime: Runtime, key: ApiKey, session_id: str) -> None:
    """Let ``key`` write to ``session_id``: a new session becomes its own; another key's session is a 403."""
    if runtime.keys.claim_session(session_id, key.id) != key.id:
        raise HTTPException(403, f"session {session_id} belongs to another API key")


def check_can_read(runtime: Runtime, key: ApiKey, session_id: str) -> None:
    """404 unless the session exists and ``key`` owns it or is an agent or admin (a customer sees only its own)."""
    owner = runtime.keys.session_owner(session_id)
    if owner is None or (owner != key.id and key.role == "customer"):
        raise HTTPException(404, f"no session {session_id} for this API key")


def check_owns(runtime: Runtime, key: ApiKey, session_id: str) -> None:
    """404 for an unknown session, 403 for another key's session."""
    owner = runtime.keys.session_owner(session_id)
    if owner is None:
        raise HTTPException(404, f"no session {session_id}")
    if owner != key.id:
        raise HTTPException(403, f"session {session_id} belongs to another API key")


async def session_turn(body: ChatRequest, runtime: RuntimeDep) -> AsyncIterator[ChatRequest]:
    """The chat request, once no other message of its session is being answered by this process (waited for on the
    event loop); the turn is held until the answer, streamed or not, has been sent. A message without a session id
    starts a new session. Declare it after the key and the runtime: a refused key never waits."""
    if body.session_id is None:
        yield body
        return
    async with runtime.turns.turn(body.session_id):
        yield body


# The chat routes' body, taken in the session's turn (the body is declared once, here: the schema is unchanged).
ChatBody = Annotated[ChatRequest, Depends(session_turn)]
