"""The FastAPI application: ``create_app(config)`` wires the routers, middleware and error handlers.

The graph, the index and the databases load once per process in the lifespan and live on ``app.state.runtime``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api.config import ApiConfig
from api.errors import install_error_handlers
from api.middleware import ServiceMiddleware
from api.routers import auth, chat, escalations, feedback, handoff, health, kb, sessions
from api.runtime import Runtime

DESCRIPTION = """\
Bilingual (es/en) customer-support agent over a knowledge base.

Send an API key (`supportbot keys create --role customer|agent|admin`) as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. Customers chat, read their own sessions, rate answers and ask for a person; agents also search
and read the knowledge base, the escalation queue and the knowledge gaps, and take over
escalated conversations (claim, reply, release, resolve); admins also add and delete articles. Console users sign in
with a name and password at `/v1/auth/signin` for a key of their role.
Errors are `{"detail": ...}`; 422 lists the invalid fields.
"""


def create_app(config: ApiConfig, *, service: Any | None = None) -> FastAPI:
    """Build the API app.

    Args:
        config: the API's settings (the CLI builds it from ``supportbot.settings``).
        service: an already loaded ``graph.service.ChatService`` to share (built from ``config.graph_config()``);
            by default the app loads its own on startup.

    Returns:
        The app; the heavy loading happens when it starts (lifespan), once per process.
    """
    runtime = Runtime(config, service=service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(runtime.load)
        yield  # the SQLite connections close with the process (several lifespans may share one runtime)
        runtime.stop_following()

    from api import __version__

    app = FastAPI(
        title="supportbot API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    for module in (chat, sessions, feedback, handoff, kb, escalations, auth, health):
        app.include_router(module.router)
    install_error_handlers(app)
    # Added first, so it sits inside CORS: its 413 and 500 answers still carry the CORS headers.
    app.add_middleware(ServiceMiddleware, metrics=runtime.metrics, max_body_bytes=config.max_body_bytes)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            # Last-Event-ID: a page that follows /v1/sessions/{id}/events with fetch resumes with it (not safelisted)
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID", "Idempotency-Key"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        )
    return app
