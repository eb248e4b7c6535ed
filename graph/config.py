"""Typed configuration of the agent graph: one place for every knob, each with its help text and validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

from finetune.prompts import company_problem
from graph.rails.grounding import SUPPORT_THRESHOLD

MODES = ("rag", "finetune", "hybrid")
GENERATORS = ("extractive", "hf", "openai")
# Logit bonus of the hf generator for every token of the passages shown, and for a token that continues a passage's
# phrase: off by default. (1, 1) with three passages raised `hybrid` chrF 0.278 -> 0.316 on dev questions the adapter
# had trained on, but only 0.294 -> 0.299 on the test split, with embedding similarity down (docs/finetune.md,
# "Copy bias and three passages").
COPY_BIAS = (0.0, 0.0)
# File names inside a data home: the API, the UI, `supportbot chat` and eval runs must agree on them to share state.
CHECKPOINT_FILE = "checkpoints.sqlite"
STORE_FILE = "support.sqlite"


class GraphConfigError(ValueError):
    """A graph configuration that cannot work (names the field and what to do)."""


# The personal-data types the chat leaves as written: the store's own order and tracking numbers.
KEEP_ENTITIES: tuple[str, ...] = ("ORDER", "TRACKING")


@dataclass(frozen=True)
class GraphConfig:
    """Settings of one :class:`graph.service.ChatService`."""

    index_dir: Path = field(metadata={"help": "index folder (faiss) or index name (elasticsearch)"})
    search_backend: str = field(default="faiss", metadata={"help": "faiss or elasticsearch"})
    es_url: str | None = field(default=None, metadata={"help": "Elasticsearch URL for the elasticsearch backend"})
    embedder: str | None = field(default=None, metadata={"help": "None = the embedder that built the index"})
    mode: Literal["rag", "finetune", "hybrid"] = field(default="rag", metadata={"help": "default answering mode"})
    generator: Literal["extractive", "hf", "openai"] = field(
        default="extractive",
        metadata={"help": "the language-model generator (finetune and hybrid modes; rag too with rag_generator='llm')"},
    )
    rag_generator: Literal["extractive", "llm"] = field(
        default="extractive",
        metadata={"help": "rag mode answers extractively, or 'llm': with the `generator` above reading the passages"},
    )
    model_dir: Path | None = field(default=None, metadata={"help": "fine-tuned model folder for the hf generator"})
    device: str | None = field(default=None, metadata={"help": "torch device of the hf generator (None = auto)"})
    precision: str = field(default="auto", metadata={"help": "hf generator precision (auto, fp32, bf16, int8...)"})
    openai_base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server, e.g. vLLM"})
    openai_model: str = field(default="supportbot", metadata={"help": "model name to request from that server"})
    openai_api_key: str | None = field(default=None, metadata={"help": "bearer token for that server, if any"})
    max_new_tokens: int = field(default=160, metadata={"help": "longest generated answer, in tokens"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy decoding; > 0 samples"})
    copy_bias: tuple[float, float] = field(
        default=COPY_BIAS,
        metadata={"help": "hf generator: logit bonus for the passages' tokens, and for a token continuing a passage's "
                          "phrase ((0, 0) = off)"},
    )  # fmt: skip
    checkpoint_db: Path = field(default=Path(".supportbot/checkpoints.sqlite"), metadata={"help": "memory db"})
    store_db: Path = field(default=Path(".supportbot/support.sqlite"), metadata={"help": "escalations/feedback db"})
    database_url: str | None = field(
        default=None, metadata={"help": "postgresql://... : memory and the support store in PostgreSQL, not SQLite"}
    )
    database_pool_size: int = field(default=10, metadata={"help": "most PostgreSQL connections this process opens"})
    keep_entities: tuple[str, ...] = field(
        default=KEEP_ENTITIES,
        metadata={"help": "personal-data types the chat leaves as written: the store's own order and tracking numbers, "
                          "which the agent who takes a conversation over needs (fine-tuning data still redacts them)"},
    )  # fmt: skip
    pii_key: str | None = field(
        default=None, repr=False, metadata={"help": "secret that keys the hashes of personal data saved with a session"}
    )
    cache_dir: Path = field(default=Path(".supportbot"), metadata={"help": "data home: embedder exports, PII models"})
    k: int = field(default=5, metadata={"help": "passages retrieved per query"})
    article_chunks: int = field(
        default=1,
        metadata={"help": "more chunks of the top article the extractive generator reads, after its best one "
                          "(0: none)"},
    )  # fmt: skip
    llm_passages: int | None = field(
        default=None, metadata={"help": "the top passages a language-model generator reads (None: all k)"}
    )
    scope_threshold: float | None = field(default=None, metadata={"help": "None = the threshold fitted with the rail"})
    scope_questions: Path | None = field(
        default=None,
        metadata={"help": "the deployment's own customer questions (.txt, one per line, or .jsonl with text[, lang]): "
                          "in-scope evidence and threshold calibration for the scope rail"},
    )  # fmt: skip
    relevance_threshold: float = field(
        default=0.35,
        metadata={"help": "weak retrieval below this: max(dense cosine, query stems found) of the top-3 passages"},
    )
    support_threshold: float = field(
        default=SUPPORT_THRESHOLD,
        metadata={"help": "share of an answer sentence's content words a passage must contain (output rail)"},
    )
    history_turns: int = field(default=6, metadata={"help": "earlier messages shown to an LLM generator"})
    company: str | None = field(
        default=None,
        metadata={"help": "the company an LLM generator's system prompt names (None: Nimbus Market, the demo store, "
                          "the name the shipped adapter was trained with)"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise GraphConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.generator not in GENERATORS:
            raise GraphConfigError(f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.rag_generator not in ("extractive", "llm"):
            raise GraphConfigError(f"rag_generator must be extractive or llm, got {self.rag_generator!r}")
        if self.article_chunks < 0:
            raise GraphConfigError(f"article_chunks must be at least 0, got {self.article_chunks}")
        if self.llm_passages is not None and self.llm_passages < 1:
            raise GraphConfigError(f"llm_passages must be at least 1, got {self.llm_passages}")
        if self.k < 1 or self.max_new_tokens < 1 or self.temperature < 0 or self.history_turns < 0:
            raise GraphConfigError("k >= 1, max_new_tokens >= 1, temperature >= 0 and history_turns >= 0 required")
        if len(self.copy_bias) != 2 or min(self.copy_bias) < 0:
            raise GraphConfigError(f"copy_bias must be two numbers >= 0, got {self.copy_bias!r}")
        if problem := company_problem(self.company):
            raise GraphConfigError(problem)
        if self.scope_threshold is not None and not 0 <= self.scope_threshold <= 1:
            raise GraphConfigError("scope_threshold must be in [0, 1]")
        if self.scope_questions is not None and not Path(self.scope_questions).is_file():
            raise GraphConfigError(f"scope_questions {self.scope_questions}: no such file")
        self.check_mode(self.mode)
        if self.generator == "hf" and self.model_dir is None:
            raise GraphConfigError("generator 'hf' needs a model folder: pass --model DIR (model_dir)")
        if self.generator == "openai" and not self.openai_base_url:
            raise GraphConfigError("generator 'openai' needs a server URL: set openai_base_url")

    @property
    def has_llm(self) -> bool:
        """Whether a language-model generator is configured (the finetune and hybrid modes need one)."""
        return self.generator != "extractive"

    def check_mode(self, mode: str) -> None:
        """Raise a clear error when ``mode`` cannot run with this configuration."""
        if mode not in MODES:
            raise GraphConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode in ("finetune", "hybrid") and not self.has_llm:
            raise GraphConfigError(
                f"mode {mode!r} needs a language-model generator, not 'extractive': use generator 'hf' with a "
                "fine-tuned model folder (--model DIR) or 'openai' with a server URL"
            )

    def generator_for(self, mode: str) -> str:
        """The generator a turn in ``mode`` uses."""
        if mode == "rag" and (self.rag_generator == "extractive" or not self.has_llm):
            return "extractive"
        return self.generator


class DeploymentSettings(Protocol):
    """What :func:`graph_config_for` reads from a deployment's settings (the CLI's, the API's or the UI's)."""

    @property
    def home(self) -> Path: ...
    @property
    def search_backend(self) -> str: ...
    @property
    def es_url(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def generator(self) -> str: ...
    @property
    def model_dir(self) -> Path | None: ...
    @property
    def openai_base_url(self) -> str | None: ...
    @property
    def openai_model(self) -> str: ...
    @property
    def company(self) -> str | None: ...
    @property
    def scope_questions(self) -> Path | None: ...


class StateFiles(TypedDict):
    """The graph's SQLite databases (see :func:`state_files`)."""

    checkpoint_db: Path
    store_db: Path


def state_files(folder: Path) -> StateFiles:
    """The graph's databases inside ``folder``: conversation memory and the support store."""
    return {"checkpoint_db": folder / CHECKPOINT_FILE, "store_db": folder / STORE_FILE}


def graph_config_for(settings: DeploymentSettings, index_dir: Path, **overrides: Any) -> GraphConfig:
    """The graph config of a deployment: its search backend, mode and generator; memory, the support store and the
    caches in its data home, so that the API, the UI and ``supportbot chat`` share conversations and escalations;
    PostgreSQL when the settings name a ``database_url``. ``overrides`` win.

    Raises:
        GraphConfigError: a configuration that cannot run.
    """
    home = Path(settings.home)
    values: dict[str, Any] = {
        "index_dir": index_dir,
        "search_backend": settings.search_backend,
        "es_url": settings.es_url,
        "mode": settings.mode,
        "generator": settings.generator,
        "model_dir": settings.model_dir,
        "openai_base_url": settings.openai_base_url,
        "openai_model": settings.openai_model,
        "company": settings.company,
        "scope_questions": settings.scope_questions,
        **state_files(home),
        "cache_dir": home,
    }
    for name in ("database_url", "database_pool_size"):  # the UI's settings have no database of their own
        if hasattr(settings, name):
            values[name] = getattr(settings, name)
    if (key := getattr(settings, "pii_key", None)) is not None:  # a str, or the CLI settings' pydantic SecretStr
        values["pii_key"] = key.get_secret_value() if hasattr(key, "get_secret_value") else str(key)
    return GraphConfig(**{**values, **overrides})
