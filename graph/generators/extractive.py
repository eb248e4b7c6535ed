"""The extractive generator: no language model. It picks the passage sentences that best cover the question
(in the customer's language), keeps them in the passage's order, and cites each passage as ``[n]``.

A sentence is scored on the question's content words it covers, not counting the titles of the articles it points
to ("... (see Nimbus Points loyalty programme)"): a pointer is not an answer. A picked sentence that cannot stand
alone brings what completes it: a list's lead-in ("These are the times for standard shipping:") its items, a
question ("When does the clock start?") the sentence that answers it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graph.generators.base import Generation, GenerationRequest
from retrieval.text import content_stems, sentence_items

MAX_SENTENCES = 3
MAX_ITEMS = 8  # list items a picked lead-in brings with it
RANK_BONUS = (0.35, 0.15, 0.05)
# A cross-reference to another article: "(see Gift options)", "; see Customs and import taxes.", "(consulta «Tarjetas
# regalo»)". Its words are the other article's title, not this sentence's content.
_REFERENCE = re.compile(
    r"\((?i:see|read|consulta|ver|lee)\b[^)]*\)|[;,:]?\s*\b(?i:see|consulta)\s+[«\"“A-ZÁÉÍÓÚÑ][^;.]*"
)

Candidate = tuple[int, int, str, set[str], bool]  # passage number, position, sentence, stems, is a list item


def _candidates(passages: Sequence[Mapping[str, Any]], lang: str) -> list[Candidate]:
    """The sentences of the passages in ``lang`` (all of them when none is)."""
    chosen = [(i, p) for i, p in enumerate(passages, start=1) if p.get("lang") == lang] or list(
        enumerate(passages, start=1)
    )
    out = []
    for number, passage in chosen:
        for position, (sentence, item) in enumerate(sentence_items(str(passage.get("text") or ""))):
            out.append((number, position, sentence, set(content_stems(_REFERENCE.sub(" ", sentence), lang)), item))
    return out


def _completion(picked: Candidate, candidates: list[Candidate]) -> list[Candidate]:
    """What a picked sentence needs to stand alone: a lead-in's list items, a list item's lead-in, a question's
    answer."""
    number, position, sentence, _, item = picked
    mine = sorted((c for c in candidates if c[0] == number), key=lambda c: c[1])
    after = [c for c in mine if c[1] > position]
    text = sentence.rstrip()
    if item:
        before = [c for c in mine if c[1] < position and not c[4]]
        if before and before[-1][2].rstrip().endswith(":"):
            return before[-1:]
        return []
    if text.endswith(":"):
        items: list[Candidate] = []
        for c in after:
            if not c[4] or c[1] != position + 1 + len(items) or len(items) == MAX_ITEMS:
                break
            items.append(c)
        return items
    if text.endswith("?") and after and after[0][1] == position + 1 and not after[0][2].rstrip().endswith("?"):
        return after[:1]
    return []


def select(question: str, passages: Sequence[Mapping[str, Any]], lang: str) -> list[tuple[int, int, str]]:
    """The sentences to answer with, as (passage number, position, sentence), in reading order."""
    candidates = _candidates(passages, lang)
    if not candidates:
        return []
    wanted = set(content_stems(question, lang))
    ranks = sorted({c[0] for c in candidates})

    def gain(candidate: Candidate, covered: set[str]) -> float:
        number, _, _, stems, _ = candidate
        new = len((stems & wanted) - covered)
        bonus = RANK_BONUS[ranks.index(number)] if ranks.index(number) < len(RANK_BONUS) else 0.0
        return new / math.sqrt(len(stems) + 1) + (bonus if new else 0.0)

    picked: list[Candidate] = []
    covered: set[str] = set()
    while len(picked) < MAX_SENTENCES:
        best = max((c for c in candidates if c not in picked), key=lambda c: gain(c, covered), default=None)
        if best is None or gain(best, covered) <= 0:
            break
        picked.append(best)
        covered |= best[3] & wanted
    if not picked:  # nothing overlaps (typos, another wording): the top passage's opening is the best guess
        top = [c for c in candidates if c[0] == candidates[0][0]][:2]
        picked = top
    elif len(picked) == 1 and not _completion(picked[0], candidates):
        # one sentence is often a heading or a lead-in: add the next one of its passage
        number, position = picked[0][0], picked[0][1]
        follow = [c for c in candidates if c[0] == number and c[1] == position + 1]
        picked += follow[:1]
    for c in list(picked):  # what each needs, once: a lead-in brought by an item does not bring every item
        picked += [extra for extra in _completion(c, candidates) if extra not in picked]
    return [(n, p, s) for n, p, s, _, _ in sorted(picked, key=lambda c: (ranks.index(c[0]), c[1]))]


def compose(selected: Sequence[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """Join the sentences, citing each passage once after its last sentence."""
    parts: list[str] = []
    citations: list[int] = []
    for i, (number, _, sentence) in enumerate(selected):
        sentence = re.sub(r"\s+", " ", sentence).strip().rstrip(";,")  # a list item's separator ends it
        if sentence[-1:] not in ".!?:…":
            sentence += "."
        last_of_passage = i + 1 == len(selected) or selected[i + 1][0] != number
        parts.append(f"{sentence} [{number}]" if last_of_passage else sentence)
        if number not in citations:
            citations.append(number)
    return " ".join(parts), citations


class ExtractiveGenerator:
    """Answers with cited knowledge-base sentences (CPU, deterministic, always grounded)."""

    name = "extractive"

    def generate(self, request: GenerationRequest) -> Generation:
        """The selected sentences, cited; an empty answer when there are no passages."""
        answer, citations = compose(select(request.question, request.passages, request.lang))
        return Generation(answer=answer, citations=citations, tokens=0)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The answer word by word (it is computed at once; streaming keeps one interface for every generator)."""
        answer = self.generate(request).answer
        for match in re.finditer(r"\S+\s*", answer):
            yield match.group(0)
