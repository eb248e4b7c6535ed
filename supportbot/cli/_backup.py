"""``supportbot db backup``: one archive of the SQLite state of a data home, consistent while the API writes to it.

A data home keeps its state in three SQLite files in WAL mode: ``support.sqlite`` (escalations with their history and
messages, feedback, knowledge gaps), ``checkpoints.sqlite`` (LangGraph's conversation memory: without it a restored
escalation has no conversation, and the customers' sessions are gone) and ``api/keys.sqlite`` (API keys, console
users, which key owns which session). Copying a live file with ``cp`` misses what is still in its ``-wal`` file, or
catches a page mid-write. Each file here is copied with SQLite's online backup (:meth:`sqlite3.Connection.backup`) in
one read transaction: a snapshot of its committed state, while the service goes on writing (WAL lets writers and a
reader work at once). The copies are checked (``PRAGMA integrity_check``) and put in a tar archive, with a manifest,
written next to the target and renamed onto it: a backup either is there whole, or not at all.

The three files are copied one after the other, each consistent in itself; a turn written between two copies is in
one and not the other, as after a crash. The knowledge-base index is not state of this kind: its versions are
written once and never changed (docs/api.md, Backups).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MANIFEST = "supportbot-backup.json"
FORMAT = 1
# The counts a summary gives, per kind of file: label and query (run on the checked copy, not the live file).
_COUNTS: dict[str, tuple[tuple[str, str], ...]] = {
    "store": (
        ("escalations", "SELECT COUNT(*) FROM escalations"),
        ("hand-off messages", "SELECT COUNT(*) FROM session_messages"),
        ("feedback", "SELECT COUNT(*) FROM feedback"),
        ("knowledge gaps", "SELECT COUNT(*) FROM gaps"),
    ),
    "checkpoints": (("sessions", "SELECT COUNT(DISTINCT thread_id) FROM checkpoints"),),
    "keys": (
        ("API keys", "SELECT COUNT(*) FROM api_keys WHERE revoked IS NULL"),
        ("console users", "SELECT COUNT(*) FROM users"),
        ("session owners", "SELECT COUNT(*) FROM session_owners"),
    ),
}


class BackupError(Exception):
    """A backup that cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class StateFile:
    """One SQLite file of the data home's state."""

    member: str  # its path in the data home, and in the archive
    path: Path
    kind: str  # store, checkpoints or keys (_COUNTS)
    table: str  # a table every such file has: what tells it from another SQLite file


def state_files(home: Path, checkpoint_db: Path, store_db: Path, keys_db: Path) -> list[StateFile]:
    """The state files of ``home`` that exist (given by the modules that own them)."""
    kinds = ((store_db, "store", "escalations"), (checkpoint_db, "checkpoints", "checkpoints"),
             (keys_db, "keys", "api_keys"))  # fmt: skip
    files = [StateFile(path.relative_to(home).as_posix(), path, kind, table) for path, kind, table in kinds]
    return [file for file in files if file.path.is_file()]


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def copy_database(file: StateFile, target: Path) -> dict[str, int]:
    """Copy ``file`` to ``target`` (a new path) as one self-contained, checked SQLite file; its counts.

    Raises:
        BackupError: the file is not SQLite, not a supportbot file of its kind, unreadable, or the copy is damaged.
    """
    try:
        # Read-only: a mistyped home never gets an empty database made in it.
        source = sqlite3.connect(f"{file.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {file.path} ({exc})") from exc
    try:
        with contextlib.closing(source), contextlib.closing(sqlite3.connect(target)) as copy:
            # pages=-1: every page in one step, under one read transaction; steps of a few pages would start over
            # at each write the service makes between them, and might never end on a busy deployment.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # no -wal beside the copy: one file holds all of it
            if copy.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (file.table,)).fetchone():
                counts = {label: int(copy.execute(sql).fetchone()[0]) for label, sql in _COUNTS[file.kind]}
            else:
                raise BackupError(f"{file.path} is no supportbot {file.kind} database (it has no {file.table} table)")
            check = [row[0] for row in copy.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {file.path} ({exc})") from exc
    if check != ["ok"]:
        raise BackupError(f"the copy of {file.path} fails SQLite's integrity check: {'; '.join(check[:3])}")
    return counts


def check_target(out: Path, force: bool) -> None:
    """Refuse a target that cannot be written before anything is copied (the rename checks again).

    Raises:
        BackupError: its folder is missing or no folder, it is a folder, or it exists and ``force`` is not given.
    """
    if not out.parent.is_dir():
        raise BackupError(f"the folder of --out {out} does not exist (or is not a folder): create it first")
    if out.is_dir():
        raise BackupError(f"--out {out} is a folder: name the archive file to write, e.g. {out / 'state.tar'}")
    if out.exists() and not force:
        raise BackupError(f"{out} exists: pass --force to replace it, or name another file")


def _place(archive: Path, out: Path, force: bool) -> None:
    """Rename ``archive`` onto ``out`` atomically; without ``force`` a file made there meanwhile is kept (a hard
    link fails where a file exists; a rename would replace it)."""
    if force:
        os.replace(archive, out)
        return
    try:
        os.link(archive, out)
    except FileExistsError:
        raise BackupError(f"{out} exists: pass --force to replace it, or name another file") from None
    except OSError:  # a filesystem without hard links: the check made before copying is the one there is
        if out.exists():
            raise BackupError(f"{out} exists: pass --force to replace it, or name another file") from None
        os.replace(archive, out)
    else:
        archive.unlink()


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())  # conversations: the owner's only
    # Owned by whoever made the backup (the service's user, as a rule): root extracting it gives the files back to them.
    info.uid, info.gid = os.getuid(), os.getgid()
    tar.addfile(info, data)


def write_backup(home: Path, files: list[StateFile], out: Path, force: bool,
                 progress: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """Copy ``files`` into the tar archive ``out`` with a manifest (returned, with ``out`` and its size).

    Raises:
        BackupError: a file that cannot be copied, a target that cannot be written (nothing is left behind).
    """
    check_target(out, force)
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # same filesystem: a rename; 0700
    except OSError as exc:
        raise BackupError(f"cannot write in {out.parent} ({_reason(exc)})") from exc
    try:
        entries: list[dict[str, Any]] = []
        for number, file in enumerate(files):
            size = file.path.stat().st_size
            progress(f"[{number + 1}/{len(files)}] copying {file.member} ({_size(size)})")
            copy = work / f"{number}.sqlite"
            counts = copy_database(file, copy)
            with copy.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256").hexdigest()
            entries.append({"path": file.member, "kind": file.kind, "bytes": copy.stat().st_size, "sha256": digest,
                            "counts": counts})  # fmt: skip
        manifest = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "home": str(home.resolve()), "files": entries}  # fmt: skip
        archive = work / "backup.tar"
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
            text = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            _add(tar, MANIFEST, io.BytesIO(text), len(text))  # first: a reader needs no more than it to judge the rest
            for number, entry in enumerate(entries):
                with (work / f"{number}.sqlite").open("rb") as stream:
                    _add(tar, entry["path"], stream, entry["bytes"])
        archive.chmod(0o600)
        with archive.open("rb") as stream:
            os.fsync(stream.fileno())
        _place(archive, out, force)
        with contextlib.suppress(OSError):  # the rename itself, durable (not every system can open a folder)
            folder = os.open(out.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {out} ({_reason(exc)})") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"out": str(out), "bytes": out.stat().st_size, **manifest}


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def summary(report: dict[str, Any]) -> list[str]:
    """The lines ``supportbot db backup`` prints for ``report`` (:func:`write_backup`'s)."""
    lines = [f"backed up the SQLite state of {report['home']} to {report['out']} ({_size(report['bytes'])}):"]
    for entry in report["files"]:
        counts = ", ".join(f"{label} {count}" for label, count in entry["counts"].items())
        lines.append(f"  {entry['path']:<20}{_size(entry['bytes']):>11}  {counts}")
    return lines
