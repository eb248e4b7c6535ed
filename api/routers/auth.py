"""``/v1/auth``: who the caller's key is, and sign-in for console users (name + password, stored as a scrypt hash)
that returns a key of the user's role for one console session, revoked at sign-out."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request

from api.deps import CallerKey, RuntimeDep
from api.keys import USER_PREFIX
from api.models import KeyInfo, SignInRequest, error_responses
from api.runtime import password_checks

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.get("/me", response_model=KeyInfo, responses=error_responses(), summary="The caller's key")
def whoami(key: CallerKey, runtime: RuntimeDep) -> dict[str, Any]:
    """The id, role and name of the key sent (the console checks a signed-in key's role with it), and when it
    expires (a sign-in's key; null for a key made with ``supportbot keys create``)."""
    return {"id": key.id, "role": key.role, "name": key.name, "expires_at": runtime.keys.expires_at(key)}


@router.post("/signin", status_code=201, response_model=KeyInfo, responses=error_responses(400, 401, 422),
             summary="Sign a console user in")  # fmt: skip
async def sign_in(body: SignInRequest, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """A new API key with the user's role (agent or admin), shown once, that works for ``SUPPORTBOT_SIGNIN_HOURS``
    (``expires_at``); 401 for a wrong name or password.

    The password check (scrypt, 128 MiB and about 0.4 s) runs on a worker thread, at most
    ``api.passwords.CONCURRENT_HASHES`` at once; the sign-ins beyond those wait here, on the event loop, so a burst of
    them leaves the worker threads to the other callers.
    """
    address = request.client.host if request.client else "?"
    wait = await to_thread.run_sync(runtime.signin_limiter.acquire, f"signin:{address}")
    if wait > 0:  # guessing passwords is rate limited per client address (SUPPORTBOT_SIGNIN_PER_MINUTE)
        raise HTTPException(429, "too many sign-in attempts; wait a minute",
                            {"Retry-After": runtime.signin_limiter.retry_after(wait)})  # fmt: skip
    issued = await to_thread.run_sync(runtime.keys.sign_in, body.username, body.password, limiter=password_checks())
    if issued is None:
        raise HTTPException(401, "wrong user name or password")
    record, key = issued
    return {"id": record.id, "role": record.role, "name": record.name, "key": key,
            "expires_at": runtime.keys.expires_at(record)}  # fmt: skip


@router.post("/signout", response_model=KeyInfo, responses=error_responses(), summary="Sign a console user out")
def sign_out(key: CallerKey, runtime: RuntimeDep) -> dict[str, Any]:
    """Revoke the caller's key when sign-in issued it (a key made with ``supportbot keys create`` is left alone)."""
    if key.name.startswith(USER_PREFIX):
        runtime.keys.revoke(key.id)
    return {"id": key.id, "role": key.role, "name": key.name}
