"""The UI's one backend factory: the in-process graph or the REST API client (interface in ``ui.protocol``)."""

from __future__ import annotations

from ui.config import UIConfig
from ui.protocol import Backend


def make_backend(config: UIConfig) -> Backend:
    """The backend for ``config``: the API client when ``api_url`` is set, the in-process graph otherwise."""
    match config.backend:
        case "api":
            from ui.api_client import ApiBackend

            assert config.api_url is not None
            return ApiBackend(
                config.api_url,
                api_key=config.api_key,
                agent_api_key=config.agent_api_key,
                timeout_s=config.api_timeout_s,
            )
        case "inprocess":
            from ui.inprocess import InProcessBackend

            return InProcessBackend(config)
        case other:
            raise ValueError(f"unknown UI backend {other!r}")
