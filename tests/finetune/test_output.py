"""Output folders (finetune.output): a user's files are never replaced by mistake, a failure or an interrupt leaves
``--out`` as it was, and nothing is left beside it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune.output import OutputError, building, check_output
from retrieval.signals import Interrupted, forget_signals, record_signal


@pytest.fixture
def interrupted() -> Iterator[None]:
    """A SIGINT recorded as the command line's handler records it (its KeyboardInterrupt swallowed)."""
    record_signal(signal.SIGINT)
    yield
    forget_signals()


def test_a_non_empty_folder_is_replaced_only_when_asked_or_its_own(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=r"--out .*out already exists and is not empty \(pass --overwrite"):
        check_output(out, overwrite=False)
    with pytest.raises(OutputError, match="not an earlier `supportbot data prepare` output"):
        check_output(out, overwrite=False, earlier=lambda _f: False, command="data prepare")
    check_output(out, overwrite=False, earlier=lambda f: (f / "notes.txt").is_file(), command="data prepare")
    check_output(out, overwrite=True)
    check_output(tmp_path / "new" / "deep", overwrite=False)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the write probe leaves nothing


def test_files_inputs_and_unwritable_places_are_refused_even_with_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "conv.jsonl").write_text("{}\n", encoding="utf-8")
    a_file = tmp_path / "a_file"
    a_file.write_text("mine", encoding="utf-8")
    cases = [
        (a_file, "a_file is a file, not a folder"),
        (a_file / "x", "a_file is a file, not a folder"),
        (data, "holds the input"),
        (tmp_path, "holds the input"),
    ]
    for out, message in cases:
        with pytest.raises(OutputError, match=message):
            check_output(out, overwrite=True, inputs=[data / "conv.jsonl"])
    # Inside an input folder: `data prepare data --out data/prepared` read its own last output on the next run (6
    # conversations became 12), and `train merge --model m --out m/adapter --overwrite` replaced the adapter.
    for out in (data / "prepared", data / "sub" / "deeper"):
        with pytest.raises(OutputError, match="is inside the input folder"):
            check_output(out, overwrite=True, inputs=[data])
    check_output(tmp_path / "prepared", overwrite=False, inputs=[data])  # beside it is fine
    if Path("/proc/self").is_dir():  # a place no one can write, root included
        with pytest.raises(OutputError, match="cannot write in /proc"):
            check_output(Path("/proc/supportbot-out"), overwrite=True)
    assert a_file.read_text(encoding="utf-8") == "mine" and (data / "conv.jsonl").is_file()


def test_a_failed_build_leaves_nothing_and_a_finished_one_replaces_out(tmp_path: Path) -> None:
    out = tmp_path / "made" / "for" / "out"
    with pytest.raises(RuntimeError), building(out) as work:
        (work / "half").write_text("x", encoding="utf-8")
        raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []  # neither the work folder nor the parents made for it
    with building(out) as work:
        (work / "new").write_text("new", encoding="utf-8")
    with building(out) as work:
        (work / "newer").write_text("newer", encoding="utf-8")
    assert [p.name for p in out.iterdir()] == ["newer"] and [p.name for p in out.parent.iterdir()] == ["out"]


def test_work_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path: Path) -> None:
    # A `model trim` or `model pull` killed with SIGKILL left `.out.partial-<pid>` (a half-written model, up to
    # 1 GB) beside --out; every later run added its own and none was ever removed.
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    out = tmp_path / "out"
    stale, old = tmp_path / f".out.partial-{dead}", tmp_path / f".out.old-{dead}"
    live = tmp_path / f".out.partial-{os.getppid()}"  # a run still going (this test's parent process)
    other, resumable = tmp_path / f".other.partial-{dead}", tmp_path / ".out.partial"  # not ours to remove
    for folder in (stale, old, live, other, resumable):
        folder.mkdir()
        (folder / "model.safetensors").write_text("half", encoding="utf-8")
    with building(out) as work:
        (work / "model.safetensors").write_text("whole", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (out, old, live, other, resumable))


def test_an_interrupt_during_the_work_publishes_nothing(tmp_path: Path, interrupted: None) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_text("previous", encoding="utf-8")
    with pytest.raises(Interrupted), building(out) as work:
        (work / "model.safetensors").write_text("new", encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "model.safetensors").read_text(encoding="utf-8") == "previous"
