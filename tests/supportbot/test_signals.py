"""Ctrl-C (SIGINT) and SIGTERM stop a command before it commits anything, remove its work files and exit 130/143
with a one-line error, also when the KeyboardInterrupt lands inside a ``__del__`` (where Python only reports it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retrieval.signals import forget_signals, received_signal
from supportbot.cli import app
from supportbot.cli._common import exit_interrupted, restore_signals, stop_on_signals
from tests.conftest import REPO

runner = CliRunner()


@pytest.fixture
def handlers() -> Iterator[None]:
    """The command line's SIGINT/SIGTERM handlers, for one test (pytest's own are put back after it)."""
    stop_on_signals()
    yield
    restore_signals()
    forget_signals()


class Finalized:
    """An object whose finalizer is running when the signal arrives (the ``regex`` library's SetBase.__del__)."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


def test_a_signal_swallowed_in_a_finalizer_still_stops_the_commit(
    handlers: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("Hola, soy Ana García.\n", encoding="utf-8")
    swallowed: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", swallowed.append)
    obj = Finalized()
    del obj  # the handler runs inside __del__: it records the signal and raises nothing there
    assert received_signal() == signal.SIGINT and swallowed == []  # no "Exception ignored in ... __del__"
    result = runner.invoke(app, ["data", "redact", "--input", str(source), "--output", str(target)])
    assert result.exit_code == 130, result.output  # the redaction ran, but its commit refused to replace the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # no output, no temp file
    assert exit_interrupted(result.exit_code) == 130
    assert capsys.readouterr().err == "error: interrupted by SIGINT: stopped without writing its output\n"
    assert exit_interrupted(0) == 0  # a command that handled Ctrl-C itself (interactive chat) keeps its status


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_in_the_middle_of_a_write_commits_nothing(tmp_path: Path, signum: int, status: int) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("".join(f"Soy Ana García, llamadme al 612 345 {n % 1000:03d}.\n" for n in range(20_000)))
    target.write_text("the previous output\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "supportbot", "data", "redact", "--input", str(source), "--output", str(target)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):  # the redacted copy is being written
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the redaction never started writing"
            time.sleep(0.05)
        child.send_signal(signum)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == status, err
    assert err.strip().splitlines()[-1] == (
        f"error: interrupted by {signal.Signals(signum).name}: stopped without writing its output"
    )
    assert "Traceback" not in err and "Exception ignored" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.txt"]  # no temp file left
    assert target.read_text(encoding="utf-8") == "the previous output\n"
