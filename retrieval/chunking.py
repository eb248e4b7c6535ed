"""Split documents into retrieval chunks: by paragraph, then by sentence, under a size limit, with overlap."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.documents import CELL_SEPARATOR, Document
from retrieval.text import LIST_MARK, list_segments, split_sentences

# Bumped by every change to this module that cuts the same text into other chunks (2: list items keep their lines,
# 2026-12-07). An index chunked by another version (or with other chunk settings) has its unchanged articles chunked
# again on its next ingest, each chunk of the same text keeping its vectors (retrieval.ingest).
CHUNKING_VERSION = 2


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that is embedded and indexed on its own."""

    chunk_id: str
    doc_id: str
    position: int
    text: str


def _hard_wrap(sentence: str, max_chars: int) -> list[str]:
    words, pieces, current = sentence.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        pieces.append(current)
    return pieces


_ROW = CELL_SEPARATOR  # a table row as the loader writes it (an HTML or Markdown table: one line)


def _segments(paragraph: str) -> list[tuple[str, str]]:
    """:func:`retrieval.text.list_segments` of a paragraph, the line breaks of table rows and list items kept: a
    segment that opens a line next to a table row, or a list item that opens a line, starts with ``"\n"`` (joined
    with :func:`_join`). A row or a bullet often ends with no full stop, so joined with spaces the rows of a table
    were one run-on "sentence" ("Plan | Fee Basic | 24.90 | ..."), and so were the items of a price list ("- Colour
    A4: 0.50 € per page - Scanning: free"), quoted whole or not at all."""
    out: list[tuple[str, str]] = []
    lines = [line for line in paragraph.split("\n") if line.strip()]
    for number, line in enumerate(lines):
        near_row = _ROW in line or (number > 0 and _ROW in lines[number - 1])
        for index, (segment, mark) in enumerate(list_segments(line)):
            out.append(("\n" + segment if out and index == 0 and (near_row or mark) else segment, mark))
    return out


def _join(segments: list[str]) -> str:
    """Segments joined with spaces, or with the line break a segment starts with (:func:`_segments`)."""
    return "".join(s if s.startswith("\n") else f" {s}" for s in segments).strip()


def _blocks(paragraph: str, max_chars: int) -> list[list[str]]:
    """The segments of a paragraph (:func:`_segments`: sentences, list items with their continuation, table rows)
    in blocks that stay in one chunk when they fit: a list with its lead-in (the sentence ending in ':' just before
    it) is one block, every other sentence one. A segment longer than ``max_chars`` is cut into its sentences, and
    a sentence that long by words."""
    blocks: list[list[str]] = []
    in_list = False
    for segment, mark in _segments(paragraph):
        if len(segment) > max_chars:
            for sentence in split_sentences(segment):
                blocks += (
                    [[piece] for piece in _hard_wrap(sentence, max_chars)]
                    if len(sentence) > max_chars
                    else [[sentence]]
                )
            in_list = False
            continue
        if mark and in_list:
            blocks[-1].append(segment)
        elif mark and blocks and len(blocks[-1]) == 1 and blocks[-1][0].endswith(":"):
            blocks[-1].append(segment)  # the lead-in stays with its list
        else:
            blocks.append([segment])
        in_list = bool(mark)
    return blocks


def _is_list(paragraph: str) -> bool:
    return bool(LIST_MARK.match(paragraph))


def _groups(text: str) -> list[str]:
    """The paragraphs of ``text``; a list written one item per paragraph (an HTML ``<li>``, a Markdown list with
    blank lines between its items) is one group with the lead-in paragraph before it, joined by blank lines."""
    groups: list[str] = []
    joinable = False  # the last group is a list, or ends with a lead-in (':')
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if groups and joinable and _is_list(paragraph):
            groups[-1] = f"{groups[-1]}\n\n{paragraph}"
        else:
            groups.append(paragraph)
        joinable = _is_list(paragraph) or paragraph.endswith(":")
    return groups


def chunk_document(document: Document, max_chars: int = 800, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole paragraphs into chunks of at most ``max_chars``; split long paragraphs by sentence.

    A list (numbered steps, bullets) stays whole in one chunk with its lead-in when it fits, whether its items are
    lines of one paragraph or paragraphs of their own; a list longer than ``max_chars`` is split between items,
    never inside one (an item longer than the limit alone is split by sentence). Consecutive chunks of one paragraph
    share ``overlap_sentences`` sentences (or items) so that an answer spanning the boundary is still found in one
    chunk.
    """
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    texts: list[str] = []
    current = ""
    for group in _groups(document.text):
        paragraphs = [_join([s for block in _blocks(p, max_chars) for s in block]) for p in group.split("\n\n")]
        whole = "\n\n".join(paragraphs)
        # a list of paragraphs too long for one chunk is packed paragraph by paragraph: split between items
        parts = paragraphs if len(whole) > max_chars and len(paragraphs) > 1 else [whole]
        for part, source in zip(parts, group.split("\n\n") if len(parts) > 1 else [group], strict=True):
            if len(part) <= max_chars:
                if current and len(current) + 2 + len(part) > max_chars:
                    texts.append(current)
                    current = ""
                current = f"{current}\n\n{part}" if current else part
                continue
            if current:
                texts.append(current)
                current = ""
            current = _window(_blocks(source, max_chars), max_chars, overlap_sentences, texts)
    if current:
        texts.append(current)
    return [Chunk(f"{document.id}#{i}", document.id, i, text) for i, text in enumerate(texts)]


def _window(blocks: list[list[str]], max_chars: int, overlap: int, texts: list[str]) -> str:
    """Append to ``texts`` the chunks of a paragraph too long for one, a block at a time (a block too long for one
    chunk, segment by segment), each chunk starting with the last ``overlap`` segments of the one before when they
    fit; return the unfinished last chunk."""
    window: list[str] = []
    for block in blocks:
        units = [block] if len(_join(block)) <= max_chars else [[segment] for segment in block]
        for unit in units:
            if window and len(_join([*window, *unit])) > max_chars:
                texts.append(_join(window))
                window = window[-overlap:] if overlap else []
                if window and len(_join([*window, *unit])) > max_chars:
                    window = []
            window.extend(unit)
    return _join(window)
