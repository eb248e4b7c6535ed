"""The one place that builds generator prompts, shared by data preparation, training, inference and the graph.

RAFT-style training examples (``data prepare``) and hybrid-mode generation (the graph) must show the model the
passages in exactly the same layout, or the tuned model sees at inference a format it never saw in training.
Both call :func:`rag_messages`; the fine-tune-only mode and plain chat examples call :func:`plain_messages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Lang = Literal["es", "en"]

DEFAULT_COMPANY = "Nimbus Market"  # the demo store; the shipped adapter was trained with this name in its prompt
_SYSTEM: dict[str, str] = {
    "en": (
        "You are the customer-support assistant of {company}. Answer in English, briefly and politely, "
        "using only facts from the knowledge base."
    ),
    "es": (
        "Eres el asistente de atención al cliente de {company}. Responde en español, de forma breve y "
        "amable, usando solo datos de la base de conocimiento."
    ),
}


def company_problem(company: str | None) -> str | None:
    """Why ``company`` cannot be named in a system prompt (one line of 1-80 printable characters), or None."""
    if company is None or (0 < len(company.strip()) <= 80 and company.isprintable()):
        return None
    return f"company must be a name of 1-80 printable characters, got {company!r}"


def system_prompt(lang: str, company: str | None = None) -> str:
    """The system prompt in ``lang`` (English for other languages), naming ``company`` (default: the demo store's,
    the name the shipped adapter and the bundled conversations were prepared with)."""
    return _SYSTEM.get(lang, _SYSTEM["en"]).format(company=company or DEFAULT_COMPANY)


SYSTEM_PROMPTS: dict[str, str] = {lang: system_prompt(lang) for lang in _SYSTEM}

PASSAGES_HEADER: dict[str, str] = {
    "en": "Knowledge-base passages (cite the one you use as [n]):",
    "es": "Pasajes de la base de conocimiento (cita el que uses como [n]):",
}

DRAFT_HEADER: dict[str, str] = {
    "en": "The passage sentences that match the question (a draft: answer from it, in your own words if needed):",
    "es": "Las frases de los pasajes que responden a la pregunta (un borrador: responde a partir de él):",
}

MAX_PASSAGE_CHARS = 700
FOCUSED_PASSAGE_CHARS = 400


def _cut(text: str, max_chars: int) -> str:
    """``text`` unchanged when it fits, else cut at the last word boundary before ``max_chars``, marked with "…"."""
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " …"


def focus(text: str, question: str, lang: str, max_chars: int = FOCUSED_PASSAGE_CHARS) -> str:
    """``text`` cut to about ``max_chars`` around the question: its sentences ranked by the question's content words
    they contain (the opening sentence breaks ties), kept in the passage's order, gaps marked with "…".

    A 270M model reads three short passages better than three long ones, and the prompt (the prefill a customer
    waits for) is shorter."""
    from retrieval.text import content_stems, split_sentences

    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    pieces = [p.strip() for p in split_sentences(text) if p.strip()]
    wanted = set(content_stems(question, lang))
    scores = [len(wanted & set(content_stems(p, lang))) / (len(p) + 40) ** 0.5 for p in pieces]
    kept: set[int] = set()
    used = 0
    for i in sorted(range(len(pieces)), key=lambda i: (-scores[i], i)):
        if used + len(pieces[i]) > max_chars and kept:
            continue
        kept.add(i)
        used += len(pieces[i]) + 1
    out, previous = [], -1
    for i in sorted(kept):
        if previous >= 0 and i != previous + 1:
            out.append("…")
        out.append(_cut(pieces[i], max_chars))
        previous = i
    return " ".join(out)


def format_passages(
    passages: Sequence[Mapping[str, Any]],
    max_chars: int = MAX_PASSAGE_CHARS,
    *,
    question: str | None = None,
    lang: str = "en",
) -> str:
    """Number the passages ``[1]``, ``[2]``... with their titles; each text is cut to ``max_chars``, or, given the
    ``question``, focused on it (:func:`focus`)."""
    blocks = []
    for i, passage in enumerate(passages, start=1):
        title = str(passage.get("title") or "").strip()
        text = passage_text(passage, max_chars, question=question, lang=lang)
        blocks.append(f"[{i}] {title}\n{text}" if title else f"[{i}] {text}")
    return "\n\n".join(blocks)


def passage_text(
    passage: Mapping[str, Any], max_chars: int = MAX_PASSAGE_CHARS, *, question: str | None = None, lang: str = "en"
) -> str:
    """The text of ``passage`` exactly as the prompt shows it: focused on ``question`` when given, else cut."""
    text = " ".join(str(passage.get("text") or "").split())
    if question is not None:
        return focus(text, question, str(passage.get("lang") or lang))
    return _cut(text, max_chars)


def passage_block(messages: Sequence[Mapping[str, str]]) -> str:
    """The passages a prompt shows (the system turn after its passages header), or "" for a prompt without any."""
    if not messages or messages[0].get("role") != "system":
        return ""
    system = str(messages[0].get("content") or "")
    for header in PASSAGES_HEADER.values():
        if header in system:
            block = system.split(header, 1)[1]
            for draft in DRAFT_HEADER.values():  # the extractive draft after them is not a passage
                block = block.split("\n\n" + draft, 1)[0]
            return block.strip()
    return ""


def plain_messages(
    question: str, lang: str, history: Sequence[Mapping[str, str]] = (), company: str | None = None
) -> list[dict[str, str]]:
    """Messages for the fine-tune-only mode: system prompt (naming ``company``), earlier turns, the question."""
    messages = [{"role": "system", "content": system_prompt(lang, company)}]
    messages += [{"role": m["role"], "content": m["content"]} for m in history if m["role"] in ("user", "assistant")]
    messages.append({"role": "user", "content": question})
    return messages


def rag_messages(
    question: str,
    passages: Sequence[Mapping[str, Any]],
    lang: str,
    history: Sequence[Mapping[str, str]] = (),
    company: str | None = None,
    draft: str | None = None,
) -> list[dict[str, str]]:
    """Messages for the hybrid mode and RAFT examples: the passages go in the system turn, numbered for citing; the
    system prompt names ``company`` (default: the demo store's). ``draft``: the extractive generator's answer over
    the same passages, shown after them, for a model trained to answer from it (``data prepare --raft-draft``)."""
    system = system_prompt(lang, company)
    if passages:
        system += (
            "\n\n"
            + PASSAGES_HEADER.get(lang, PASSAGES_HEADER["en"])
            + "\n\n"
            + format_passages(passages, question=question, lang=lang)
        )
        if draft:
            system += "\n\n" + DRAFT_HEADER.get(lang, DRAFT_HEADER["en"]) + "\n" + draft.strip()
    messages = [{"role": "system", "content": system}]
    messages += [{"role": m["role"], "content": m["content"]} for m in history if m["role"] in ("user", "assistant")]
    messages.append({"role": "user", "content": question})
    return messages
