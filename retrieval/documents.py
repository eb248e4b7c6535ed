"""Knowledge-base documents: loading the input formats and cleaning their text.

Formats: ``.md``/``.markdown``/``.txt`` (one article per file, optional front matter), ``.html``/``.htm`` (one
article per page: a help centre's export), ``.jsonl`` (one article per line) and ``.csv`` (``id``, ``title``,
``text``, optional ``lang``; cells separated by ``,``, ``;`` or tabs). Every problem is
raised as :class:`LoadError` naming the file (and line) and the reason, so callers can report it without a
traceback.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from retrieval.language import language_tag, other_language
from retrieval.text import PLACEHOLDER

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl", ".csv")
_SKIPPED_NAMES = re.compile(r"^(readme|license|licence|changelog|contributing)(\..*)?$", re.IGNORECASE)
# An article id: letters (any script), digits, '_', '.', '-', ':', up to 200, starting with a letter, digit or '_'
# (".." or "-x" cannot be a path segment or a CLI argument). The API's routes take the same pattern.
ID_PATTERN = r"^\w[\w.:-]{0,199}$"
_ID_RE = re.compile(ID_PATTERN)


# ``updated``: ISO 8601 in its extended form, a date or a date and time ('T' or a space between them) with optional
# seconds, fraction and UTC offset. The basic (20250115) and week (2025-W03) forms are left out: nobody writes them
# in an article's metadata, and a typo like 2025115 should not pass for one.
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
UPDATED_FORMS = "an ISO 8601 date or date and time, like 2025-01-15 or 2025-01-15T10:30:00Z"


def updated_time(value: str) -> datetime:
    """The moment an ``updated`` value names: a date is its midnight, a time without an offset is UTC.

    Raises:
        ValueError: ``value`` is not an ISO 8601 date or date and time, or not a real one (``2025-13-45``).
    """
    text = value.strip()
    if not _ISO_DATETIME.fullmatch(text):
        raise ValueError(f"updated must be {UPDATED_FORMS}; got {value!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:  # the form is right, the date is not: 'month must be in 1..12'
        raise ValueError(f"updated must be {UPDATED_FORMS}; got {value!r} ({exc})") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def checked_updated(value: object) -> str | None:
    """An article's ``updated`` as it is stored: the text given (a YAML date or datetime of front matter as text),
    None when absent or blank; it decides which of two duplicates is the newest (:func:`updated_order`).

    Raises:
        ValueError: anything but an ISO 8601 date or date and time (``yesterday``, ``2025-13-45``, a number).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date):  # front matter's ``updated: 2025-01-15`` is read by YAML as a date (or datetime)
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"updated must be {UPDATED_FORMS}; got {value!r}")
    updated_time(value)
    return value.strip()


def updated_order(value: str | None) -> float:
    """A sort key for ``updated`` values: later moments are larger, whatever their form (a date, a time with or
    without an offset). None, or a value an older version stored without checking it, sorts first."""
    try:
        return updated_time(value).timestamp() if value is not None else float("-inf")
    except ValueError:
        return float("-inf")


class LoadError(ValueError):
    """A knowledge-base input that cannot be used, with where and why."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass
class Document:
    """One knowledge-base article."""

    id: str
    text: str
    title: str = ""
    lang: str | None = None
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    translation_of: str | None = None
    updated: str | None = None
    source: str = ""

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes what is indexed; unchanged documents are skipped on re-ingest."""
        payload = json.dumps([self.title, self.text, self.lang, self.url, self.tags, self.translation_of, self.updated])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for JSON and SQLite)."""
        return asdict(self)


CELL_SEPARATOR = " | "  # between a table row's cells; the row is one line (chunking and the extractive answer read it)
# A list's items and a table's rows are lines of one paragraph, as in the bundled articles ("Lead-in:\n\n- a\n- b"):
# each starts a line (an item with its mark) and ends nothing; the list or table as a whole is a paragraph.
_OPEN = {"tr": "\n"}
_CLOSE = {"li": "", "tr": ""}


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, turning block elements into paragraph breaks and a table row into one
    line of cells."""

    BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "hr",
                        "blockquote", "pre", "section", "article"})  # fmt: skip
    CELLS = frozenset({"td", "th"})
    # a help centre page's breadcrumbs and menus are not the article, nor its <head> (the <title> is read apart)
    SKIP = frozenset({"script", "style", "nav", "head", "title", "noscript", "template"})

    def __init__(self, line_break: str = "\n\n", main_only: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        # ``main_only``: a page with a <main> element (its dominant content, in HTML's words) is read there only; the
        # site's header, menus, "related articles" and footer around it are not the article
        self._main_only = main_only
        self._skipping = 1 if main_only else 0
        self._cells = 0  # cells so far in the table row
        self._in_cell = False
        self._line_break = line_break
        self._lists: list[list[int]] = []  # open <ol>/<ul>: [next number, lettered] of an ordered list, [] of a bullet
        # list
        self._item_open = False  # a list item's mark was the last thing written

    def _block(self, start: str) -> None:
        if self._skipping:  # a menu's list outside <main> or in <nav>: its marks are no more the article than its words
            return
        if self._item_open and start == "\n\n":  # "<li><p>text": the text goes on the item's line, after its mark
            return
        self.parts.append(" " if self._in_cell else start)  # a paragraph or list inside a cell stays on its row
        self._item_open = start.startswith("\n") and start.endswith(" ")  # an item's mark, nothing after it yet

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main" and self._main_only:
            self._skipping -= 1
        elif tag in self.SKIP:
            self._skipping += 1
        elif tag in self.CELLS:
            if self._cells and not self._skipping:  # "Spain | 4.99 EUR", not "Spain4.99 EUR"
                while self.parts and not self.parts[-1].strip():
                    self.parts.pop()
                self.parts[-1:] = [part.rstrip() + CELL_SEPARATOR for part in self.parts[-1:]]
            self._cells += 1
            self._in_cell = True
        elif tag in self.BLOCKS:
            if tag in ("tr", "table"):
                self._cells, self._in_cell = 0, False
            if tag in ("ol", "ul"):
                self._lists.append([_list_start(attrs), dict(attrs).get("type") in ("a", "A")] if tag == "ol" else [])
            opening = f"\n{self._mark(attrs)} " if tag == "li" else _OPEN.get(tag, "\n\n")
            self._block(self._line_break if tag == "br" else opening)

    def _mark(self, attrs: list[tuple[str, str | None]]) -> str:
        """An ``<ol>`` item keeps its number ("2." of a step list: the order is the content), a ``<ul>`` one is a
        bullet."""
        counter = self._lists[-1] if self._lists else []
        if not counter:
            return "-"
        value = dict(attrs).get("value")
        number = int(value) if value and value.strip().isdigit() else counter[0]
        counter[0] = number + 1
        return f"{chr(ord('a') + number - 1)})" if counter[1] and 1 <= number <= 26 else f"{number}."

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ol", "ul") and self._lists:
            self._lists.pop()
        if tag == "main" and self._main_only:
            self._skipping += 1
        elif tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.CELLS:
            self._in_cell = False
        elif tag in self.BLOCKS and tag != "br":  # <br/> is one break, not two
            if tag in ("tr", "table"):
                self._cells, self._in_cell = 0, False
            self._block(_CLOSE.get(tag, "\n\n"))

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not data.strip() and "\n" in data:  # the page's layout between tags ("</tr>\n<tr>"), not its text
            data = "" if self._item_open else " "
        self.parts.append(data)
        self._item_open = self._item_open and not data.strip()


def _list_start(attrs: list[tuple[str, str | None]]) -> int:
    start = dict(attrs).get("start")
    return int(start) if start and start.strip().isdigit() else 1


_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
_KEPT_OPEN, _KEPT_CLOSE = "\ue000", "\ue001"  # a <TYPE_n> placeholder's brackets while the HTML parser reads
_MAIN = re.compile(r"<main[\s/>]", re.IGNORECASE)


def html_to_text(text: str, line_break: str = "\n\n") -> str:
    """The text of an HTML fragment, entities decoded; whitespace is left for the caller to normalise.

    The one HTML-to-text routine (``kb ingest`` and ``data prepare``): scripts, styles and ``<nav>`` are left out,
    block elements become paragraph breaks (``\\n\\n``), a list item a ``- `` line, a table row one line with
    `` | `` between its cells; ``line_break`` is what ``<br>`` becomes. A whole page is read without its ``<head>``,
    and only inside its ``<main>`` element when it has one. Personal-data placeholders (``<ORDER_1>``,
    :data:`retrieval.text.PLACEHOLDER`) are text, not tags; comments go. Text without a tag is only unescaped.
    """
    if _HTML_TAG.search(text) or "<!--" in text:
        text = PLACEHOLDER.sub(lambda m: _KEPT_OPEN + m.group()[1:-1] + _KEPT_CLOSE, text)
        parser = _TextExtractor(line_break, main_only=_MAIN.search(text) is not None)
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts).replace(_KEPT_OPEN, "<").replace(_KEPT_CLOSE, ">")
    return html.unescape(text)


def clean_text(text: str) -> str:
    """Repair mojibake, strip HTML (:func:`html_to_text`), normalise whitespace; paragraphs stay separated by one
    blank line."""
    import ftfy

    text = html_to_text(ftfy.fix_text(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\u200b\ufeff]", "", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [re.sub(r"[ \t]+", " ", line).strip() for line in block.split("\n")]
        block = "\n".join(line for line in lines if line)
        if block:
            paragraphs.append(block)
    return "\n\n".join(paragraphs)


def iter_input_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Expand files and folders (recursively) into supported input files, in a stable order.

    A file named explicitly must exist and have a supported suffix; inside folders, unsupported files and
    README/LICENSE-like documentation are skipped. A file reached twice (named twice, or named and inside a folder
    also named) is yielded once: its articles are not duplicates of themselves.
    """
    seen: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise LoadError(path, "no such file or folder")
        if path.is_dir():
            files = [child for child in _folder_files(path) if child.suffix.lower() in SUPPORTED_SUFFIXES]
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise LoadError(
                path, f"unsupported extension {path.suffix or '(none)'!r}; use {', '.join(SUPPORTED_SUFFIXES)}"
            )
        else:
            files = [path]
        for file in files:
            if (resolved := file.resolve()) not in seen:
                seen.add(resolved)
                yield file


def skipped_input_files(paths: Iterable[Path]) -> list[Path]:
    """Files inside the folders of ``paths`` that ingest leaves out for their extension (a ``.pdf`` manual, a
    spreadsheet), so a report can name them; README-like and hidden files are left out on
    purpose and not listed."""
    return [
        child
        for path in paths
        if path.is_dir()
        for child in _folder_files(path)
        if child.suffix.lower() not in SUPPORTED_SUFFIXES
    ]


def _folder_files(folder: Path) -> Iterator[Path]:
    """The files under ``folder``, recursively and sorted, without hidden and README/LICENSE-like ones."""
    for child in sorted(folder.rglob("*")):
        hidden = any(part.startswith(".") for part in child.relative_to(folder).parts)
        if child.is_file() and not hidden and not _SKIPPED_NAMES.match(child.name):
            yield child


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoadError(path, "binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(path, f"not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8") from exc


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    # Files saved on Windows end their lines with CRLF (old Mac exports with CR): the fences are matched on '\n'.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---"):
        return {}, text
    match = re.match(r"^---[ \t]*\n(.*?)\n---[ \t]*(\n|$)", text, re.DOTALL)
    if not match:
        raise LoadError(path, "front matter starts with '---' but is never closed")
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise LoadError(path, f"invalid front matter: {exc}{_quote_hint(match.group(1), exc)}") from exc
    except ValueError as exc:  # YAML reads 2025-13-45 as a date and fails to build it: 'month must be in 1..12'
        raise LoadError(path, f"invalid front matter: a date that does not exist ({exc})") from exc
    if not isinstance(meta, dict):
        raise LoadError(path, "front matter must be a mapping of fields")
    return meta, text[match.end() :]


def _quote_hint(block: str, exc: Exception) -> str:
    """How to fix the usual front-matter error: a value with ': ' in it ("title: Roaming: prices") is not YAML."""
    mark = getattr(exc, "problem_mark", None)
    lines = block.splitlines()
    line = lines[mark.line] if mark is not None and 0 <= mark.line < len(lines) else ""
    key, _, value = line.partition(": ")
    if ": " not in value or not re.fullmatch(r"\s*[\w-]+", key) or value.strip()[:1] in "\"'[{" or '"' in value:
        return ""
    return f"; a value with ': ' in it needs quotes: {key.strip()}: \"{value.strip()}\""


def _safe_url(url: str) -> bool:
    """An address a help page can link to: http(s) or a path on the site; not ``javascript:``, ``data:`` or another
    scheme a customer's browser would run or open when the source link is shown."""
    from urllib.parse import urlsplit

    if any(ord(c) < 32 for c in url):
        return False
    parts = urlsplit(url.strip())
    return (parts.scheme in ("http", "https") and bool(parts.netloc)) or (not parts.scheme and not parts.netloc)


# The rule under a Markdown table's header: "|---|:---:|", "--- | ---" (at least two cells).
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$", re.MULTILINE)


def _markdown_tables(text: str) -> str:
    """``text`` with each paragraph that holds a Markdown table rendered by :func:`markdown_html`, as a .md file's
    body is: a JSONL or CSV export whose texts are Markdown kept "| Libros | 10 | 21 días |" rows under a
    "|---|---|" rule, and the chat quoted them with empty cells at both ends and the rule as a line."""
    if not _TABLE_RULE.search(text):
        return text
    return "\n\n".join(
        markdown_html(block) if _TABLE_RULE.search(block) else block for block in re.split(r"\n[ \t]*\n", text)
    )


def file_id(path: Path) -> str:
    """The id of a one-article file whose front matter (or ``<meta name="id">``) gives none: its name without the
    extension, each run of characters an id cannot hold (spaces, brackets, '¿', ',') made one '-' ("Política de
    cancelación (2025).md" -> "Política-de-cancelación-2025"). A help centre's export names its files by their
    titles, and until 2026-12-08 a space in one stopped the ingest ("invalid id 'sin id'"); a name that is an id
    already is kept as it is."""
    stem = path.stem
    if _ID_RE.match(stem):
        return stem
    slug = re.sub(r"[^\w.:-]+", "-", stem)
    slug = re.sub(r"^[^\w]+", "", slug).rstrip("-.:")[:200].rstrip("-.:")
    return slug if _ID_RE.match(slug) else stem


def _document(raw: dict[str, Any], path: Path, line: int | None, default_id: str | None = None) -> Document:
    doc_id = raw.get("id", default_id)
    if doc_id is None or not str(doc_id).strip():
        raise LoadError(path, "missing 'id'", line)
    doc_id = str(doc_id).strip()
    if not _ID_RE.match(doc_id):
        allowed = "letters, digits, '.', '-', '_', ':' (max 200), starting with a letter or digit"
        reason = f"invalid id {doc_id!r}: use {allowed}"
        raise LoadError(path, reason, line)
    text = raw.get("text")
    if not isinstance(text, str):
        raise LoadError(path, f"document {doc_id!r} has no 'text' string", line)
    text = clean_text(_markdown_tables(text))
    if not text:
        raise LoadError(path, f"document {doc_id!r} is empty after cleaning", line)
    tags = raw.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list):
        raise LoadError(path, f"document {doc_id!r}: 'tags' must be a list or a comma-separated string", line)
    lang = raw.get("lang")
    if isinstance(lang, str) and not lang.strip():
        lang = None  # an empty cell of an optional CSV column (or "lang": ""): detect the language
    if lang is not None:
        tag = language_tag(lang)  # a help desk's locale ("en-us", "es_ES") names the language too
        if tag is None:
            raise LoadError(path, f"document {doc_id!r}: lang must be 'en' or 'es', got {lang!r}", line)
        lang = tag
    title = clean_text(str(raw.get("title") or ""))
    # Detection at ingest chooses between es and en only: an article in another language (a French page saved into
    # the folder by mistake) was stored as Spanish and quoted to Spanish customers. The first 2,000 characters tell.
    if lang is None and (other := other_language(f"{title}\n{text}"[:2000])) is not None:
        written = "another script" if other == "other_script" else other.capitalize()
        reason = (f"document {doc_id!r} reads as {written}: the knowledge base holds Spanish and English articles"
                  " (if it is one of them, say so with lang: es or lang: en)")  # fmt: skip
        raise LoadError(path, reason, line)
    url = raw.get("url") or None
    if url is not None and not _safe_url(str(url)):
        reason = f"document {doc_id!r}: url must be an http(s) address or a path, got {str(url)[:80]!r}"
        raise LoadError(path, reason, line)
    translation_of = raw.get("translation_of")
    if translation_of in ("", None):
        translation_of = None
    elif isinstance(translation_of, str | int) and not isinstance(translation_of, bool):
        translation_of = str(translation_of).strip()  # an id, as "id" itself is read
        if translation_of == doc_id:  # a copy-paste slip: the article would be its own twin
            raise LoadError(path, f"document {doc_id!r}: translation_of names the article itself", line)
    else:
        reason = f"document {doc_id!r}: translation_of must be an article id, got {translation_of!r:.80}"
        raise LoadError(path, reason, line)
    try:
        updated = checked_updated(raw.get("updated"))
    except ValueError as exc:
        raise LoadError(path, f"document {doc_id!r}: {exc}", line) from exc
    return Document(
        id=doc_id,
        text=text,
        title=title,
        lang=lang,
        url=str(url) if url is not None else None,
        tags=[str(t) for t in tags],
        translation_of=translation_of or None,
        updated=updated,
        source=f"{path}:{line}" if line is not None else str(path),
    )


@lru_cache(maxsize=1)
def _markdown() -> Any:
    """A CommonMark parser (markdown-it-py) with tables and strikethrough, whose raw HTML goes to the HTML reader, that
    renders a link as its text and address ("text (url)": the address may be what a customer needs) and an image as
    its alt text."""
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml

    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def link_open(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        return ""

    def link_close(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        start = max(j for j in range(idx) if tokens[j].type == "link_open" and tokens[j].level == tokens[idx].level)
        href = str(tokens[start].attrGet("href") or "")
        text = "".join(t.content for t in tokens[start + 1 : idx])
        shown = href.removeprefix("mailto:")
        return "" if not href or href.startswith("#") or text.strip() == shown else f" ({escapeHtml(shown)})"

    def image(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        return escapeHtml(tokens[idx].content)

    for name, rule in (("link_open", link_open), ("link_close", link_close), ("image", image)):
        parser.add_render_rule(name, rule)
    return parser


def markdown_html(body: str, inline: bool = False) -> str:
    """A Markdown article (or, ``inline``, one line of it: a title) as HTML, which :func:`clean_text` turns into the
    article's text as it reads the same page written in HTML: headings, emphasis, code and quote marks go, a table
    row is one line with `` | `` between its cells, a list item a ``- `` (or numbered) line. Customers were quoted the
    markup ("| Curso | Precio | |---|---|", "Los **libros** ...") when it stayed in the text."""
    parser = _markdown()
    return parser.renderInline(body) if inline else parser.render(body)


def _load_markdown(path: Path) -> list[Document]:
    meta, body = _front_matter(path, _read_text(path))
    if not body.strip():
        raise LoadError(path, "empty document")
    title = meta.get("title")
    if title is None:
        heading = re.match(r"^\s*#\s+(.+)$", body, re.MULTILINE)
        title = markdown_html(heading.group(1).strip(), inline=True) if heading else ""
    body = markdown_html(body)
    return [_document({**meta, "title": title, "text": body}, path, None, default_id=file_id(path))]


# What a page's <meta name="..." content="..."> may say, as a Markdown file's front matter does
_PAGE_FIELDS = ("id", "title", "lang", "url", "tags", "updated", "translation_of")


class _PageMeta(HTMLParser):
    """The metadata of a whole HTML page: ``<html lang>``, ``<title>``, the first ``<h1>`` and the first ``<h2>``
    (inside ``<main>`` when the page has one), ``<link rel="canonical">``, the ``<meta>`` fields of
    :data:`_PAGE_FIELDS` and Open Graph's ``article:modified_time``."""

    def __init__(self, main_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self.title = self.heading = self.subheading = ""
        self._open: str | None = None  # "title", "h1" or "h2" while its text is read
        self._in_main = not main_only

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "html" and attr.get("lang"):
            self.fields.setdefault("lang", attr["lang"])
        elif tag == "main":
            self._in_main = True
        elif tag == "link" and "canonical" in attr.get("rel", "").lower().split() and attr.get("href"):
            self.fields.setdefault("url", attr["href"])
        elif tag == "meta":
            name = (attr.get("name") or attr.get("property") or "").strip().lower()
            name = "updated" if name == "article:modified_time" else name
            if name in _PAGE_FIELDS and attr.get("content", "").strip():
                self.fields[name] = attr["content"].strip()
        elif (tag == "title" and not self.title) or (
            self._in_main and ((tag == "h1" and not self.heading) or (tag == "h2" and not self.subheading))
        ):
            self._open = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "title":
            self.title += data
        elif self._open == "h1":
            self.heading += data
        elif self._open == "h2":
            self.subheading += data


def _load_html(path: Path) -> list[Document]:
    """One article per page (a help centre's export): its text is the page's (its ``<main>`` when it has one), its
    title the first ``<h1>`` (else ``<title>``, else the first ``<h2>``: a page with neither had no title, so no
    template questions for the scope rail or RAFT and no place in the titles list of search), its language
    ``<html lang>``, its address the canonical link; a ``<meta name="...">`` of :data:`_PAGE_FIELDS` says the rest, or
    overrides them."""
    page = _read_text(path)
    meta = _PageMeta(main_only=_MAIN.search(page) is not None)
    meta.feed(page)
    meta.close()
    fields: dict[str, Any] = dict(meta.fields)
    fields.setdefault("title", " ".join((meta.heading or meta.title or meta.subheading).split()))
    return [_document({**fields, "text": page}, path, None, default_id=file_id(path))]


def _load_jsonl(path: Path) -> list[Document]:
    documents = []
    for number, line in enumerate(io.StringIO(_read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from exc
        if not isinstance(raw, dict):
            raise LoadError(path, "each line must be a JSON object", number)
        documents.append(_document(raw, path, number))
    if not documents:
        raise LoadError(path, "no documents in file")
    return documents


# An article or a conversation turn is as long as its author wrote it (JSONL has no limit): Python's default CSV cell
# limit, 131,072 characters, stopped a long one with a traceback. 2**31 - 1 fits a C long everywhere.
_CSV_CELL_LIMIT = 2**31 - 1


def csv_rows(text: str, delimiter: str = ",") -> csv.DictReader[str]:
    """A ``csv.DictReader`` over ``text`` whose cells may be of any length (the one CSV reader of ``kb ingest`` and
    ``data prepare``: the csv module's cell limit is global to the process, so both read the same)."""
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_CELL_LIMIT))
    return csv.DictReader(io.StringIO(text), delimiter=delimiter)


def _csv_header(names: Iterable[str]) -> list[str]:
    """Column names as the loader reads them: a spreadsheet's "ID" or " Title " is ``id`` / ``title``."""
    return [name.strip().lower() for name in names]


def _csv_delimiter(text: str) -> str:
    """The cell separator of a CSV file: ',' unless its header has the required columns only when split at ';' or
    a tab (Excel in a comma-decimal locale, Spanish included, saves "CSV" with ';')."""
    first = text.split("\n", 1)[0]
    for delimiter in (",", ";", "\t"):
        try:
            header = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            return ","  # reading the file says what is wrong with it, naming the line
        if {"id", "text"} <= set(_csv_header(header)):
            return delimiter
    return ","


def _load_csv(path: Path) -> list[Document]:
    text = _read_text(path)
    reader = csv_rows(text, _csv_delimiter(text))
    documents, line = [], 1
    try:
        reader.fieldnames = _csv_header(reader.fieldnames or [])
        missing = {"id", "text"} - set(reader.fieldnames)
        if missing:
            reason = (f"CSV header lacks column(s) {sorted(missing)}; need id, title, text[, lang], separated by"
                      f" commas (or ';' or tabs); the header read: {reader.fieldnames!r:.120}")  # fmt: skip
            raise LoadError(path, reason)
        line = reader.line_num + 1
        for row in reader:  # a quoted cell may span lines (an HTML body): each row is named by its first line
            documents.append(_document(dict(row), path, line))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise LoadError(path, f"invalid CSV: {exc}", line) from exc
    if not documents:
        raise LoadError(path, "no documents in file")
    return documents


_ONE_ARTICLE = (".md", ".markdown", ".txt", ".html", ".htm")  # one article per file, its id by default its name


def load_documents(paths: Iterable[Path]) -> list[Document]:
    """Load every document under ``paths``; ids must be unique across all inputs."""
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for path in iter_input_files(paths):
        match path.suffix.lower():
            case ".md" | ".markdown" | ".txt":
                loaded = _load_markdown(path)
            case ".html" | ".htm":
                loaded = _load_html(path)
            case ".jsonl":
                loaded = _load_jsonl(path)
            case _:
                loaded = _load_csv(path)
        for document in loaded:
            if document.id in seen:
                named = [Path(s) for s in (document.source, seen[document.id])]
                hint = (
                    "; the id of a .md or .html article is its file name unless an `id:` in its front matter (or a "
                    '<meta name="id" content="...">) gives one: give one of them its own id'
                    if any(p.suffix.lower() in _ONE_ARTICLE and file_id(p) == document.id for p in named)
                    else ""
                )
                raise LoadError(
                    document.source, f"duplicate id {document.id!r} (first seen at {seen[document.id]}){hint}"
                )
            seen[document.id] = document.source
            documents.append(document)
    if not documents:
        raise LoadError(", ".join(str(p) for p in paths), "no supported documents found")
    return documents
