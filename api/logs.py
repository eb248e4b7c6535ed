"""Logging for the API with personal data masked: a handful of precompiled regexes, cheap enough for every line.

Full NER-based redaction (``finetune.pii``) is for stored transcripts; logs only need the obvious identifiers
(emails, phone and card numbers, IBANs, Spanish DNI/NIE, Mexican CURP/RFC, IPs) and the secret of an API key gone
before a line is written. What only its context makes personal (a name, an address, a date of birth) is left to
``finetune.pii``.

Lines are text by default, or one JSON object per line for log shippers (``SUPPORTBOT_LOG_FORMAT=json``,
:func:`configure_logging`). Either way the redaction happens once, in :class:`RedactingFilter` on the API's logger,
before any handler formats the record: both formats write the same, masked message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from api.keys import KEY_IN_TEXT

LOGGER_NAME = "supportbot.api"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The id of the request being served (api.middleware sets it), put on every record the API logs while it runs.
_REQUEST_ID: ContextVar[str | None] = ContextVar("supportbot_request_id", default=None)


def _iban(match: re.Match[str]) -> str:
    """An IBAN-shaped run in any case, when it is one to the chat's redactor (country, length, mod-97 check digits:
    :func:`finetune.pii_recognizers.iban_valid`). The shape alone took one session or case id in eighteen
    (``uuid4().hex``, "ab12c4d5...") for an IBAN, and ``/v1/sessions/<IBAN>`` could not be found in the log."""
    from finetune.pii_recognizers import iban_length, iban_valid  # python-stdnum; loaded with the redactor at start

    text = match.group()
    length = iban_length(text[:2])
    ends = [i + 1 for i, c in enumerate(text) if c.isalnum()]  # the run may take a word after the IBAN ("... now")
    if length is None or len(ends) < length or not iban_valid(text[: ends[length - 1]]):
        return text
    return "<IBAN>" + text[ends[length - 1] :]


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (KEY_IN_TEXT, r"\1<SECRET>"),  # an API key a client put in a path: its id stays, its secret goes (first: the
    # secret's digits must not become a phone or card placeholder)
    # Only from the start of a run of address characters: tried at every position of a run with no "@" ("1.1.1..."),
    # the scan was quadratic (3-5 s for a 40,000-character argument, until 2026-12-07).
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<EMAIL>"),
    (re.compile(r"(?<![\w&])[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[A-Z\d]\d\b"), "<CURP>"),
    (re.compile(r"(?<![\w&])[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}\b"), "<RFC>"),
    (re.compile(r"(?i)\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){3,7}(?:[ -]?[A-Z0-9]{1,4})?\b"), _iban),
    # An IP before a card: two addresses in a row have 13 digits; a dotted card's 4-digit groups are never an IP.
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "<IP>"),
    # Groups apart by a space, dash, dot, slash or underscore, or up to three spaces (as the chat redactor reads them)
    (re.compile(r"\b(?:\d(?:[ ./_-]| {2,3})?){13,19}\b"), "<CARD>"),
    (re.compile(r"(?i)\b(?:[XYZ]-?)?\d{7,8}[-\s]?[A-Z]\b"), "<DNI>"),
    (re.compile(r"(?<![\w-])\+?\d[\d ().-]{7,}\d\b"), "<PHONE>"),
)


_FORMATTER = logging.Formatter()
# Control characters and bidirectional overrides in outside data: a newline in a requested path would start a forged
# log line, an ANSI escape would rewrite the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with control and bidirectional-override characters written as escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def redact_for_log(text: str) -> str:
    """``text`` with emails, IBANs, card, ID, tax, IP and phone numbers replaced by typed placeholders."""
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks personal data in every record that passes through the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's string arguments (or its message when it has none) and its exception text; control
        characters in the arguments are escaped.

        Only the arguments carry outside data; leaving the format string and numbers alone keeps status codes and
        durations from looking like phone numbers.
        """
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(escape_controls(redact_for_log(a)) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict) and record.args:
            record.args = {k: escape_controls(redact_for_log(v)) if isinstance(v, str) else v
                           for k, v in record.args.items()}  # fmt: skip
        elif isinstance(record.msg, str):
            record.msg = redact_for_log(record.msg)
        if record.exc_info:  # tracebacks may quote user input too (exception messages)
            record.exc_text = redact_for_log(_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        return True


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every record logged in the block (and in the tasks and worker threads it starts) names ``request_id`` in the
    JSON format."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``, ``message``, and
    ``request_id`` and ``exception`` when the record has them.

    The message is the record's own, as :class:`RedactingFilter` left it (no second redactor here); control
    characters in it are escaped by JSON itself, so no value can start a line of its own.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, str] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _REQUEST_ID.get()  # formatted in the logging thread
        if request_id:
            entry["request_id"] = str(request_id)
        if record.exc_info and not record.exc_text:  # a record of another logger (the API's come without exc_info)
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format``: "text" (``TEXT_FORMAT``) or "json" (:class:`JsonFormatter`).

    Raises:
        ValueError: another format.
    """
    match log_format:
        case "text":
            return logging.Formatter(TEXT_FORMAT)
        case "json":
            return JsonFormatter()
        case _:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log every logger's records at ``level`` and above to stderr, in ``log_format`` (:func:`log_formatter`); does
    nothing when the process has already set up logging (as ``logging.basicConfig``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])


def api_logger() -> logging.Logger:
    """The API's logger, with the redacting filter installed once."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
