"""RAFT-style examples for the hybrid mode: a grounded question, the passages the production retriever returns,
the oracle passage present in a fraction P of examples (hard distractors only otherwise), a cited answer.

Grounded questions come from conversations that name their gold articles (``meta.gold_ids``: the first exchange)
and from knowledge-base articles (questions made from each title, answered by the oracle passage's first
sentences). Prompts are built with :func:`finetune.prompts.rag_messages`, the same call the hybrid generator uses.
Without the oracle the answer is, as in RAFT, still the reference answer (uncited), so the model learns the domain
as well as reading; ``raft_no_oracle_answer="abstain"`` trains a hand-off answer instead.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from finetune.prepare.config import PrepareConfig
from finetune.prompts import passage_text, rag_messages

ABSTAIN = {
    "en": "I couldn't find this in our help articles, so I'd rather not guess. I can pass you to an agent.",
    "es": "No encuentro esta información en nuestros artículos de ayuda y prefiero no adivinar. "
    "Puedo pasarte con un agente.",
}
_ES_FIRST_PERSON = ("no ", "me ", "mi ", "he ", "tengo", "el seguimiento", "ha bajado")
_EN_FIRST_PERSON = ("i ", "i'", "my ", "tracking says", "an item")


@dataclass
class GroundedQuestion:
    """A question whose answer is grounded in one knowledge-base article."""

    id: str
    lang: str
    question: str
    answer: str
    oracle_doc_id: str
    split: str
    origin: str  # "conversation" or "kb"


def _keep_case(word: str, text: str) -> bool:
    """A title's first word is a name to keep as written: an acronym, or a word the article writes capitalised after
    a lower-case word ("join Acme Rewards", "pay with PayPal"), not only at the start of a sentence."""
    if word.isupper() and len(word) > 1:
        return True
    return word[:1].isupper() and re.search(rf"[a-záéíóúñü,] {re.escape(word)}(?!\w)", text) is not None


def _lower_first(title: str, text: str = "") -> str:
    first, _, rest = title.partition(" ")
    return (first if _keep_case(first, text) else first.lower()) + (" " + rest if rest else "")


def kb_questions(title: str, lang: str, text: str = "") -> list[str]:
    """Customer questions made from an article title (the first is the most natural); ``text``, the article, tells
    whether the title's first word is a name that keeps its capital."""
    title = title.strip().rstrip(".")
    low = title.lower()
    if title.endswith("?"):
        return [title, *kb_questions(title.rstrip("?"), lang, text)[1:]] if lang == "en" else [title]
    named = _lower_first(title, text)
    if lang == "es":
        if low.startswith("cómo "):
            return [f"¿{title}?", f"¿Me explicas {named}?"]
        if low.startswith(_ES_FIRST_PERSON):
            return [f"{title}, ¿qué hago?", f"Hola, {named}. ¿Me ayudas?"]
        first = low.split()[0].split(":")[0]
        if first.endswith(("ar", "er", "ir", "arse", "erse", "irse")):
            verb = re.sub(r"se$", "me", first)
            rest = title.split(" ", 1)[1] if " " in title else ""
            return [f"¿Cómo puedo {verb} {rest}?".replace(" ?", "?"), f"Quiero {verb} {rest}, ¿cómo lo hago?"]
        return [
            f"¿Me puedes dar información sobre {named}?",
            f"¿Qué debo saber sobre {named}?",
        ]
    if low.startswith("how to "):
        rest = title[7:]
        return [f"How do I {rest}?", f"Can you explain how to {rest}?"]
    if low.startswith(_EN_FIRST_PERSON):
        return [
            f"{title}, what can I do?",
            f"Hi, {named if not low.startswith('i') else title}. Can you help?",
        ]
    return [
        f"Can you tell me about {named}?",
        f"What should I know about {named}?",
    ]


def first_sentences(text: str, max_chars: int = 320) -> str:
    """The first sentences of ``text`` up to about ``max_chars`` (at least one sentence)."""
    from retrieval.text import split_sentences

    sentences = split_sentences(" ".join(text.split())) or [""]
    out = sentences[0]
    for sentence in sentences[1:]:
        if len(out) + 1 + len(sentence) > max_chars:
            break
        out += " " + sentence
    return out


def quote(text: str, reference: str) -> str:
    """The one sentence of ``text``, or two consecutive ones, closest to ``reference`` by chrF (the evaluation's
    metric): a quoting target, which a small model copies more faithfully than it paraphrases. Ties go to the
    shorter, earlier span; ``reference`` when ``text`` has no sentence."""
    from retrieval.text import chrf, split_sentences

    runs = [[p.strip() for p in split_sentences(run) if p.strip()] for run in text.split("…")]  # focus gaps
    spans = [p for run in runs for p in run] + [f"{a} {b}" for run in runs for a, b in pairwise(run)]
    if not spans:
        return reference
    return max(spans, key=lambda span: chrf(span, reference))


def _split_of(key: str, fractions: tuple[float, float, float], seed: int) -> str:
    share = int(hashlib.sha256(f"{seed}\t{key}".encode()).hexdigest()[:8], 16) / 16**8
    return "train" if share < fractions[0] else "val" if share < fractions[0] + fractions[1] else "test"


def questions_from_kb(
    documents: Sequence[Any], per_article: int, fractions: tuple[float, float, float], seed: int
) -> list[GroundedQuestion]:
    """Questions made from each article's title; an article and its translation share a split.

    An article without a title makes none; one without a language (Markdown or JSONL that does not say it) is in
    the language its text is detected in, as `kb ingest` files it.
    """
    from retrieval.language import detect_language

    out = []
    for doc in documents:
        if not (doc.title or "").strip(" .?¿"):
            continue
        lang = doc.lang if doc.lang in ("es", "en") else detect_language(doc.text) or "en"
        group = min(doc.id, doc.translation_of or doc.id)
        split = _split_of(group, fractions, seed)
        for n, question in enumerate(kb_questions(doc.title, lang, doc.text)[:per_article]):
            out.append(GroundedQuestion(f"kb-{doc.id}-{n}", lang, question, "", doc.id, split, "kb"))
    return out


def questions_from_conversations(records: Sequence[dict[str, Any]], splits: dict[str, str]) -> list[GroundedQuestion]:
    """The first exchange of each conversation that names its gold article (already cleaned and redacted)."""
    out = []
    for record in records:
        gold = record["meta"].get("gold_ids") or []
        turns = [m for m in record["messages"] if m["role"] != "system"]
        if not gold or len(turns) < 2:
            continue
        question, answer = turns[0]["content"], turns[1]["content"]
        split = splits[record["id"]]
        out.append(
            GroundedQuestion(
                f"conv-{record['id']}", record["lang"], question, answer, str(gold[0]), split, "conversation"
            )
        )
    return out


def questions_from_qa(rows: Sequence[dict[str, Any]], fractions: tuple[float, float, float], seed: int
                      ) -> list[GroundedQuestion]:  # fmt: skip
    """Dev rows of a QA set (question, reference, first gold article) as RAFT questions, split train/val by id.

    Test rows are never used: they are what the offline comparison reports.
    """
    train_share = fractions[0] / max(fractions[0] + fractions[1], 1e-9)
    out = []
    for row in rows:
        if row.get("split") != "dev" or not row.get("gold_ids") or row.get("lang") not in ("es", "en"):
            continue
        split = _split_of(str(row["id"]), (train_share, 1 - train_share, 0.0), seed)
        out.append(GroundedQuestion(f"qa-{row['id']}", row["lang"], row["question"], row["reference"],
                                    str(row["gold_ids"][0]), split, "qa"))  # fmt: skip
    return out


Drafter = Callable[[str, Sequence[dict[str, Any]], str], str]  # (question, passages, lang) -> the extractive answer


def _passage(result: Any) -> dict[str, str]:
    return {"doc_id": result.doc_id, "chunk_id": result.chunk_id, "title": result.title, "text": result.text,
            "lang": result.lang}  # fmt: skip


def build_examples(
    questions: Sequence[GroundedQuestion],
    kb: Any,
    config: PrepareConfig,
    progress: Callable[[int, int], None] = lambda done, total: None,
    hidden: frozenset[str] = frozenset(),
    draft: Drafter | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """RAFT examples for ``questions``, retrieving from ``kb`` (a SearchableKnowledgeBase).

    Per split, exactly round(P * n) examples (a seeded choice) carry the oracle, at a seeded position.
    Returns the examples and counts of what was skipped (unknown oracle article). Articles in ``hidden`` never
    appear as a passage. ``draft``: the extractive answer over an example's passages, shown in its prompt
    (``raft_draft``).
    """
    skipped: dict[str, int] = {"oracle_not_in_index": 0}
    rng = random.Random(config.seed)
    with_oracle: set[str] = set()
    for split in ("train", "val", "test"):
        ids = sorted(q.id for q in questions if q.split == split)
        rng.shuffle(ids)
        with_oracle.update(ids[: round(config.raft_oracle_fraction * len(ids))])
    examples = []
    for done, q in enumerate(questions, start=1):
        progress(done, len(questions))
        document = kb.document(q.oracle_doc_id)
        if document is None or document.get("duplicate_of"):
            skipped["oracle_not_in_index"] += 1
            continue
        twin = document.get("translation_of")
        results = kb.search(q.question, k=max(20, config.raft_k + 2), lang=q.lang)
        oracle = next((r for r in results if r.doc_id == q.oracle_doc_id), None)
        oracle_passage = _passage(oracle) if oracle is not None else {
            "doc_id": q.oracle_doc_id, "chunk_id": f"{q.oracle_doc_id}#0", "title": document.get("title") or "",
            "text": first_sentences(document.get("text") or "", 700), "lang": document.get("lang") or q.lang,
        }  # fmt: skip
        distractors = [
            _passage(r) for r in results if r.doc_id not in (q.oracle_doc_id, twin) and r.doc_id not in hidden
        ]
        present = q.id in with_oracle
        local = random.Random(f"{config.seed}\t{q.id}")
        if present:
            passages = distractors[: config.raft_k - 1]
            position = local.randint(0, len(passages))
            passages.insert(position, oracle_passage)
            reference = q.answer or first_sentences(oracle_passage["text"])
            if config.raft_answer == "quote":
                reference = quote(passage_text(oracle_passage, question=q.question, lang=q.lang), reference)
            answer = f"{reference} [{position + 1}]"
        else:
            passages = distractors[: config.raft_k]
            reference = q.answer or first_sentences(oracle_passage["text"])
            answer = reference if config.raft_no_oracle_answer == "reference" else ABSTAIN[q.lang]
        drafted = draft(q.question, passages, q.lang) if draft is not None and config.raft_draft else None
        examples.append(
            {
                "id": f"raft-{q.id}",
                "lang": q.lang,
                "question": q.question,
                "passages": passages,
                "oracle_doc_id": q.oracle_doc_id,
                "oracle_present": present,
                "answer": answer,
                **({"draft": drafted} if drafted is not None else {}),
                "messages": [
                    *rag_messages(q.question, passages, q.lang, company=config.company, draft=drafted),
                    {"role": "assistant", "content": answer},
                ],
                "split": q.split,
                "origin": q.origin,
            }
        )
    return examples, skipped
