"""Redaction of whole conversations: reader hints, Bitext slots, the shared redactor, then echoes.

One :class:`finetune.pii.PlaceholderMap` per conversation keeps placeholders consistent across its turns and meta.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from finetune.prepare.cleaning import echo_hints, normalize_slots, replace_hints
from finetune.prepare.readers import Conversation

PUBLISHED_TYPES = ("EMAIL", "PHONE", "URL", "ADDRESS")  # what a help centre publishes about the company itself


def published_contacts(documents: Any, redactor: Any) -> tuple[str, ...]:
    """The phone numbers, e-mails, links and addresses the knowledge base's articles publish, as written: the
    company's own, not a customer's PII. Before, an operator's agent answers with the company's phone (910 555 123,
    in its own articles) were trained as "<PHONE_2>" unless ``--store-facts`` listed it (a QA pass, 2026-12-07)."""
    found: dict[str, None] = {}
    for document in documents:
        text = f"{document.title or ''}\n{document.text}"
        lang = document.lang if document.lang in redactor.config.languages else "en"
        for kind, start, end, _ in redactor.find(text, lang):
            if kind in PUBLISHED_TYPES:
                found[text[start:end]] = None
    return tuple(found)


def pseudonymous_ids(conversations: list[Conversation], redactor: Any) -> int:
    """Replace each conversation id (and ``meta.group``, which names one) in which ``redactor`` finds personal data
    with ``<source>-id<n>``, numbered in input order; one id always gets one pseudonym, so a group stays whole. A help
    desk may key its export by the customer's e-mail or phone, and the id is written into the splits, the data card
    and the manifest. Returns how many ids were replaced."""
    taken = {c.id for c in conversations}
    names: dict[str, str] = {}

    def pseudonym(value: str, source: str) -> str:
        if value not in names:
            names[value] = value
            if redactor.find(value, "en"):
                n = sum(1 for k, v in names.items() if k != v) + 1
                while f"{source}-id{n}" in taken:
                    n += 1
                names[value] = f"{source}-id{n}"
                taken.add(names[value])
        return names[value]

    for conversation in conversations:
        conversation.id = pseudonym(conversation.id, conversation.source)
        group = conversation.meta.get("group")
        if isinstance(group, str):
            conversation.meta["group"] = pseudonym(group, conversation.source)
    return sum(1 for k, v in names.items() if k != v)


class Redaction:
    """Redacts conversations with one shared redactor and one placeholder map per conversation; counts types."""

    def __init__(self, redactor: Any, store: dict[str, str], published: tuple[str, ...] = ()) -> None:
        """``store``: the facts Bitext's store slots become; its ``name`` is the company the system turns name.
        ``published``: contact data the knowledge base publishes (:func:`published_contacts`), which stays too."""
        self.redactor, self.store = redactor, store
        # the store's published contacts stay
        self.public = tuple(dict.fromkeys([*(v for k, v in store.items() if k != "name"), *published]))
        self.entities: Counter[str] = Counter()
        self.slots: Counter[str] = Counter()

    def text(
        self, text: str, lang: str, mapping: Any, hints: list[tuple[str, str]], found: list[tuple[str, str]]
    ) -> str:
        """One turn: known values, then template slots, then the redactor; what it finds is added to ``found``."""
        if hints:
            before = Counter(mapping.counts())
            text = replace_hints(text, hints, mapping)
            self.entities.update(Counter(mapping.counts()) - before)
        text = normalize_slots(text, mapping, self.store, dict(hints), self.slots)
        result = self.redactor.redact(text, lang, mapping, self.public)
        self.entities.update(e.type for e in result.entities)
        found += [(e.type, text[e.start : e.end]) for e in result.entities]
        return str(result.text)

    def turns(
        self, conversation: Conversation, texts: list[str], lang: str, slots: bool = True
    ) -> tuple[list[str], Any, list[tuple[str, str]]]:
        """Redact the texts of one conversation with one placeholder map: reader hints and names first, then each
        turn; then every value found anywhere is replaced in every turn (an echo without context is missed).
        ``slots=False`` leaves template slots as they are (the card's "before" view)."""
        from finetune.pii import PlaceholderMap

        mapping = PlaceholderMap()
        for kind, value in conversation.hints:  # known names first, so bare later mentions are caught too
            if kind == "PERSON":
                mapping.placeholder(kind, value)
        found: list[tuple[str, str]] = []
        if slots:
            out = [self.text(t, lang, mapping, conversation.hints, found) for t in texts]
        else:
            out = []
            for text in texts:
                hinted = replace_hints(text, conversation.hints, mapping)
                result = self.redactor.redact(hinted, lang, mapping)
                found += [(e.type, hinted[e.start : e.end]) for e in result.entities]
                out.append(str(result.text))
        echoes = echo_hints(found)
        if echoes:
            out = [replace_hints(t, echoes, mapping) for t in out]
        return out, mapping, echoes

    def conversation(self, conversation: Conversation, turns: list[dict[str, str]], lang: str) -> dict[str, Any]:
        """The output record of a cleaned conversation: redacted turns in the shared prompt layout, redacted meta."""
        from finetune.prompts import plain_messages

        texts, mapping, echoes = self.turns(conversation, [t["content"] for t in turns], lang)
        redacted = [{"role": t["role"], "content": text} for t, text in zip(turns, texts, strict=True)]
        meta = {k: self._meta_value(v, lang, mapping, echoes) for k, v in conversation.meta.items()}
        meta["group"] = meta.get("group") or conversation.id
        return {
            "id": conversation.id,
            "lang": lang,
            # the shared prompt builder: the same system turn the fine-tune-only mode sees at inference
            "messages": [
                *plain_messages(redacted[-2]["content"], lang, redacted[:-2], self.store.get("name")),
                redacted[-1],
            ],
            "source": conversation.source,
            "meta": meta,
        }

    def _meta_value(self, value: Any, lang: str, mapping: Any, echoes: list[tuple[str, str]]) -> Any:
        if isinstance(value, str) and len(value) > 3:
            return replace_hints(str(self.redactor.redact(value, lang, mapping).text), echoes, mapping)
        if isinstance(value, list):
            return [self._meta_value(v, lang, mapping, echoes) for v in value]
        return value


def card_example(conversation: Conversation, record: dict[str, Any], redaction: Redaction) -> dict[str, Any]:
    """A before/after pair for the data card; "before" is the raw text with only its PII redacted."""
    raw = [m for m in conversation.messages if m["role"] != "system"][:4]
    texts, _, _ = redaction.turns(conversation, [m["content"] for m in raw], record["lang"], slots=False)
    before = [{"role": m["role"], "content": text} for m, text in zip(raw, texts, strict=True)]
    after = [m for m in record["messages"] if m["role"] != "system"][:4]
    return {"id": record["id"], "source": record["source"], "before": before, "after": after}
