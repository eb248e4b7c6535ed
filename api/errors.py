"""Exception handlers: every error is ``{"detail": ...}`` JSON with a clear reason, never a stack trace.

Validation errors keep the field location, message and type, but not the rejected input (it may be a large body or
personal data) nor pydantic's documentation links.
"""

from __future__ import annotations

import email.message
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.logs import api_logger
from api.runtime import SEE_LOG, NotReady

log = api_logger()

# FastAPI's own words for a body it cannot decode (not UTF-8, cut short, nested too deeply), made to say what is
# wrong and what to send instead; the parser's exception is the HTTPException's cause.
_UNPARSABLE = "There was an error parsing the body"


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 400 and detail == _UNPARSABLE:
        if isinstance(exc.__cause__, RecursionError):
            detail = "the request body is not valid JSON: it is nested too deeply to parse"
        else:
            detail = "the request body could not be decoded: send UTF-8 encoded JSON"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this ``Content-Type`` as JSON (``application/json`` or ``*+json``)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", "invalid"), "type": error.get("type", "invalid")}
        for error in exc.errors()
    ]
    content_type = request.headers.get("content-type")
    if not _is_json(content_type):  # the body was not read as JSON: the whole body fails, say why
        wrong = "the request's Content-Type is not JSON" if content_type else "the request has no Content-Type"
        for error in errors:
            if error["loc"] == ["body"]:
                error["msg"] = f"{wrong}: send the body as JSON with 'Content-Type: application/json'"
                error["type"] = "content_type"
    return JSONResponse({"detail": errors}, status_code=422)


def _not_ready(request: Request, exc: Exception) -> JSONResponse:
    # The message is the load error's category (api.runtime.unready_reason); the error was logged once, at load.
    return JSONResponse({"detail": f"service not ready: {exc}"}, status_code=503, headers={"Retry-After": "10"})


def _from_redis(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:
        return False
    return isinstance(exc, redis.RedisError) or isinstance(exc.__cause__, redis.RedisError)


def _state_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The error names the database's host (and the driver's words); a caller gets the category and the request id
    # to find it in the log, which gets the error once.
    what = "the rate-limit store (Redis)" if _from_redis(exc) else "the state database"
    request_id = getattr(request.state, "request_id", "-")
    log.error("request %s %s: %s is unavailable: %s: %s", request_id, request.url.path, what, type(exc).__name__,
              str(exc).strip())  # fmt: skip
    detail = f"{what} is unavailable; {SEE_LOG} (request {request_id})"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def _storage_fault(request: Request, exc: Exception) -> JSONResponse:
    # A data home on a full disk or a read-only mount: a 503 that says so (it was a 500 with a sqlite3 traceback).
    # Any other sqlite3 error is a bug, answered as one (a 500, by api.middleware).
    from graph.db import sqlite_storage_fault

    if not sqlite_storage_fault(exc):
        raise exc
    what = "the state database (the data home's SQLite files) cannot be written (a full disk or a read-only mount)"
    request_id = getattr(request.state, "request_id", "-")
    log.error("request %s %s: %s %s: %s", request_id, request.url.path, what, type(exc).__name__, str(exc).strip())
    detail = f"{what}; {SEE_LOG} (request {request_id})"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app`` (500s are answered by :mod:`api.middleware`)."""
    from graph.db import unavailable_errors

    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotReady, _not_ready)
    for error in unavailable_errors():  # PostgreSQL or Redis down: 503 with the reason's category, not a 500
        app.add_exception_handler(error, _state_unavailable)
    app.add_exception_handler(sqlite3.OperationalError, _storage_fault)


def validation_failure(loc: list[str | int], message: str, kind: str = "value_error") -> HTTPException:
    """A 422 in the same shape as pydantic's, for checks that depend on the runtime config."""
    from fastapi import HTTPException as DetailedHTTPException  # its detail may be a list

    return DetailedHTTPException(422, [{"loc": loc, "msg": message, "type": kind}])
