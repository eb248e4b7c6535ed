"""The Trainer the training recipe uses, with the run's shared settings, and its bf16 choice.

Kept apart from :mod:`finetune.train` (the flat setup -> train -> save recipe) so that file reads as the recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from finetune.base_model import Log
from finetune.chat_format import collate
from finetune.config import TrainConfig, TrainError


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX): without it bf16 autocast is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def make_trainer_factory(config: TrainConfig, cuda: bool, tracker: Any, log: Log) -> Callable[..., Any]:
    """A function building a ``transformers.Trainer`` with this run's shared settings."""
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    from retrieval.signals import raise_if_interrupted

    class Track(TrainerCallback):
        """Log losses and per-epoch eval perplexity to MLflow and the run's history; stop at the next step after a
        SIGINT/SIGTERM whose KeyboardInterrupt something swallowed (``retrieval.signals.raise_if_interrupted``)."""

        def __init__(self, phase: str) -> None:
            self.phase = phase

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            raise_if_interrupted()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
            if "eval_loss" in values:
                values["eval_perplexity"] = math.exp(min(values["eval_loss"], 50.0))
                log(f"[{self.phase}] epoch {values.get('epoch', 0):.2f}: eval loss {values['eval_loss']:.4f}, "
                    f"perplexity {values['eval_perplexity']:.2f}")  # fmt: skip
            if tracker is not None:
                tracker.log_metrics({f"{self.phase}_{k}": v for k, v in values.items()}, state.global_step)

    def factory(
        model: Any,
        tokenizer: Any,
        train_set: Sequence[dict],
        eval_set: Sequence[dict] | None,
        output_dir: Path,
        *,
        epochs: float,
        max_steps: int,
        learning_rate: float,
        phase: str,
    ) -> Any:
        use_eval = eval_set is not None
        args = TrainingArguments(
            output_dir=str(output_dir),
            num_train_epochs=epochs,
            max_steps=max_steps,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.batch_size,
            gradient_accumulation_steps=config.grad_accum,
            learning_rate=learning_rate,
            warmup_steps=config.warmup_ratio,
            lr_scheduler_type="cosine",
            weight_decay=config.weight_decay,
            eval_strategy="epoch" if use_eval else "no",
            save_strategy="epoch",
            save_total_limit=2,
            load_best_model_at_end=use_eval,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            logging_steps=10,
            report_to="none",
            bf16=use_bf16(config, cuda),
            gradient_checkpointing=config.gradient_checkpointing,
            disable_tqdm=not config.progress,
            seed=config.seed,
            use_cpu=not cuda,
            train_sampling_strategy="group_by_length" if use_eval else "random",
            remove_unused_columns=False,
            dataloader_num_workers=0,
        )
        callbacks: list[Any] = [Track(phase)]
        if use_eval and config.early_stopping_patience > 0:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
        return Trainer(
            model=model,
            args=args,
            train_dataset=list(train_set),
            eval_dataset=list(eval_set) if eval_set is not None else None,
            data_collator=lambda batch: collate(batch, tokenizer.pad_token_id),
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    return factory


def gpu_bf16_supported() -> bool:
    """Whether a CUDA GPU is present and computes bf16."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def use_bf16(config: TrainConfig, cuda: bool) -> bool:
    """bf16 for this run: on a capable GPU when ``bf16``, on CPU (autocast) when ``cpu_bf16``.

    Raises:
        TrainError: ``cpu_bf16`` on a CPU without native bf16, where it would be slower than fp32.
    """
    if cuda:
        return config.bf16 and gpu_bf16_supported()
    if config.cpu_bf16 and not cpu_bf16_supported():
        raise TrainError(
            f"preset {config.preset!r} trains with bf16 autocast, but this CPU has neither avx512_bf16 nor AMX "
            "(bf16 would be slower than fp32): pass --config FILE with `cpu_bf16: false`"
        )
    return config.cpu_bf16
