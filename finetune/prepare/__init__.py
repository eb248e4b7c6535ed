"""Conversation data preparation for fine-tuning: ``supportbot data prepare`` (see docs/finetune-data.md)."""

from finetune.prepare.config import PrepareConfig, PrepareError
from finetune.prepare.pipeline import prepare

__all__ = ["PrepareConfig", "PrepareError", "prepare"]
