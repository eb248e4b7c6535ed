"""Reading JSON Lines files, one way for every loader: blank lines skipped, a bad line named by file and number, a
UTF-8 byte order mark (Notepad, Excel) ignored as ``kb ingest`` ignores it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def jsonl_records(
    lines: Iterable[str], where: object, error: type[Exception], *, column: bool = False
) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) for every non-blank line of ``lines``.

    Args:
        lines: the file's lines (a text handle or ``read_text().splitlines()``).
        where: the file, as named in error messages.
        error: the caller's exception type, raised as ``error("<where>:<n>: invalid JSON: <reason>")``.
        column: add ``(column N)`` to that message.
    """
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            suffix = f" (column {exc.colno})" if column else ""
            raise error(f"{where}:{number}: invalid JSON: {exc.msg}{suffix}") from exc
