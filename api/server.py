"""The HTTP server `supportbot serve` runs: uvicorn's, telling the app when it is asked to stop.

uvicorn stops taking connections on SIGTERM or SIGINT and then waits for the open ones to finish. A conversation's
event stream (``GET /v1/sessions/{id}/events``) finishes only when its ``wait`` runs out (300 s by default, up to an
hour), so one open customer page held a rolling restart until the orchestrator killed the process. Here the runtime
hears of the stop first (:meth:`api.runtime.Runtime.begin_shutdown`): event streams end at their next poll (the
page's EventSource reconnects, to another replica, with ``Last-Event-ID``), ``/readyz`` answers 503, and requests in
flight, a streamed chat turn included, finish as before.
"""

from __future__ import annotations

from types import FrameType

import uvicorn


class Server(uvicorn.Server):
    """``uvicorn.Server`` for an app made by :func:`api.app.create_app`."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """A stop signal: tell the app's runtime, then stop as uvicorn does."""
        runtime = getattr(getattr(self.config.app, "state", None), "runtime", None)
        if runtime is not None:
            runtime.begin_shutdown()
        super().handle_exit(sig, frame)


def serve(app: object, host: str, port: int, log_level: str, uvicorn_logging: bool = True) -> None:
    """Serve ``app`` until a stop signal, without uvicorn's access log (it prints query strings, customer text: the
    app writes its own, redacted one). ``uvicorn_logging`` False leaves uvicorn's own lines (started, stopping) to
    the process's logging, as JSON logs need: its default handler writes them as text."""
    log_config = uvicorn.config.LOGGING_CONFIG if uvicorn_logging else None
    Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level=log_level,  # type: ignore[arg-type]
                          log_config=log_config)).run()  # fmt: skip
