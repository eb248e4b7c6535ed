"""Output rails: groundedness (every answer sentence supported by a retrieved passage), the customer's language,
and no personal data the customer did not give in this session."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graph.text import content_stems, overlap, sentences

_CITATION = re.compile(r"\s*\[\d{1,2}\]")
_PLACEHOLDER = re.compile(r"<[A-Z]+_\d+>")


def check_grounded(
    answer: str, passages: Sequence[Mapping[str, Any]], lang: str, threshold: float = 0.5
) -> dict[str, Any]:
    """Each sentence's content stems must be found (share >= ``threshold``) in one passage (or its title).

    This is a lexical entailment proxy; a figure (any number) the passage does not state makes the sentence
    unsupported by that passage, because an invented figure is the commonest and costliest unsupported claim.
    Returns ``{"grounded", "support" (lowest sentence score), "unsupported"}``.
    """
    supports = [set(content_stems(f"{p.get('title', '')} {p.get('text', '')}", lang)) for p in passages]
    scores, unsupported = [], []
    for sentence in sentences(_CITATION.sub("", answer)):
        claim = content_stems(_PLACEHOLDER.sub("", sentence), lang)
        if len(claim) < 2:  # "Sure!", "Hello." carry no claim
            continue
        numbers = {c for c in claim if c.isdigit()}
        best = max((overlap(claim, s) for s in supports if numbers <= s), default=0.0)
        scores.append(best)
        if best < threshold:
            unsupported.append(sentence[:160])
    return {"grounded": not unsupported, "support": round(min(scores), 3) if scores else 1.0,
            "unsupported": unsupported[:3]}  # fmt: skip


def check_language(answer: str, lang: str) -> dict[str, Any]:
    """Whether ``answer`` is in ``lang`` (short or language-neutral answers pass)."""
    from retrieval.language import detect_language

    text = _PLACEHOLDER.sub("", _CITATION.sub("", answer))
    if len(re.findall(r"[^\W\d_]{2,}", text)) < 4:
        return {"ok": True, "detected": None}
    detected = detect_language(text)
    return {"ok": detected in (None, lang), "detected": detected}


def pii_hash(entity_type: str, value: str) -> str:
    """A one-way key of a PII value (its canonical form), so the state never stores the value itself."""
    from finetune.pii import canonical

    return hashlib.sha256(f"{entity_type}|{canonical(entity_type, value)}".encode()).hexdigest()[:24]


def check_pii(answer: str, lang: str, redactor: Any, given: Iterable[str], published: str = "") -> dict[str, Any]:
    """PII in ``answer`` that the customer did not give in this session.

    Args:
        answer: the generated answer.
        lang: its language.
        redactor: a :class:`finetune.pii.Redactor`.
        given: :func:`pii_hash` of each value the customer gave in this session.
        published: text whose values are public, not a customer's (the passages: a published phone number).
    """
    allowed = set(given)
    leaked = [
        entity_type
        for entity_type, start, end, _ in redactor.find(answer, lang if lang in ("es", "en") else "en")
        if pii_hash(entity_type, answer[start:end]) not in allowed and answer[start:end] not in published
    ]
    return {"ok": not leaked, "leaked_types": sorted(set(leaked))}
