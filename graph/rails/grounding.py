"""Output rails: groundedness (every answer sentence supported by a retrieved passage), the customer's language,
and no personal data the customer did not give in this session.

:func:`check_grounded` is the one groundedness check of the project: the output rail (graph.nodes.guard_output,
sentence by sentence while streaming) and the evaluation KPI (evaluation.metrics.groundedness) both call it, with
the one threshold :data:`SUPPORT_THRESHOLD`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from finetune.pii import pii_hash
from retrieval.text import PLACEHOLDER, STOPWORDS, content_stems, overlap, sentences, words

# Share of a sentence's content stems (figures count double) that one passage must contain, with the same polarity.
# 0.5 keeps every verbatim passage sentence and paraphrases that reuse half of the passage's wording, and rejects
# sentences that share only the topic word or two (see docs/graph.md, "Output rails").
SUPPORT_THRESHOLD = 0.5
_MARK = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")  # a citation mark, its numbers as group 1
_CITATION = re.compile(r"\s*" + _MARK.pattern)  # with the space before it, as it is removed from a sentence
# Negation cues (accent-folded, lower-case). A cue negates the content words that follow it in its clause.
NEGATIONS = {
    "en": frozenset("not no never without cannot none nothing nobody neither nor dont doesnt isnt arent wont".split()),  # noqa: SIM905
    "es": frozenset("no nunca sin ni jamas tampoco ningun ninguno ninguna nada nadie".split()),  # noqa: SIM905
}
# Words that end a negation's scope: a new clause starts ("not free but cheap", "no cuesta nada, pero..."), or a
# subordinate one ("can't be returned if the seal was removed" negates "returned", not "seal").
_SCOPE_END = frozenset(
    "but and or however although while whereas if when because unless until since "  # noqa: SIM905
    "pero y e o u sino aunque mientras si cuando porque hasta salvo que".split()
)
_SCOPE_WORDS = 3  # a cue negates at most this many content words
# A line break and a table cell's bar end a clause too: a heading or a cell ("Sin cita previa", "Screen | No")
# negates nothing on the next line (until 2026-12-07 "Sin h1" above "Vendemos fundas..." negated "vendemos fundas").
_CLAUSE_PUNCT = re.compile(r"[,;:.!?()\[\]\"“”«»—–|\n]")


def _is_cue(word: str, lang: str) -> bool:
    return word in NEGATIONS["es" if lang == "es" else "en"] or word.endswith(("n't", "n’t"))


def polar_stems(text: str, lang: str) -> list[str]:
    """Content stems of ``text`` (as :func:`retrieval.text.content_stems`), a negated one prefixed with ``~``.

    "Returns are not free" gives ``["return", "~free"]``; "las devoluciones no son gratis" gives
    ``["devolu", "~grat"]``. Figures are never negated (they must match the passage either way). The cues are
    the language's negation words (en: not, no, never, without, cannot, words ending in n't...; es: no, nunca,
    sin, ni, jamás, tampoco, ningún, nada, nadie); a cue's scope ends at punctuation, at a conjunction, or after
    three content words.
    """
    out: list[str] = []
    for clause in _CLAUSE_PUNCT.split(text):
        negated = 0
        kept, flags = [], []
        for word in words(clause):
            if _is_cue(word, lang):
                negated = _SCOPE_WORDS
                continue
            if word in _SCOPE_END:
                negated = 0
                continue
            if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
                continue
            kept.append(word)
            flags.append(negated > 0 and not word.isdigit())
            negated = max(negated - 1, 0)
        stems = content_stems(" ".join(kept), lang) if kept else []
        if len(stems) != len(kept):  # cannot happen for words() output; stay safe rather than misalign
            out += stems
            continue
        out += [f"~{s}" if neg else s for s, neg in zip(stems, flags, strict=True)]
    return out


@dataclass(frozen=True)
class Passages:
    """The polar stems of each passage (title + text), computed once per answer and reused for every sentence."""

    stems: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, passages: Sequence[Mapping[str, Any] | str], lang: str) -> Passages:
        """From passage dicts (``title``, ``text``) or plain passage texts."""
        texts = [p if isinstance(p, str) else f"{p.get('title') or ''}.\n{p.get('text') or ''}" for p in passages]
        # one entry per passage, in order (a blank one supports nothing), so entry n - 1 is the passage cited [n]
        return cls(tuple(_passage_stems(t, lang) if t.strip(" .\n") else frozenset() for t in texts))


@lru_cache(maxsize=4096)
def _passage_stems(text: str, lang: str) -> frozenset[str]:
    """A passage's polar stems, kept: the same knowledge-base chunks come back turn after turn."""
    return frozenset(polar_stems(text, lang))


# A capitalised word inside a sentence (not its first word, nor the first after a colon, an opening mark or a
# list mark): a name, "Canada", "Bitcoin", "PayPal", "Correos", "UK".
_WORD = re.compile(r"[^\W\d_]+")
_OPENING = tuple(".!?¿¡:;\"'«“‘(\n-–—•*>")
NAME = "="  # prefix of a name's stem in a claim (besides the stem itself)
# Short names a passage may spell out: "the UK" is supported by "the United Kingdom" (stems of the long forms).
_SPELLED_OUT = {
    "uk": ("united kingdom", "reino unido", "great britain", "gran bretaña"),
    "usa": ("united states", "estados unidos"),
    "eeuu": ("united states", "estados unidos"),
    "eu": ("european union", "unión europea", "ue"),
    "ue": ("unión europea", "european union", "eu"),
}


@lru_cache(maxsize=64)
def _long_forms(name: str) -> tuple[frozenset[str], ...]:
    return tuple(
        frozenset(content_stems(" ".join(words(f)), lang)) for f in _SPELLED_OUT.get(name, ()) for lang in ("en", "es")
    )


def _names_in(passage: frozenset[str], name: str) -> bool:
    """Whether a passage uses a name (in either polarity, or spelled out)."""
    if name in passage or f"~{name}" in passage:
        return True
    return any(form and form <= passage for form in _long_forms(name))


def _names(text: str) -> list[str]:
    out = []
    for match in _WORD.finditer(text):
        before = text[max(0, match.start() - 16) : match.start()].rstrip()  # what ends before the word
        word = match.group(0)
        if word[0].isupper() and before and not before.endswith(_OPENING) and not before[-1].isdigit():
            out.append(word)
    return out


def claim_stems(sentence: str, lang: str) -> list[str]:
    """The polar stems a sentence claims (citation marks and PII placeholders removed), then the stem of each name
    it uses prefixed with :data:`NAME` ("Yes, we ship to Canada." gives ``["ship", "canad", "=canad"]``)."""
    text = PLACEHOLDER.sub("", _CITATION.sub("", sentence))
    names = content_stems(" ".join(words(" ".join(_names(text)))), lang)  # folded as polar_stems folds
    return polar_stems(text, lang) + [NAME + n for n in dict.fromkeys(names)]


def carries_claim(claim: Sequence[str]) -> bool:
    """Whether a sentence's :func:`claim_stems` make a claim to check: two content stems or more, or a name ("Sure!"
    and "Hello." do not; "Sí, en Canadá." does)."""
    return sum(not c.startswith(NAME) for c in claim) >= 2 or any(c.startswith(NAME) for c in claim)


def sentence_support(claim: Sequence[str], passage: frozenset[str]) -> float:
    """How well one passage supports a claim, in [0, 1]: the share of its stems the passage contains (figures
    count double), or 0 when the claim states a figure or uses a name the passage does not (in either polarity),
    or states with the opposite polarity something the passage says ("returns are not free" against "returns are
    free", and the reverse).

    Polarity is matched over the whole passage: a passage that says both "returns are free" and "exchanges are
    not free" supports either polarity of "free" (matching it per passage sentence was tried and wrongly failed
    4-6 % of correct reference sentences on the QA dev split, see benchmarks/grounding_threshold.py).
    """
    if not {c for c in claim if c.isdigit()} <= passage:
        return 0.0
    names = [c[len(NAME) :] for c in claim if c.startswith(NAME)]
    if not all(_names_in(passage, n) for n in names):
        return 0.0
    claim = [c for c in claim if not c.startswith(NAME)]
    for stem in claim:
        opposite = stem[1:] if stem.startswith("~") else f"~{stem}"
        if stem not in passage and opposite in passage:
            return 0.0
    return overlap(list(claim), set(passage))


def check_grounded(
    answer: str,
    passages: Sequence[Mapping[str, Any] | str] | Passages,
    lang: str,
    threshold: float = SUPPORT_THRESHOLD,
) -> dict[str, Any]:
    """Whether every sentence of ``answer`` is supported by one passage (the project's one groundedness check).

    A sentence is supported when :func:`sentence_support` against some passage reaches ``threshold``. It is a
    lexical entailment proxy with two hard rules: a figure the passage does not state, or a negation the passage
    does not share, makes the sentence unsupported by that passage (an invented fee or a flipped "not" are the
    commonest and costliest unsupported claims), and so does a name the passage never uses ("Yes, we ship to
    Canada."). Sentences with fewer than two content stems and no name ("Sure!", "Hello.") carry no claim and are
    skipped.

    Returns:
        ``{"grounded", "support" (lowest sentence score; 1.0 without claims), "unsupported" (first 3
        sentences), "claims" (sentences checked), "supported" (of them, how many passed)}``.
    """
    support = passages if isinstance(passages, Passages) else Passages.of(passages, lang)
    scores, unsupported = [], []
    for sentence in sentences(_CITATION.sub("", answer)):
        claim = claim_stems(sentence, lang)
        if not carries_claim(claim):
            continue
        best = max((sentence_support(claim, s) for s in support.stems), default=0.0)
        scores.append(best)
        if best < threshold:
            unsupported.append(sentence[:160])
    return {"grounded": not unsupported, "support": round(min(scores), 3) if scores else 1.0,
            "unsupported": unsupported[:3], "claims": len(scores),
            "supported": len(scores) - len(unsupported)}  # fmt: skip


def attribute_citations(text: str, passages: Passages, lang: str, threshold: float = SUPPORT_THRESHOLD) -> str:
    """``text`` with each citation mark pointing at a passage that supports what it cites.

    A mark cites the text before it, back to the previous mark (or the start of ``text``: call it on one sentence
    chunk at a time, as the output rail releases them). Numbers whose passage supports that span
    (:func:`sentence_support` at ``threshold``) are kept; when none does, the mark is rewritten to the passage that
    supports the span best, if one reaches ``threshold``; otherwise it is left as it is (the groundedness rail
    judges the sentence). A small model often cites the wrong one of several passages ("... [1]" for what passage
    2 says): the customer who follows the citation must find the claim there.
    """
    out, start = [], 0
    for mark in _MARK.finditer(text):
        claim = claim_stems(text[start : mark.start()], lang)
        cited = [int(n) for n in re.findall(r"\d+", mark.group(1))]
        fixed = mark.group(0)
        if carries_claim(claim) and passages.stems:
            scores = [sentence_support(claim, stems) for stems in passages.stems]
            keep = [n for n in cited if 0 < n <= len(scores) and scores[n - 1] >= threshold]
            best = max(range(len(scores)), key=scores.__getitem__)
            if keep and keep != cited:
                fixed = f"[{', '.join(map(str, keep))}]"
            elif not keep and scores[best] >= threshold:
                fixed = f"[{best + 1}]"
        out.append(text[start : mark.start()] + fixed)
        start = mark.end()
    return "".join(out) + text[start:]


def check_language(answer: str, lang: str) -> dict[str, Any]:
    """Whether ``answer`` is in ``lang`` (short or language-neutral answers pass)."""
    from retrieval.language import detect_language

    text = PLACEHOLDER.sub("", _CITATION.sub("", answer))
    if len(re.findall(r"[^\W\d_]{2,}", text)) < 4:
        return {"ok": True, "detected": None}
    detected = detect_language(text)
    return {"ok": detected in (None, lang), "detected": detected}


def check_pii(
    answer: str, lang: str, redactor: Any, given: Iterable[str], published: str = "", secret: bytes = b""
) -> dict[str, Any]:
    """PII in ``answer`` that the customer did not give in this session.

    Args:
        answer: the generated answer.
        lang: its language.
        redactor: a :class:`finetune.pii.Redactor`.
        given: :func:`pii_hash` of each value the customer gave in this session.
        published: text whose values are public, not a customer's (the passages: a published phone number).
        secret: the session's key of ``given`` (:meth:`graph.deps.Deps.pii_secret`).
    """
    allowed = set(given)
    leaked = [
        entity_type
        for entity_type, start, end, _ in redactor.find(answer, lang if lang in ("es", "en") else "en")
        if pii_hash(entity_type, answer[start:end], secret) not in allowed and answer[start:end] not in published
    ]
    return {"ok": not leaked, "leaked_types": sorted(set(leaked))}
