"""Compile lexicon patterns once: accent-folded, case-insensitive, on word boundaries where they start with a word."""

from __future__ import annotations

import re
from collections.abc import Iterable

from retrieval.language import strip_accents


def fold(text: str) -> str:
    """Lower-case and remove accents, the form every lexicon is written in."""
    return strip_accents(text.lower().replace("’", "'"))


def compile_any(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` (written accent-free, lower-case)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def hits(pattern: re.Pattern[str], text: str) -> list[str]:
    """The matches of ``pattern`` in the folded ``text``."""
    return [m.group(0) for m in pattern.finditer(fold(text))]
