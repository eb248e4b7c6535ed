"""Output folders of the commands that write one (``data prepare``, ``model pull``/``trim``, ``train``, ``train
merge``): what ``--out`` may be, and how a finished folder replaces it.

:func:`check_output` runs before any work: ``--out`` must be (or become) a folder, may not hold the command's own
inputs (:func:`check_not_input`, which the file-writing ``data redact`` runs too), and a non-empty one is replaced
only when it is an earlier output of the same command or ``--overwrite`` is given, so a user's files are never
deleted by mistake. :func:`building` hands out a hidden work folder beside ``--out`` and publishes it with a rename
at the end (never half-written); a failure, SIGINT or SIGTERM removes it and leaves ``--out`` as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from retrieval.signals import raise_if_interrupted
from retrieval.store import make_folders, remove_folders


class OutputError(ValueError):
    """``--out`` cannot be used or written: the message names it and the fix."""


def check_output(
    out: Path,
    *,
    overwrite: bool,
    earlier: Callable[[Path], bool] | None = None,
    command: str = "",
    inputs: Sequence[Path] = (),
    flag: str = "--out",
) -> None:
    """Refuse an output folder that the command cannot write or whose replacement would lose the user's files.

    Args:
        out: the output folder.
        overwrite: the user asked to replace a non-empty ``out`` (``--overwrite``).
        earlier: whether a folder is an earlier output of this command (replaced without ``--overwrite``).
        command: the command's name, for the message (``data prepare``).
        inputs: what the command reads: none may lie inside ``out``, which the result replaces as a whole.
        flag: the option that named ``out``.

    Raises:
        OutputError: ``out`` (or a parent) is a file, its place cannot be written, it holds an input, or it is a
            non-empty folder that is not an earlier output and ``overwrite`` is off.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} is a file, not a folder; give a folder path")
    parent = next((p for p in out.parents if p.exists()), Path.cwd())
    if not parent.is_dir():
        raise OutputError(f"{flag} {out}: {parent} is a file, not a folder; give a folder path")
    try:  # the work folder and the rename happen in the nearest existing folder: probe it now, not after the work
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as exc:
        raise OutputError(f"{flag} {out}: cannot write in {parent} ({exc.strerror}); give a writable folder") from exc
    check_not_input(out, inputs, flag=flag)
    if out.is_dir() and any(out.iterdir()) and not overwrite and not (earlier is not None and earlier(out)):
        not_ours = f", and not an earlier `supportbot {command}` output" if command else ""
        raise OutputError(f"{flag} {out} already exists and is not empty{not_ours} (pass --overwrite to replace it)")


def check_not_input(out: Path, inputs: Sequence[Path], *, flag: str = "--out") -> None:
    """Refuse an output (file or folder) that is one of the command's inputs or holds one, before anything is written.

    The output is an input when both name the same file: the same path once symlinks are resolved, or another name
    (a hard link) of it. Writing it would replace the original with the result, and the original would be lost.

    Args:
        out: the output file or folder.
        inputs: what the command reads.
        flag: the option that named ``out`` (``--out``, ``--output``).

    Raises:
        OutputError: ``out`` is an input, a folder that holds one, or a folder inside an input folder.
    """
    out = Path(out)
    resolved = out.resolve()
    for source in map(Path, inputs):
        same = source.resolve() == resolved or _same_file(source, out)
        if same and not out.is_dir():
            raise OutputError(f"{flag} {out} is the input {source}: writing it would replace the original; "
                              f"choose another {flag}")  # fmt: skip
        if same or resolved in source.resolve().parents:
            raise OutputError(f"{flag} {out} holds the input {source}, which writing {out} would replace; "
                              f"choose another {flag}")  # fmt: skip
        if source.is_dir() and source.resolve() in resolved.parents:  # `data prepare DIR` read its last output
            raise OutputError(f"{flag} {out} is inside the input folder {source}: the result would become part "
                              f"of the input (or replace part of it); choose another {flag}")  # fmt: skip


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file under two names (a hard link); False when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def work_folder(out: Path) -> Path:
    """A fresh hidden folder beside ``out`` (``.<name>.partial-<pid>``) to write the result into.

    Work folders of earlier runs of the same output whose process is gone (killed with SIGKILL, or the machine
    stopped: no cleanup ran) are removed first: each can hold a whole half-written model (1 GB for ``model pull``),
    and they piled up beside ``out`` with every killed run.
    """
    remove_stale_work(out)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def remove_stale_work(out: Path) -> None:
    """Remove the ``.<name>.partial-<pid>`` folders beside ``out`` whose process no longer runs.

    A ``.<name>.old-<pid>`` (the previous ``out`` during a publish) is left alone: if the process died between the
    two renames it is the only copy of the previous result.
    """
    prefix = f".{out.name}.partial-"
    try:
        entries = list(out.parent.iterdir()) if out.parent.is_dir() else []
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(prefix) :]
        if entry.name.startswith(prefix) and pid.isdigit() and entry.is_dir() and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one of another user counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def publish_folder(work: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``work`` folder (renames: never half-written; the old one put back if the
    second rename fails).

    Raises:
        Interrupted: a SIGINT/SIGTERM arrived during the work (``retrieval.signals.raise_if_interrupted``): nothing
            is published and ``out`` stays as it was.
    """
    raise_if_interrupted()
    if not out.exists():
        os.replace(work, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    try:
        os.replace(work, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def building(out: Path, *, needs_bytes: int = 0, flag: str = "--out") -> Iterator[Path]:
    """A hidden work folder beside ``out``: published as ``out`` when the block ends, removed if it fails.

    Raises:
        OutputError: fewer than ``needs_bytes`` free beside ``out``, or a write failed (a full disk): the
            message names the folder; the work folder (and any parent made for it) is removed and an existing
            ``out`` is left as it was.
    """
    from safetensors import SafetensorError

    out = Path(out)
    created = make_folders(out.parent, flag, OutputError)
    try:
        free = shutil.disk_usage(out.parent).free
        if free < needs_bytes:
            raise OutputError(
                f"{out.parent}: {free / 2**30:.1f} GiB free, writing {out.name} needs about "
                f"{needs_bytes / 2**30:.1f} GiB"
            )
        work = work_folder(out)
    except BaseException as exc:
        remove_folders(created)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {out}: {exc}") from exc
        raise
    try:
        yield work
        publish_folder(work, out)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        remove_folders(created)
        if isinstance(exc, OSError | SafetensorError):
            raise OutputError(f"cannot write {out}: {exc}") from exc
        raise
