"""PII redaction: typed placeholders (<PERSON_1>, <EMAIL_1>, ...) that stay consistent within a conversation.

A :class:`Redactor` is built once per process (Presidio analyzer over blank spaCy tokenizers and the recognizers
of :mod:`finetune.pii_recognizers`) and reused. A :class:`PlaceholderMap` shared across the turns of one
conversation gives the same value the same placeholder and the next value of a type the next number. The store's
own public contact data (allow-list) is not a customer's PII and stays. ``redact_file`` applies the same to a text
or chat JSONL file, writing the output atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from retrieval.language import strip_accents
from retrieval.text import PLACEHOLDER

Lang = Literal["en", "es"]
ENTITY_TYPES = (
    "PERSON", "EMAIL", "PHONE", "IBAN", "CARD", "DNI", "NIE", "NIF", "ADDRESS", "ORDER", "TRACKING", "IP", "URL",
    "SECRET",  # a card's security code or a password the customer typed
    "CURP", "RFC",  # Mexican identity and tax numbers
    "SSN",  # a social security number: US, Spanish (NSS) or Mexican (IMSS)
    "PASSPORT",  # a passport number the customer introduces as one
    "LICENSE_PLATE",  # a vehicle's registration the customer introduces as one
    "DATE_OF_BIRTH",  # only where the customer says it is one: an order's or a delivery's date is not
)  # fmt: skip
# The store's published contacts (see data/kb: contact-customer-service) and its documented example order id.
STORE_CONTACTS = (
    "support@nimbus.example", "+34 910 555 010", "Calle de Alcalá 200", "Calle de Alcalá 200, 28028 Madrid",
    "NB-1234567",
)  # fmt: skip


_WORD = re.compile(r"\w+")
_NAME_GAP = re.compile(r"[\s'’-]+")  # what may stand between the words of one name
_NAME_WORDS = 5  # the longest name run looked up


class PIIError(ValueError):
    """A redaction input that cannot be read (missing file, not UTF-8, invalid JSON line), or a text that could not be
    checked in time."""


@dataclass(frozen=True)
class RedactionConfig:
    """What the redactor looks for and what it leaves alone."""

    entities: frozenset[str] = field(default=frozenset(ENTITY_TYPES), metadata={"help": "entity types to redact"})
    allow_values: tuple[str, ...] = field(default=STORE_CONTACTS, metadata={"help": "public values never redacted"})
    allow_domains: tuple[str, ...] = field(default=("nimbus.example",), metadata={"help": "the store's domains"})
    languages: tuple[str, ...] = field(default=("en", "es"), metadata={"help": "languages the analyzer accepts"})
    # Tokens feed only Presidio's context enhancer, which regex recognizers without context words do not use:
    # skipping spaCy per text makes redaction about 2-5x faster.
    tokenize: bool = field(default=False, metadata={"help": "run the spaCy pipeline per text (NER recognizers)"})

    def __post_init__(self) -> None:
        unknown = set(self.entities) - set(ENTITY_TYPES)
        if unknown:
            raise PIIError(f"unknown entity types {sorted(unknown)}; known: {', '.join(ENTITY_TYPES)}")


class Entity(NamedTuple):
    """One redacted span of the input text."""

    type: str
    start: int
    end: int


@dataclass
class RedactionResult:
    """The redacted text and the spans (in the input text) that were replaced, and those left as written
    (``keep``)."""

    text: str
    entities: list[Entity]
    kept: list[Entity] = field(default_factory=list)


def canonical(entity_type: str, value: str) -> str:
    """The form two mentions of one value share: "+34 612 345 678" and "612345678" are one phone."""
    match entity_type:
        case "PHONE":
            digits = re.sub(r"\D", "", value)
            international = "+" in value or digits.startswith("00")
            digits = digits[2:] if digits.startswith("00") else digits
            return digits[2:] if international and digits.startswith("34") and len(digits) == 11 else digits
        case "EMAIL" | "IP":
            return value.strip().lower()
        case "URL":
            return value.strip().lower().rstrip("/")
        case "PERSON" | "ADDRESS":
            return " ".join(re.findall(r"\w+", strip_accents(value).casefold()))
        case _:
            return re.sub(r"[\W_]", "", value).upper()


def pii_hash(entity_type: str, value: str, secret: bytes = b"") -> str:
    """A one-way key of a PII value (its canonical form), so a saved conversation never holds the value itself.

    ``secret`` keys it (HMAC-SHA-256): a conversation's own salt, so equal values in two conversations do not match
    and no table of precomputed hashes applies, plus the deployment's key when one is set, without which a guess
    (a phone number, a name) cannot be tested against a stolen database."""
    return hmac.new(secret, f"{entity_type}|{canonical(entity_type, value)}".encode(), "sha256").hexdigest()[:24]


def unkeyed_pii_hash(entity_type: str, value: str) -> str:
    """The hash a conversation saved before 2026-12-05 22:10 (no ``pii_salt`` in its state) keeps of a value: plain
    SHA-256, no key; only to find those conversations (``graph.retention.find_sessions``), never to make one."""
    return hashlib.sha256(f"{entity_type}|{canonical(entity_type, value)}".encode()).hexdigest()[:24]


def session_secret(deployment_key: str | None, salt: str) -> bytes:
    """What keys the hashes of one conversation's personal data (:func:`pii_hash`): the deployment's key, when one is
    set, and the conversation's own random salt."""
    return f"{deployment_key or ''}|{salt}".encode()


@dataclass
class PlaceholderMap:
    """Placeholders of one conversation: value -> ``<TYPE_n>``, numbered per type in order of first mention.

    Values are keyed by :func:`pii_hash`, never by the value itself, so the map can be saved with a conversation
    (:meth:`saved`) and restored by another process (:meth:`restore`) without storing personal data: the original
    values (:meth:`original`) stay in the memory of the process that saw them."""

    secret: bytes = b""  # what keys pii_hash (see there)
    _by_key: dict[str, str] = field(default_factory=dict)  # pii_hash -> placeholder
    _counts: Counter[str] = field(default_factory=Counter)
    _originals: dict[str, str] = field(default_factory=dict)
    _added: dict[str, str] = field(default_factory=dict)  # entries made since the map was built or restored

    @classmethod
    def restore(cls, saved: dict[str, str] | None, secret: bytes = b"", used: Iterable[str] = ()) -> PlaceholderMap:
        """The map whose :meth:`saved` entries are ``saved``, made with ``secret`` (numbering goes on after the
        highest number, also of the placeholders written in the texts ``used``: a conversation whose map was not
        saved, so that no number names two values)."""
        mapping = cls(secret=secret, _by_key=dict(saved or {}))
        written = (p for text in used for p in PLACEHOLDER.findall(text))
        for placeholder in itertools.chain(mapping._by_key.values(), written):
            kind, _, number = placeholder.strip("<>").rpartition("_")
            if number.isdigit():
                mapping._counts[kind] = max(mapping._counts[kind], int(number))
        return mapping

    def saved(self) -> dict[str, str]:
        """Every entry (value hash -> placeholder): what :meth:`restore` needs; no value in it."""
        return dict(self._by_key)

    def added(self) -> dict[str, str]:
        """The entries made since the map was built or restored (what a caller must save)."""
        return dict(self._added)

    def key(self, entity_type: str, value: str) -> str:
        """The value's key in this map (:func:`pii_hash` with the map's secret)."""
        return pii_hash(entity_type, value, self.secret)

    def _set(self, key: str, placeholder: str) -> None:
        if key not in self._by_key:
            self._by_key[key] = self._added[key] = placeholder

    def copy(self) -> PlaceholderMap:
        """An independent map with the same entries (what :meth:`restore` of :meth:`saved` gives)."""
        return PlaceholderMap.restore(self.saved(), self.secret)

    def known(self, entity_type: str, value: str) -> bool:
        """Whether ``value`` already has a placeholder here (a person also by one of their names, as
        :meth:`placeholder` matches them)."""
        if self.key(entity_type, value) in self._by_key:
            return True
        return entity_type == "PERSON" and any(
            self.key("PERSON", part) in self._by_key for part in canonical("PERSON", value).split()
        )

    def placeholder(self, entity_type: str, value: str) -> str:
        """The placeholder of ``value``, new (next number of its type) when the value was not seen before."""
        key = self.key(entity_type, value)
        found = self._by_key.get(key)
        if found is None and entity_type == "PERSON":  # "María", then "María López": one person
            parts = (self._by_key.get(self.key("PERSON", p)) for p in canonical("PERSON", value).split())
            found = next((p for p in parts if p is not None), None)
        if found is None:
            self._counts[entity_type] += 1
            found = f"<{entity_type}_{self._counts[entity_type]}>"
            self._originals[found] = value
        self._set(key, found)
        if entity_type == "PERSON":
            self._remember_name(value, found)
        return found

    def _remember_name(self, value: str, placeholder: str) -> None:
        from finetune.pii_recognizers import NAME_PARTICLES, fold

        for surface in [w for w in value.split() if w[:1].isupper() and len(w) > 2]:
            if fold(surface) not in NAME_PARTICLES:
                self._set(self.key("PERSON", surface), placeholder)

    def name_mentions(self, text: str) -> list[tuple[int, int]]:
        """The spans of names already seen, so later bare mentions ("Gracias, Ana") are redacted too: runs of up to
        five words, the first and last capitalised, whose hash is a known person's (the longest run wins)."""
        if not any(p.startswith("<PERSON_") for p in self._by_key.values()):
            return []
        words, spans, i = list(_WORD.finditer(text)), [], 0
        while i < len(words):
            for n in range(min(_NAME_WORDS, len(words) - i), 0, -1):
                first, last = words[i], words[i + n - 1]
                if not (first.group()[0].isupper() and last.group()[0].isupper()):
                    continue
                run = words[i : i + n]
                if not all(_NAME_GAP.fullmatch(text[a.end() : b.start()]) for a, b in itertools.pairwise(run)):
                    continue
                if self.key("PERSON", text[first.start() : last.end()]) in self._by_key:
                    spans.append((first.start(), last.end()))
                    i += n
                    break
            else:
                i += 1
        return spans

    def original(self, placeholder: str) -> str | None:
        """The first value that got ``placeholder`` (to restore it in a reply shown to the same customer)."""
        return self._originals.get(placeholder)

    def counts(self) -> dict[str, int]:
        """How many distinct values of each type were seen."""
        return dict(self._counts)


class Redactor:
    """Finds personal data and replaces it with typed placeholders; build once, reuse for every text."""

    def __init__(self, models_dir: Path, config: RedactionConfig | None = None) -> None:
        """Build the analyzer (blank spaCy pipelines are saved under ``models_dir`` the first time)."""
        from finetune.pii_recognizers import build_analyzer

        self.config = config or RedactionConfig()
        self._analyzer = build_analyzer(Path(models_dir), self.config.languages)
        self._entities = sorted(self.config.entities)
        self._allowed = {(t, canonical(t, v)) for v in self.config.allow_values for t in ENTITY_TYPES}
        self._no_tokens = None if self.config.tokenize else _empty_artifacts(self._analyzer, self.config.languages)

    def _is_allowed(self, entity_type: str, value: str, also: Collection[str] = ()) -> bool:
        if (entity_type, canonical(entity_type, value)) in self._allowed:
            return True
        if any(canonical(entity_type, v) == canonical(entity_type, value) for v in also):
            return True
        if entity_type not in ("EMAIL", "URL"):
            return False
        host = value.lower().rsplit("@", 1)[-1] if entity_type == "EMAIL" else value.lower()
        host = re.sub(r"^(?:https?://)?(?:www\.)?", "", host).split("/", 1)[0].split("?", 1)[0]
        return any(host == d or host.endswith("." + d) for d in self.config.allow_domains)

    def find(
        self, text: str, lang: str, mapping: PlaceholderMap | None = None, allow: Collection[str] = ()
    ) -> list[tuple[str, int, int, float]]:
        """The non-overlapping PII spans of ``text`` as (type, start, end, score), in text order.

        With a ``mapping``, names it already knows count wherever they appear, and names found here join it.
        ``allow``: more public values never redacted (another store's published contacts, say).
        """
        if lang not in self.config.languages:
            raise PIIError(f"unsupported language {lang!r}; expected one of {', '.join(self.config.languages)}")
        artifacts = None if self._no_tokens is None else self._no_tokens[lang]
        try:
            results = self._analyzer.analyze(text=text, language=lang, entities=self._entities, nlp_artifacts=artifacts)
        except TimeoutError as exc:  # never pass on a text that was not checked
            raise PIIError(f"could not check a {len(text):,}-character text for personal data in time: {exc}") from None
        found = [(r.entity_type, r.start, r.end, r.score) for r in results]
        found = [f for f in found if not self._is_allowed(f[0], text[f[1] : f[2]], allow)]
        if mapping is None or "PERSON" not in self.config.entities:
            return _resolve_overlaps(found)
        spans = _resolve_overlaps(found + _name_mentions(mapping, text))
        persons = [text[s:e] for t, s, e, _ in spans if t == "PERSON"]
        if persons:  # register them, so another mention in this same text ("Soy Ana ... Ana") counts too
            for person in persons:
                mapping.placeholder("PERSON", person)
            spans = _resolve_overlaps(found + _name_mentions(mapping, text))
        return spans

    def redact(
        self, text: str, lang: str, mapping: PlaceholderMap | None = None, allow: Collection[str] = (),
        keep: Collection[str] = (),
    ) -> RedactionResult:  # fmt: skip
        """Replace every PII span of ``text`` with its placeholder from ``mapping`` (a fresh map when None);
        ``allow``: more public values never redacted; ``keep``: types found but left as written (the chat keeps the
        store's own order and tracking numbers, which the person who takes over needs)."""
        mapping = mapping if mapping is not None else PlaceholderMap()
        pieces, entities, kept, cursor = [], [], [], 0
        for entity_type, start, end, _ in self.find(text, lang, mapping, allow):
            if entity_type in keep:
                kept.append(Entity(entity_type, start, end))
                continue
            pieces += [text[cursor:start], mapping.placeholder(entity_type, text[start:end])]
            entities.append(Entity(entity_type, start, end))
            cursor = end
        pieces.append(text[cursor:])
        return RedactionResult("".join(pieces), entities, kept)


def _empty_artifacts(analyzer: Any, languages: tuple[str, ...]) -> dict[str, Any]:
    from presidio_analyzer.nlp_engine import NlpArtifacts

    empty = {lang: analyzer.nlp_engine.nlp[lang].make_doc("") for lang in languages}
    return {lang: NlpArtifacts([], empty[lang], [], [], None, lang) for lang in languages}


def _name_mentions(mapping: PlaceholderMap, text: str) -> list[tuple[str, int, int, float]]:
    return [("PERSON", start, end, 0.6) for start, end in mapping.name_mentions(text)]


def _resolve_overlaps(found: list[tuple[str, int, int, float]]) -> list[tuple[str, int, int, float]]:
    """Keep the best span where spans overlap (score, then length); a loser's overhang widens the winner."""
    kept: list[list[Any]] = []
    for entity_type, start, end, score in sorted(found, key=lambda f: (-f[3], f[1] - f[2], f[1])):
        overlapping = [k for k in kept if k[1] < end and start < k[2]]
        if not overlapping:
            kept.append([entity_type, start, end, score])
        elif len(overlapping) == 1:  # never leave a fragment of a lower-ranked PII span in clear text
            overlapping[0][1], overlapping[0][2] = min(overlapping[0][1], start), max(overlapping[0][2], end)
    merged: list[tuple[str, int, int, float]] = []
    for entity_type, start, end, score in sorted(kept, key=lambda k: k[1]):
        if merged and start < merged[-1][2]:  # widened spans may now touch: fold into the earlier one
            previous = merged.pop()
            merged.append((previous[0], previous[1], max(previous[2], end), previous[3]))
        else:
            merged.append((entity_type, start, end, score))
    return merged


@lru_cache(maxsize=4)
def shared_redactor(models_dir: Path) -> Redactor:
    """One redactor per process and models folder (the agent graph and data preparation share it)."""
    return Redactor(models_dir)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file, with errors that name the file and line (checked before any
    output is written)."""
    if not path.exists():
        raise PIIError(f"{path}: no such file")
    if not path.is_file():
        raise PIIError(f"{path}: not a file")

    def read() -> Iterator[tuple[int, str]]:
        try:
            with path.open("rb") as handle:  # binary, decoded per line: a decode error names its exact line
                for number, raw in enumerate(handle, start=1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise PIIError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
                    yield number, line.removeprefix("\ufeff") if number == 1 else line
        except OSError as exc:
            raise PIIError(f"{path}: cannot read: {exc.strerror or exc}") from exc

    return read()


def _write_atomically(output: Path, lines: Iterator[str]) -> None:
    """Write ``lines`` to a temp file beside ``output``, then rename it: never a half-written output."""
    from retrieval.signals import raise_if_interrupted
    from retrieval.store import make_folders, remove_folders

    if output.is_dir():
        raise PIIError(f"{output}: is a directory")
    created = make_folders(output.parent, "--output", PIIError)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    except OSError as exc:
        remove_folders(created)
        raise PIIError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    try:
        try:  # mkstemp makes the file 0600: a replaced file keeps its mode, a new one gets what open() would give
            mode = output.stat().st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
        raise_if_interrupted()  # a SIGINT/SIGTERM during the work: the output is not replaced
        os.replace(tmp, output)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        remove_folders(created)
        if isinstance(exc, OSError):
            raise PIIError(f"{output}: cannot write: {exc.strerror or exc}") from exc
        raise


class _Stats:
    def __init__(self, redactor: Redactor, lang: Lang | None) -> None:
        self.redactor, self.lang = redactor, lang
        self.entities: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.texts, self.started = 0, time.perf_counter()

    def redact(self, text: str, mapping: PlaceholderMap) -> str:
        from retrieval.language import detect_language

        lang = self.lang or detect_language(text, default="en") or "en"
        result = self.redactor.redact(text, lang, mapping)
        self.texts += 1
        self.languages[lang] += 1
        self.entities.update(e.type for e in result.entities)
        return result.text

    def summary(self, input: Path, output: Path, kind: str, counts: Counter[str]) -> dict[str, Any]:
        return {
            "input": str(input),
            "output": str(output),
            "format": kind,
            "lines": counts["lines"],
            "records": counts["records"] if kind == "jsonl" else None,
            "texts": self.texts,
            "entities": dict(sorted(self.entities.items())),
            "entities_total": sum(self.entities.values()),
            "languages": dict(sorted(self.languages.items())),
            "seconds": round(time.perf_counter() - self.started, 3),
        }


def _redact_meta(value: Any, stats: _Stats, mapping: PlaceholderMap) -> Any:
    """Every string inside ``value`` (nested dicts and lists too) redacted with the conversation's map."""
    if isinstance(value, str):
        return stats.redact(value, mapping) if value.strip() else value
    if isinstance(value, list):
        return [_redact_meta(v, stats, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _redact_meta(v, stats, mapping) for k, v in value.items()}
    return value


def _redact_record(record: Any, where: str, number: int, stats: _Stats) -> dict[str, Any]:
    """One JSONL record: its turns or ``text``, then every string of its ``meta``, with one map; an ``id`` in which
    personal data is found becomes ``redacted-<line number>`` (a help desk may key its export by the customer's
    e-mail; a placeholder would make every such id the same)."""
    if not isinstance(record, dict):
        raise PIIError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "messages" not in record and "text" not in record:
        raise PIIError(f"{where}: record has neither 'messages' nor 'text'")
    mapping = PlaceholderMap()  # one conversation, one map
    out = dict(record)
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise PIIError(f"{where}: 'messages' must be a list of objects")
        out["messages"] = []
        for message in messages:
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                raise PIIError(f"{where}: message content must be a string")
            out["messages"].append(
                message if content is None else {**message, "content": stats.redact(content, mapping)}
            )
    if "text" in record:
        if not isinstance(record["text"], str):
            raise PIIError(f"{where}: 'text' must be a string")
        out["text"] = stats.redact(record["text"], mapping)
    if "meta" in record:
        out["meta"] = _redact_meta(record["meta"], stats, mapping)
    if isinstance(record.get("id"), str) and stats.redactor.find(record["id"], stats.lang or "en"):
        out["id"] = f"redacted-{number}"
    return out


def redact_jsonl(input: Path, output: Path, redactor: Redactor, lang: Lang | None = None) -> dict[str, Any]:
    """Redact a JSONL file of chat records (``messages``: one map per conversation) or ``text`` records, with every
    string of their ``meta`` and an ``id`` that holds personal data.

    Args:
        input: The JSONL file to read.
        output: Where the redacted copy goes (written atomically; untouched on error).
        redactor: The redactor to use.
        lang: Language of every text; None detects it per message.

    Returns:
        A summary: lines, records, texts, entities per type, languages, seconds.

    Raises:
        PIIError: The input is missing, not UTF-8, or has an invalid line (named by its number).
    """
    stats, counts, source = _Stats(redactor, lang), Counter[str](), _lines(input)

    def records() -> Iterator[str]:
        for number, line in source:
            counts["lines"] += 1
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PIIError(f"{input}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
            counts["records"] += 1
            yield json.dumps(_redact_record(record, f"{input}:{number}", number, stats), ensure_ascii=False) + "\n"

    _write_atomically(output, records())
    return stats.summary(input, output, "jsonl", counts)


def redact_text_file(input: Path, output: Path, redactor: Redactor, lang: Lang | None = None) -> dict[str, Any]:
    """Redact a plain text file line by line, with one placeholder map for the whole file (see redact_jsonl)."""
    stats, counts, source, mapping = _Stats(redactor, lang), Counter[str](), _lines(input), PlaceholderMap()

    def lines() -> Iterator[str]:
        for _, line in source:
            counts["lines"] += 1
            body = line.rstrip("\r\n")
            yield (stats.redact(body, mapping) if body.strip() else body) + line[len(body) :]

    _write_atomically(output, lines())
    return stats.summary(input, output, "text", counts)


def redact_file(input: Path, output: Path, redactor: Redactor, lang: Lang | None = None) -> dict[str, Any]:
    """Redact a ``.jsonl`` file (chat or text records) or any other file as plain text lines.

    Raises:
        OutputError: ``output`` is ``input`` (the same path, a symlink or a hard link to it): the redacted copy
            would replace the original. Nothing is written.
        PIIError: the input cannot be read or parsed, or the output cannot be written.
    """
    from finetune.output import check_not_input

    input, output = Path(input), Path(output)
    check_not_input(output, [input], flag="--output")
    if input.suffix.lower() == ".json":
        raise PIIError(f"{input}: expected JSON Lines (.jsonl, one record per line), not a .json document")
    if input.suffix.lower() in (".jsonl", ".ndjson"):
        return redact_jsonl(input, output, redactor, lang)
    return redact_text_file(input, output, redactor, lang)
