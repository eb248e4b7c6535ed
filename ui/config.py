"""Typed configuration of the Streamlit front end, read from ``SUPPORTBOT_*`` environment variables.

The ``supportbot ui`` command resolves the process settings (environment and ``.env``) and passes them to the
Streamlit process as environment variables, so this package never imports ``supportbot``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graph.config import STORE_FILE

PREFIX = "SUPPORTBOT_"
BACKENDS = ("inprocess", "api")


@dataclass(frozen=True)
class UIConfig:
    """Where the UI gets its answers from, and where it finds the artifacts it shows."""

    home: Path = field(default=Path(".supportbot"), metadata={"help": "data home (index, databases, runs)"})
    api_url: str | None = field(default=None, metadata={"help": "talk to this API; None runs the graph in-process"})
    api_key: str | None = field(default=None, metadata={"help": "API key sent to the API (customer routes)"})
    agent_api_key: str | None = field(
        default=None, metadata={"help": "API key for the agent console (agent or admin role); defaults to api_key"}
    )
    api_timeout_s: float = field(default=60.0, metadata={"help": "seconds to wait for one API answer"})
    index_dir: Path | None = field(default=None, metadata={"help": "knowledge-base index; default <home>/index"})
    search_backend: str = field(default="faiss", metadata={"help": "faiss or elasticsearch"})
    es_url: str | None = field(default=None, metadata={"help": "Elasticsearch URL (search_backend=elasticsearch)"})
    mode: str = field(default="rag", metadata={"help": "default answering mode: rag, finetune or hybrid"})
    generator: str = field(default="extractive", metadata={"help": "answer generator: extractive, hf or openai"})
    model_dir: Path | None = field(default=None, metadata={"help": "fine-tuned model folder (hf generator)"})
    openai_base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server URL"})
    openai_model: str = field(default="supportbot", metadata={"help": "model name on the OpenAI-compatible server"})
    company: str | None = field(default=None, metadata={"help": "company the LLM prompt and chat page name"})
    scope_questions: Path | None = field(default=None, metadata={"help": "own customer questions for the scope rail"})
    pii_key: str | None = field(default=None, repr=False, metadata={"help": "secret keying personal-data hashes"})
    max_message_chars: int = field(
        default=40_000, metadata={"help": "longest agent reply the in-process console sends (the API's own limit)"}
    )
    eval_dir: Path | None = field(
        default=None, metadata={"help": "an `eval compare` output folder, or a folder of them; default <home>/runs"}
    )

    def __post_init__(self) -> None:
        if self.search_backend not in ("faiss", "elasticsearch"):
            raise ValueError(f"search_backend must be faiss or elasticsearch, got {self.search_backend!r}")
        if self.mode not in ("rag", "finetune", "hybrid"):
            raise ValueError(f"mode must be rag, finetune or hybrid, got {self.mode!r}")
        if self.api_url is not None and not self.api_url.startswith(("http://", "https://")):
            raise ValueError(f"SUPPORTBOT_API_URL must start with http:// or https://, got {self.api_url!r}")
        if self.api_timeout_s <= 0:
            raise ValueError("api_timeout_s must be positive")
        if self.max_message_chars < 1:
            raise ValueError("max_message_chars must be >= 1")

    @property
    def backend(self) -> str:
        """``api`` when an API URL is configured, else ``inprocess``."""
        return "api" if self.api_url else "inprocess"

    @property
    def resolved_index_dir(self) -> Path:
        """The index folder, defaulting to ``<home>/index`` (the same default as the service)."""
        return self.index_dir if self.index_dir is not None else self.home / "index"

    @property
    def store_db(self) -> Path:
        """SQLite file of escalations, feedback and knowledge gaps (shared with the API on the same data home)."""
        return self.home / STORE_FILE

    @property
    def runs_dir(self) -> Path:
        """Where evaluation runs are looked for when ``eval_dir`` is not set."""
        return self.eval_dir if self.eval_dir is not None else self.home / "runs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UIConfig:
        """Build the config from ``SUPPORTBOT_*`` variables (unset or empty ones keep their defaults).

        Raises:
            ValueError: a variable holds an invalid value; the message names it.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, kind in _FIELDS.items():
            raw = env.get(PREFIX + name.upper(), "").strip()
            if not raw:
                continue
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{PREFIX}{name.upper()}={raw!r} is not valid: {exc}") from exc
        if "api_url" in values:
            values["api_url"] = values["api_url"].rstrip("/")
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The inverse of :meth:`from_env`: the variables that rebuild this config in another process."""
        return {PREFIX + k.upper(): str(v) for k, v in asdict(self).items() if v is not None}

    def cache_key(self) -> str:
        """A stable string identifying this config (Streamlit caches one backend per key)."""
        return json.dumps({k: str(v) for k, v in asdict(self).items()}, sort_keys=True)


_FIELDS: dict[str, Any] = {
    "home": Path,
    "api_url": str,
    "api_key": str,
    "agent_api_key": str,
    "api_timeout_s": float,
    "index_dir": Path,
    "search_backend": str,
    "es_url": str,
    "mode": str,
    "generator": str,
    "model_dir": Path,
    "openai_base_url": str,
    "openai_model": str,
    "company": str,
    "scope_questions": Path,
    "pii_key": str,
    "max_message_chars": int,
    "eval_dir": Path,
}
