"""The extractive generator: no language model. It picks the passage sentences that best cover the question
(in the customer's language, unless the best passage is another language's and none in the customer's says the
same), keeps them in the passage's order, and cites each passage as ``[n]``.

A sentence is scored on the question's content words it covers, not counting the titles of the articles it points
to ("... (see Nimbus Points loyalty programme)"): a pointer is not an answer; and, when the index stores sentence
vectors (:mod:`retrieval.sentences`), on how near its meaning is to the question's, so the sentence that answers in
other words ("Canarias, Ceuta y Melilla: 7-10 días" for "how long to Canarias?") can win. A picked sentence that
cannot stand alone brings what completes it: a list's lead-in ("These are the times for standard shipping:") its
items, a question ("When does the clock start?") the sentence that answers it. A picked sentence that sends the
customer to an article shown above it ("..., consulta «El seguimiento dice entregado ...»") gives way to that
article's own best sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from graph.generators.base import Generation, GenerationRequest
from retrieval.documents import CELL_SEPARATOR
from retrieval.language import detect_language
from retrieval.lexicon import OTHER, load_lexicon
from retrieval.references import MIN_REFERENCE_WORDS
from retrieval.text import CROSS_REFERENCE, content_stems, list_items, ordered_mark

MAX_SENTENCES = 3
# Per sentence encoder: (weight, floor) of the meaning term, weight * max(0, cosine - floor). Chosen on the dev
# conversations and checked on the QA dev split and the val conversations (docs/graph.md, "Sentence similarity").
SIMILARITY = {"embedder": (1.0, 0.3), "use": (1.0, 0.4)}
# A passage in the customer's language stands in for a better-ranked one in another language only when it says the
# same (an unlinked translation): their chunks' USE cosine at least this. Linked translations (``translation_of``)
# are put first by retrieval already. On the demo store's 128 linked pairs 62.5 % reach 0.75, and 3.1 % of its
# Spanish articles reach it with their nearest English article that is not their translation (docs/graph.md).
SAME_CONTENT = 0.75
MAX_ITEMS = 8  # list items a picked lead-in (or step) brings with it, and rows a table row brings besides the header
TABLE_ROW = CELL_SEPARATOR  # a table row as the loader writes it: one line, its cells apart
RANK_BONUS = (0.35, 0.15, 0.05)
ECHO_NEW = 2  # content words beyond the question's a sentence may have and still only say the question back

# passage number, position, sentence, stems, list mark ("" for a sentence, "-" a bullet, "2." a step), meaning term
# (0 without sentence vectors)
Candidate = tuple[int, int, str, set[str], str, float]
Similarity = Callable[[str, str], "tuple[str, np.ndarray] | None"]  # retrieval.sentences.SentenceScorer
SameContent = Callable[[str, str], "float | None"]  # two chunk ids -> cosine (KnowledgeBase.chunk_cosine)


def _answering(passages: Sequence[Mapping[str, Any]], lang: str, same_content: SameContent | None
               ) -> list[tuple[int, Mapping[str, Any]]]:  # fmt: skip
    """The numbered passages to answer from: those in ``lang``, unless the best passage is in another language and
    none of them says what it says (then that language's): retrieval puts an article's linked translation first,
    so a top passage in another language has none, and a lower-ranked one in the customer's language is another
    article ("me han robado el móvil" answered from the phone-returns article instead of the English lost-phone
    one). All of them when none is in ``lang``."""
    numbered = list(enumerate(passages, start=1))
    mine = [(i, p) for i, p in numbered if p.get("lang") == lang]
    if not mine or not passages or passages[0].get("lang") == lang:
        return mine or numbered
    top = str(passages[0].get("chunk_id") or "")
    for _, passage in mine:
        cosine = same_content(top, str(passage.get("chunk_id") or "")) if same_content is not None else None
        if cosine is not None and cosine >= SAME_CONTENT:
            return mine
    return [(i, p) for i, p in numbered if p.get("lang") == passages[0].get("lang")]


def _candidates(question: str, passages: Sequence[Mapping[str, Any]], lang: str, similarity: Similarity | None,
                same_content: SameContent | None = None) -> list[Candidate]:  # fmt: skip
    """The sentences of the passages to answer from (:func:`_answering`)."""
    chosen = _answering(passages, lang, same_content)
    out = []
    for number, passage in chosen:
        pieces = list_items(str(passage.get("text") or ""))
        # A chunk that opens with its article's title (a Markdown file's "# Roaming in the European Union") does not
        # answer with it: "Roaming in the European Union. [1] Activate an eSIM. [2]" was a whole answer.
        title = _folded(str(passage.get("title") or ""))
        if pieces and title and _folded(pieces[0][0]) == title:
            pieces[0] = ("", "")
        # A lead-in that ends its chunk lost its list to the next chunk: "Hay algunos productos que no se pueden
        # devolver:" was a whole answer to "quiero devolver un producto".
        if pieces and not pieces[-1][1] and pieces[-1][0].rstrip().endswith(":"):
            pieces[-1] = ("", "")
        found = similarity(question, str(passage.get("chunk_id") or "")) if similarity is not None else None
        meaning = [0.0] * len(pieces)
        if found is not None and len(found[1]) == len(pieces):
            weight, floor = SIMILARITY.get(found[0], (0.0, 0.0))
            meaning = [weight * max(0.0, float(cosine) - floor) for cosine in found[1]]
        mine: list[Candidate] = []
        for position, (sentence, item) in enumerate(pieces):
            if not sentence:
                continue
            stems = set(content_stems(CROSS_REFERENCE.sub(" ", sentence), lang))
            mine.append((number, position, sentence, stems, item, meaning[position]))
        out += [c for c in mine if not _signpost(c, mine)]
    return out


def _signpost(candidate: Candidate, mine: list[Candidate]) -> bool:
    """A question its passage answers only by pointing to other articles ("¿Envías a Baleares, Canarias o fuera de
    España? Consulta «Plazos de entrega» ...") is a signpost, not an answer: it won "¿cuánto tarda el envío a
    Canarias?" over the delivery times."""
    _, position, sentence, _, item, _ = candidate
    if item:  # "- The courier couldn't deliver: see I missed my delivery." only names another article
        return any(not m.group(0).startswith("(") and not sentence[m.end():].strip(" .;")
                   and sentence.count("(", 0, m.start()) <= sentence.count(")", 0, m.start())  # not in brackets
                   for m in CROSS_REFERENCE.finditer(sentence))  # fmt: skip
    if not sentence.rstrip().endswith("?"):
        return False
    following = next((c for c in mine if c[1] == position + 1), None)
    return following is not None and not following[3] and CROSS_REFERENCE.search(following[2]) is not None


def _echo(candidate: Candidate, wanted: set[str]) -> bool:
    """A sentence that only says back what the customer said ("We're sorry your order arrived damaged." to "my
    parcel arrived damaged"): at most :data:`ECHO_NEW` content words the question does not have. It brings the
    sentence after it, which says what to do. Contractions ("we're", "you'll") are not counted as new words."""
    _, _, sentence, stems, item, _ = candidate
    new = [stem for stem in stems - wanted if "'" not in stem and "’" not in stem]
    return not item and TABLE_ROW not in sentence and bool(stems & wanted) and len(new) <= ECHO_NEW


def _folded(text: str) -> str:
    return " ".join(text.lower().strip(" .:#").split())


def _previous_answers(history: Sequence[Mapping[str, Any]]) -> str:
    """The assistant messages of ``history``, folded as :func:`_folded` folds a sentence ("" if none)."""
    return "\n".join(_folded(str(m.get("content", ""))) for m in history if m.get("role") == "assistant")


def _completion(picked: Candidate, candidates: list[Candidate]) -> list[Candidate]:
    """What a picked sentence needs to stand alone: a lead-in's list items, a list item's lead-in, a step (a
    numbered item) the lead-in and every step of its procedure, a question's answer."""
    number, position, sentence, _, item, _ = picked
    mine = sorted((c for c in candidates if c[0] == number), key=lambda c: c[1])
    after = [c for c in mine if c[1] > position]
    text = sentence.rstrip()
    if TABLE_ROW in text:
        return [c for c in _table(picked, mine) if c is not picked]
    if item:
        before = [c for c in mine if c[1] < position and not c[4]]
        lead = before[-1:] if before and before[-1][2].rstrip().endswith(":") else []
        # half a procedure is no answer: "how do I return an item?" was answered with steps 2 and 3 of 4
        return lead + _steps(picked, mine) if ordered_mark(item) else lead
    if text.endswith(":"):
        items: list[Candidate] = []
        for c in after:
            if not c[4] or c[1] != position + 1 + len(items) or len(items) == MAX_ITEMS:
                break
            items.append(c)
        return items
    if text.endswith("?") and after and after[0][1] == position + 1 and not after[0][2].rstrip().endswith("?"):
        return after[:1] + _completion(after[0], candidates)  # an answer that is a lead-in brings its list
    return []


def _table(row: Candidate, mine: list[Candidate]) -> list[Candidate]:
    """The table of ``row`` (the consecutive rows of its passage), in order: all of it up to a header and
    :data:`MAX_ITEMS` rows, else its first row (the header) and ``row``. One row is no answer: a price table's
    "Total Plus | 44,90 € | Todo lo del plan Total ..." answered "¿cuánto cuesta el plan Total?", which the row
    above it, "Total | 34,90 € ...", does (QA pass as a gym chain's operator, 2026-12-07)."""
    at = {c[1]: c for c in mine if TABLE_ROW in c[2]}
    first = last = row[1]
    while first - 1 in at:
        first -= 1
    while last + 1 in at:
        last += 1
    rows = [at[p] for p in range(first, last + 1)]
    return rows if len(rows) <= MAX_ITEMS + 1 else [rows[0], row] if rows[0] is not row else [row]


def _steps(step: Candidate, mine: list[Candidate]) -> list[Candidate]:
    """The other steps of ``step``'s numbered list (consecutive numbered items of its passage, at most
    :data:`MAX_ITEMS` from the list's first), in order."""
    at = {c[1]: c for c in mine if ordered_mark(c[4])}
    first = step[1]
    while first - 1 in at:
        first -= 1
    run: list[Candidate] = []
    position = first
    while position in at and (len(run) < MAX_ITEMS or position <= step[1]):
        run.append(at[position])
        position += 1
    return [c for c in run if c is not step]


LEXICON_TOP, LEXICON_MIN_PROB = 3, 0.1  # as grade_relevance counts a query word in a passage of the other language


def question_stems(question: str, lang: str, written: str | None = None) -> set[str]:
    """The question's content stems in ``lang``, the answer's language. A question ``written`` in the other language
    ("How long does a refund take?" answered in Spanish: the API's ``lang``, or the customer's "en español, por
    favor") brings its words' es<->en lexicon translations: its own words, stemmed as ``lang``, matched no sentence,
    and the answer was the passage's opening or a sentence that only named another article (QA dev questions
    answered in the other language: USE cosine with the reference 0.367 -> 0.411, docs/graph.md)."""
    stems = set(content_stems(question, lang))
    if written and OTHER.get(written) == lang and (lexicon := load_lexicon("bundled")) is not None:
        stems |= set(lexicon.translate(content_stems(question, written), written, LEXICON_TOP, LEXICON_MIN_PROB))
    return stems


def select(question: str, passages: Sequence[Mapping[str, Any]], lang: str, similarity: Similarity | None = None,
           same_content: SameContent | None = None,
           written: str | None = None) -> list[tuple[int, int, str]]:  # fmt: skip
    """The sentences to answer with, as (passage number, position, sentence), in reading order (``similarity``:
    the sentences' cosines with the question, from the index; ``same_content``: two chunks' cosine across
    languages, :func:`_answering`; ``written``: the question's language when it is not ``lang``)."""
    candidates = _candidates(question, passages, lang, similarity, same_content)
    if not candidates:
        return []
    wanted = question_stems(question, lang, written)
    ranks = sorted({c[0] for c in candidates})

    def gain(candidate: Candidate, covered: set[str]) -> float:
        number, _, _, stems, _, meaning = candidate
        new = len((stems & wanted) - covered)
        bonus = RANK_BONUS[ranks.index(number)] if ranks.index(number) < len(RANK_BONUS) else 0.0
        return new / math.sqrt(len(stems) + 1) + (bonus if new or meaning else 0.0) + meaning

    picked: list[Candidate] = []
    covered: set[str] = set()
    while len(picked) < MAX_SENTENCES:
        best = max((c for c in candidates if c not in picked), key=lambda c: gain(c, covered), default=None)
        if best is None or gain(best, covered) <= 0:
            break
        if picked and not (best[3] & wanted) - covered:  # after the first, a sentence must add a question word
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
        if _echo(c, wanted):
            picked += [n for n in candidates if n[0] == c[0] and n[1] == c[1] + 1 and not n[4] and n not in picked]
    followed = _followed(picked, candidates, passages, lambda c: gain(c, set()))
    for c in [c for c in followed if c not in picked]:
        followed += [extra for extra in _completion(c, candidates) if extra not in followed]
    picked = followed
    ordered = sorted(picked, key=lambda c: (ranks.index(c[0]), c[1]))
    return [(n, p, f"{mark} {s}" if mark else s) for n, p, s, _, mark, _ in ordered]  # "2. Select ...", "- Cheques"


def _followed(picked: list[Candidate], candidates: list[Candidate], passages: Sequence[Mapping[str, Any]],
              score: Callable[[Candidate], float]) -> list[Candidate]:  # fmt: skip
    """``picked`` with each sentence that sends the customer to an article shown above its own ("... pero no lo
    tienes, consulta «El seguimiento dice entregado pero no tengo el paquete»" from passage [4] when that article is
    passage [1]) replaced by that article's best sentence (by ``score``; its first when none scores), once: the
    customer asked what the article says, and the search found it. A reference in brackets ("(see Accepted payment
    methods)") is an aside of a sentence with its own content, and stays."""
    titles = {n: " ".join(str(p.get("title") or "").split()) for n, p in enumerate(passages, start=1)}
    out = list(picked)
    for c in picked:
        if c[4]:
            continue
        pointers = " ".join(m.group(0) for m in CROSS_REFERENCE.finditer(c[2]) if not m.group(0).startswith("("))
        above = [n for n in range(1, c[0]) if len(titles.get(n, "").split()) >= MIN_REFERENCE_WORDS
                 and titles[n] in pointers and any(x[0] == n for x in candidates)]  # fmt: skip
        if not above:
            continue
        out.remove(c)
        if any(x[0] == above[0] for x in out):
            continue
        theirs = [x for x in candidates if x[0] == above[0]]
        best = max(theirs, key=score)
        out.append(best if score(best) > 0 else theirs[0])
    return out


_ITEM = re.compile(r"^(?:-|\w{1,3}[.)]) ")  # a list item as :func:`select` writes it: its mark, then a space


def compose(selected: Sequence[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """Join the sentences, citing each passage once after its last sentence. A list item is a line of its own, its
    mark kept, and a list a paragraph of its own, so a chat shows a procedure or a list as one ("Step by step: 1.
    Open My orders ... 2. Select ..." was one run-on paragraph). A table's rows are a Markdown table of their own,
    the first one its header, the citation in the last cell."""
    text, kind = "", ""
    citations: list[int] = []
    for i, (number, _, sentence) in enumerate(selected):
        sentence = re.sub(r"\s+", " ", sentence).strip().rstrip(";,")  # a list item's separator ends it
        last_of_passage = i + 1 == len(selected) or selected[i + 1][0] != number
        if number not in citations:
            citations.append(number)
        if TABLE_ROW in sentence:
            cells = [cell.strip() for cell in sentence.split("|")]
            if last_of_passage:
                cells[-1] = f"{cells[-1]} [{number}]"
            line = "| " + " | ".join(cells) + " |"
            if kind != "row":  # the table's first row is its header
                line += "\n|" + "---|" * len(cells)
            text += ("\n" if kind == "row" else "\n\n" if text else "") + line
            kind = "row"
            continue
        if sentence[-1:] not in ".!?:…":
            sentence += "."
        item = "item" if _ITEM.match(sentence) else "text"
        # a list is a paragraph of its own (Markdown renders a list that starts at "3." inside a paragraph as text)
        separator = "" if not text else ("\n" if item == "item" else " ") if item == kind else "\n\n"
        text += separator + (f"{sentence} [{number}]" if last_of_passage else sentence)
        kind = item
    return text, citations


class ExtractiveGenerator:
    """Answers with cited knowledge-base sentences (CPU, deterministic, always grounded)."""

    name = "extractive"

    def __init__(self, similarity: Similarity | None = None, same_content: SameContent | None = None) -> None:
        """``similarity``: the sentences' cosines with the question (:class:`retrieval.sentences.SentenceScorer`;
        set by the service once the index is loaded); None: words alone. ``same_content``: two chunks' cosine
        across languages (:meth:`retrieval.search.KnowledgeBase.chunk_cosine`); None: a better-ranked passage in
        another language is never stood in for."""
        self.similarity = similarity
        self.same_content = same_content

    @classmethod
    def for_index(cls, kb: Any, embed: Callable[[str], np.ndarray]) -> ExtractiveGenerator:
        """The generator as the graph runs it on the index ``kb``: its sentence vectors and, for unlinked
        translations, its chunks' cosines (``embed``: the index embedder's unit vector of a text)."""
        from retrieval.sentences import SentenceScorer

        return cls(SentenceScorer(kb, embed), getattr(kb, "chunk_cosine", None))

    def generate(self, request: GenerationRequest) -> Generation:
        """The selected sentences, cited; an empty answer when there are no passages. Sentences the conversation's
        earlier answers (``history``) already gave are left out when something new remains: "How much does it
        cost?" after "How do I return an item?" is searched with the returns question, and quoted the four return
        steps again before the fee."""
        chosen = select(
            request.question, request.passages, request.lang, self.similarity, self.same_content, request.written
        )
        said = _previous_answers(request.history)
        fresh = [c for c in chosen if _folded(c[2]).rstrip(";,.") not in said] if said else []
        if fresh and len(fresh) < len(chosen):
            chosen = fresh
        answer, citations = compose(chosen)
        return Generation(answer=answer, citations=citations, tokens=0)

    def source_language(self, request: GenerationRequest) -> str | None:
        """The language of the passages the answer quotes (:func:`_answering`): the customer's, unless only another
        language's articles cover the question; None without passages."""
        chosen = _answering(request.passages, request.lang, self.same_content)
        if not chosen:
            return None
        lang = str(chosen[0][1].get("lang") or request.lang)
        if lang != request.lang and detect_language(self.generate(request).answer) == request.lang:
            return request.lang  # an article of mixed languages: the paragraph it quotes is in the customer's
        return lang

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The answer word by word (it is computed at once; streaming keeps one interface for every generator)."""
        answer = self.generate(request).answer
        for match in re.finditer(r"\S+\s*", answer):
            yield match.group(0)


def drafter(kb: Any) -> Callable[[str, Sequence[Mapping[str, Any]], str], str]:
    """(question, passages, lang) -> the extractive answer over those passages on the index ``kb``: the draft that
    RAFT examples show a model trained to answer from it (``data prepare --raft-draft``), as the hybrid turn shows it
    (:mod:`graph.nodes.generate`)."""
    generator = ExtractiveGenerator.for_index(kb, lambda text: kb.embedder.encode([text])[0])

    def draft(question: str, passages: Sequence[Mapping[str, Any]], lang: str) -> str:
        return generator.generate(GenerationRequest(question=question, lang=lang, passages=passages)).answer

    return draft
