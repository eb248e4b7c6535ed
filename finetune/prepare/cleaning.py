"""Cleaning: encoding repair, HTML and markup, whitespace, Bitext template slots, short and foreign turns, shape.

Turn-level steps are pure functions of the text; :func:`shape_conversation` applies the turn filters and makes the
conversation user/assistant alternating, starting with the user and ending with the assistant, within the cap.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from finetune.pii import PlaceholderMap
from finetune.prepare.config import PrepareConfig
from finetune.prepare.mail import trim_mail
from retrieval.documents import html_to_text
from retrieval.text import PLACEHOLDER, WORD

_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_BBCODE = re.compile(r"\[/?(?:b|i|u|url|quote|code|size|color)(?:=[^\]]*)?\]", re.IGNORECASE)
_SLOT = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_WORD = re.compile(rf"{WORD.pattern}|{PLACEHOLDER.pattern}")  # a word, or a <KIND_N> PII placeholder


def clean_text(text: str) -> str:
    """Repair the encoding (ftfy), strip HTML (retrieval's :func:`~retrieval.documents.html_to_text`, the one
    ``kb ingest`` uses, with ``<br>`` a line break) and markup, normalize whitespace."""
    import ftfy

    text = html_to_text(ftfy.fix_text(text, normalization="NFC"), line_break="\n")
    text = _MD_LINK.sub(r"\1 (\2)", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_HEADING.sub("", _BBCODE.sub("", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u200b", "")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def word_count(text: str) -> int:
    """Words (letters/digits runs; a placeholder counts as one)."""
    return len(_WORD.findall(text))


def cut(text: str, max_chars: int) -> str:
    """``text`` cut at a word boundary to at most ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(None, 1)[0].rstrip() + " …"


# --- Bitext template slots ---------------------------------------------------------------------------------------

_TYPED_SLOTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("INVOICE", re.compile(r"\b(invoice|bill)\s+(number|id)\b")),
    ("TRACKING", re.compile(r"\btracking\s+(number|id|code)\b")),
    ("ORDER", re.compile(r"\b(order|purchase)\s+(number|id)\b|^[0-9a-f]{6,}$|^\d{5,}$")),
    ("PERSON", re.compile(r"^name field$|^(customer|client) name$")),
    ("DATE", re.compile(r"^purchase date$")),
    ("PAYMENT_METHOD", re.compile(r"^payment method$")),
)


def slot_value(label: str, store: dict[str, str]) -> tuple[str, str] | None:
    """How a Bitext slot is normalized: ("TYPE", key) for customer data, ("", text) for store facts and UI labels."""
    low = re.sub(r"\s+anonymized$", "", label.strip().lower())
    for kind, pattern in _TYPED_SLOTS:
        if pattern.search(low):
            return kind, low
    words = low.replace("/", " ").split()
    if "email" in words and "phone" in words:
        return "", f"{store.get('email', '')} or {store.get('phone', '')}".strip(" or")
    if ("phone" in words and words[-1] in ("phone", "number")) and "phone" in store:
        return "", store["phone"]
    if "email" in words and words[-1] in ("email", "address") and "email" in store:
        return "", store["email"]
    if low in ("website name", "company name", "website app name", "mobile app name", "website or app") and (
        "name" in store
    ):
        return "", store["name"]
    if low in ("website url", "website", "company website", "service website") and "url" in store:
        return "", store["url"]
    if ("availability" in words or "hours" in words) and "hours" in store:
        return "", store["hours"]
    return None


def normalize_slots(
    text: str, mapping: PlaceholderMap, store: dict[str, str], known: dict[str, str], counts: Counter[str]
) -> str:
    """Replace ``{{Slot}}`` templates: customer data -> the conversation's typed placeholders (``<ORDER_1>``),
    store slots -> the store's facts, UI labels (``{{Live Chat}}``) -> their plain text.

    ``known`` maps a type to the conversation's real value of it (Bitext's tagged entity), so the slot in the
    answer and the number in the question share one placeholder.
    """

    def replace(match: re.Match[str]) -> str:
        label = match.group(1)
        found = slot_value(label, store)
        counts["slots"] += 1
        if found is None:
            counts["slots_label"] += 1
            return re.sub(r"\s+Anonymized$", "", label)
        kind, value = found
        if not kind:
            counts["slots_store"] += 1
            return value
        counts["slots_typed"] += 1
        # a lower-case pseudo value never registers as a name surface nor appears in text
        real = known.get(kind)
        if real is None and mapping.counts().get(kind) == 1:  # the one order this conversation mentioned
            real = mapping.original(f"<{kind}_1>")
        return mapping.placeholder(kind, real or "{{" + kind.lower() + "}}")

    return _SLOT.sub(replace, text)


def _placeholder_of(mapping: PlaceholderMap, kind: str, value: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: mapping.placeholder(kind, value)


def replace_hints(text: str, hints: list[tuple[str, str]], mapping: PlaceholderMap) -> str:
    """Replace known PII values of this conversation (reader hints) wherever they occur, as whole tokens."""
    for kind, value in sorted(hints, key=lambda h: -len(h[1])):
        core = value.lstrip("#")
        chars = re.sub(r"[\W_]", "", core)
        if len(chars) >= 6 and any(c.isdigit() for c in chars):  # any spacing: "612 345 678" is "612345678"
            chars = chars.lstrip("0") if chars.isdigit() else chars
            body = ("0*" if core[:1] == "0" or chars.isdigit() else "") + r"[\s._\-/]*".join(map(re.escape, chars))
        else:
            body = re.escape(core).replace(r"\ ", r"\s+")
        pattern = re.compile(rf"(?<![\w@.]){'#?' if value.startswith('#') else ''}{body}(?![\w@])", re.IGNORECASE)
        text = pattern.sub(_placeholder_of(mapping, kind, value), text)
    return text


def echo_hints(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Values redacted somewhere in a conversation, to replace wherever else they appear in it: a number echoed
    without its context ("ref: 12345678") is not recognised there. A URL's last path part (a profile handle) and
    an email's local part count on their own. Names are left to the redactor, which tracks them itself."""
    hints = []
    for kind, value in found:
        if kind == "PERSON" or len(value) < 4:
            continue
        hints.append((kind, value))
        part = ""
        if kind == "URL":
            part = re.split(r"[?#]", value)[0].rstrip("/").rsplit("/", 1)[-1]
        elif kind == "EMAIL":
            part = value.split("@", 1)[0]
        if part != value and len(part) >= 5 and re.search(r"[\d._-]", part):
            hints.append((kind, part))
    return list(dict.fromkeys(hints))


# --- turn filters and shape --------------------------------------------------------------------------------------


def is_other_language(text: str) -> bool:
    """True when ``text`` is clearly in a language that is neither Spanish nor English: the graph's own test
    (:func:`retrieval.language.other_language`), so training data and the chat agree on what "another language" is.
    (A second detector here, es+en confidence < 0.2 behind a function-word guard, let "Salut, est-ce que vous livrez
    en Belgique ?" through and dropped "cn i pay wiht paypall or aplle pay".)"""
    from retrieval.language import other_language

    return other_language(text) is not None


def shape_conversation(
    messages: list[dict[str, str]],
    config: PrepareConfig,
    counts: Counter[str],
    clean: Callable[[str], str] = clean_text,
) -> list[dict[str, str]]:
    """Clean every turn and trim its mail residue (:func:`finetune.prepare.mail.trim_mail`), drop empty, one-word
    and foreign turns, merge same-role runs, cap the length.

    Returns user/assistant messages (no system turn), alternating from a user turn to an assistant turn, or []
    when nothing usable is left. ``counts`` gets one entry per reason a turn or the tail was dropped.
    """
    turns: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            counts["system_turns_replaced"] += 1  # the shared prompt (finetune.prompts) replaces it
            continue
        trimmed = trim_mail(clean(message["content"]))  # quoted replies, "Sent from my iPhone", sign-offs
        if trimmed.quote:
            counts["quoted_replies_trimmed"] += 1
        if trimmed.signature:
            counts["signatures_trimmed"] += 1
        text = trimmed.text
        words = word_count(text)
        if not text:
            counts["empty_turns"] += 1
            continue
        if words < config.min_turn_words:
            counts["short_turns"] += 1
            continue
        if words >= config.other_language_min_words and is_other_language(text):
            counts["other_language_turns"] += 1
            continue
        if len(text) > config.max_turn_chars:
            counts["turns_cut"] += 1
            text = cut(text, config.max_turn_chars)
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1]["content"] += "\n" + text
            counts["turns_merged"] += 1
        else:
            turns.append({"role": message["role"], "content": text})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
        counts["leading_assistant_turns"] += 1
    if len(turns) > config.max_messages:
        turns = turns[: config.max_messages]
        counts["conversations_capped"] += 1
    while turns and turns[-1]["role"] != "assistant":
        turns.pop()
        counts["trailing_user_turns"] += 1
    return turns
