"""Typed training configuration: one dataclass, every field with its help text, validated in one place.

Presets (``finetune/presets/<name>.yaml``) mirror the fields; ``--config FILE`` overrides any of them, and the
CLI's ``--base`` overrides ``base_model``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from retrieval.bundled import bundled_data

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
BUNDLED_DATA = bundled_data()  # data/ of the checkout, or the copy the wheel ships


class TrainError(ValueError):
    """Bad training input (preset, config file, data folder, output folder): the message names the input."""


@dataclass
class TrainConfig:
    """Everything one ``supportbot train`` run needs besides the data and output folders."""

    preset: str = field(default="tiny", metadata={"help": "name of the preset these values came from"})
    build_base: bool = field(
        default=False, metadata={"help": "build and pre-train a small Llama here (tiny) instead of loading base_model"}
    )
    base_model: str | None = field(
        default=None, metadata={"help": "local checkpoint folder of the base model (CLI: --base PATH)"}
    )
    # --- tiny from-scratch base (used when base_model is null) ---
    vocab_size: int = field(default=4096, metadata={"help": "byte-level BPE vocabulary trained on the corpus"})
    hidden_size: int = field(default=256, metadata={"help": "tiny Llama hidden size"})
    intermediate_size: int = field(default=688, metadata={"help": "tiny Llama MLP width"})
    num_layers: int = field(default=4, metadata={"help": "tiny Llama decoder layers"})
    num_heads: int = field(default=4, metadata={"help": "tiny Llama attention heads"})
    num_kv_heads: int = field(default=4, metadata={"help": "tiny Llama key/value heads (grouped-query attention)"})
    pretrain_kb: str | None = field(
        default=str(BUNDLED_DATA / "kb"), metadata={"help": "knowledge-base folder (.jsonl/.md) the tiny base reads"}
    )
    pretrain_epochs: float = field(default=3.0, metadata={"help": "epochs over KB + train conversations"})
    pretrain_turns: str = field(
        default="all",
        metadata={
            "help": "which conversation turns the tiny base reads besides the KB: all, or user (customer turns "
            "only, so how the agent answers is left for the LoRA step to learn)"
        },
    )
    pretrain_lr: float = field(default=2e-3, metadata={"help": "peak learning rate of pre-training"})
    pretrain_block_size: int = field(default=256, metadata={"help": "tokens per packed pre-training block"})
    pretrain_max_steps: int = field(
        default=-1, metadata={"help": "stop pre-training after this many steps (-1 = epochs)"}
    )
    # --- LoRA / QLoRA ---
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA branch"})
    lora_targets: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"help": "module names that get LoRA adapters"},
    )
    quantization: str = field(
        default="auto", metadata={"help": "4bit = QLoRA (CUDA + bitsandbytes), none, or auto (4bit when CUDA)"}
    )
    bf16: bool = field(default=True, metadata={"help": "bf16 mixed precision when the GPU supports it (never on CPU)"})
    cpu_bf16: bool = field(
        default=False,
        metadata={"help": "bf16 autocast when training on a CPU (needs avx512_bf16 or AMX; roughly doubles speed)"},
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for activation memory"})
    # --- supervised fine-tuning ---
    epochs: float = field(default=3.0, metadata={"help": "LoRA epochs over the chat examples"})
    max_steps: int = field(default=-1, metadata={"help": "stop LoRA tuning after this many steps (-1 = epochs)"})
    learning_rate: float = field(default=2e-3, metadata={"help": "peak LoRA learning rate"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "fraction of steps with linear warm-up"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=16, metadata={"help": "examples per device step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    max_seq_len: int = field(default=384, metadata={"help": "longest tokenized conversation; longer ones are cut"})
    max_train_conversations: int = field(
        default=0, metadata={"help": "deterministic sample of this many training examples (0 = all)"}
    )
    raft_share: float = field(
        default=0.0,
        metadata={
            "help": "share of the sampled training examples taken from raft_train.jsonl, the rest from the chat "
            "conversations (0 = both files as they come)"
        },
    )
    min_lang_share: float = field(
        default=0.0,
        metadata={
            "help": "repeat training conversations of a language (es/en) holding less than this share of the "
            "training set until it holds about this share (0 = off); validation is never resampled"
        },
    )
    max_eval_conversations: int = field(default=400, metadata={"help": "validation examples evaluated (0 = all)"})
    use_raft: bool = field(default=True, metadata={"help": "also train on raft_train.jsonl / raft_val.jsonl"})
    normalize_system_prompt: bool = field(
        default=True,
        metadata={"help": "replace non-RAG system prompts by finetune.prompts' (the one inference uses)"},
    )
    early_stopping_patience: int = field(default=2, metadata={"help": "epochs without eval-loss gain before stop"})
    seed: int = field(default=13, metadata={"help": "random seed for sampling, init and shuffling"})
    # --- run bookkeeping ---
    mlflow: bool = field(default=True, metadata={"help": "track params and metrics in <home>/mlflow.db (MLflow)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    resume: bool = field(default=True, metadata={"help": "resume from OUT's unfinished run folder when present"})

    def __post_init__(self) -> None:
        problems = []
        if self.quantization not in ("auto", "4bit", "none"):
            problems.append(f"quantization must be auto, 4bit or none, got {self.quantization!r}")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "lora_r", "lora_alpha", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.hidden_size % self.num_heads or self.num_heads % max(self.num_kv_heads, 1):
            problems.append("hidden_size must divide by num_heads, and num_heads by num_kv_heads")
        if self.pretrain_turns not in ("all", "user"):
            problems.append(f"pretrain_turns must be all or user, got {self.pretrain_turns!r}")
        if not 0 <= self.min_lang_share < 0.5:
            problems.append("min_lang_share must be in [0, 0.5)")
        if not 0 <= self.raft_share <= 1:
            problems.append("raft_share must be in [0, 1]")
        if not 0 <= self.lora_dropout < 1:
            problems.append("lora_dropout must be in [0, 1)")
        if not self.lora_targets:
            problems.append("lora_targets must name at least one module")
        if self.max_seq_len < 32 or self.pretrain_block_size < 16:
            problems.append("max_seq_len >= 32 and pretrain_block_size >= 16 are required")
        for name in ("max_steps", "pretrain_max_steps"):
            if getattr(self, name) == 0 or getattr(self, name) < -1:  # transformers reads any of them as "no limit"
                problems.append(f"{name} must be >= 1, or -1 to train for the epochs (--max-steps sets max_steps)")
        if self.epochs <= 0 and self.max_steps <= 0:
            problems.append("epochs or max_steps must be positive")
        if not self.build_base and not self.base_model:
            problems.append("needs a local base checkpoint: pass --base PATH (or set base_model)")
        if self.build_base and self.base_model:  # it was ignored: the run pre-trained a new base for minutes
            problems.append(
                f"builds its own base (build_base), so --base {self.base_model} would be ignored: leave --base out, "
                "or use a preset that tunes a local base (gemma-270m, llama-*)"
            )
        if problems:
            raise TrainError(f"preset {self.preset!r}: " + "; ".join(problems))

    @property
    def from_scratch(self) -> bool:
        """True when the base model is built and pre-trained here (the tiny preset)."""
        return self.build_base

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able copy of every field."""
        return asdict(self)


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TrainError(
            f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 YAML"
        ) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise TrainError(f"{what} {path}: cannot read YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise TrainError(f"{what} {path}: expected a mapping of TrainConfig fields, got {type(loaded).__name__}")
    return loaded


def load_config(preset: str, config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Build the config of a run: preset YAML, then ``config_file``, then ``overrides`` (None values ignored).

    Raises:
        TrainError: unknown preset, unreadable config file, unknown field or invalid value.
    """
    path = PRESETS_DIR / f"{preset}.yaml"
    if not path.is_file():
        raise TrainError(f"unknown preset {preset!r}; choose one of: {', '.join(preset_names())}")
    values = _read_yaml(path, "preset")
    if config_file is not None:
        if not config_file.is_file():
            raise TrainError(f"--config {config_file}: no such file")
        values.update(_read_yaml(config_file, "--config"))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values["preset"] = preset
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        source = f"--config {config_file}" if config_file else f"preset {path}"
        raise TrainError(f"{source}: unknown field(s) {', '.join(unknown)}")
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise TrainError(f"preset {preset!r}: {exc}") from exc
