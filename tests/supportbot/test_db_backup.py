"""``supportbot db backup``: a consistent, checked, atomic archive of the SQLite state of a data home, taken while the
service writes to it, that restores into a working data home (the SRE QA pass, 2026-12-08: there was no backup, and
copying a live ``support.sqlite`` in WAL mode leaves out what is still in its ``-wal`` file)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supportbot.cli import app

runner = CliRunner()
SESSIONS = ("s-ana", "s-ben", "s-carla")


def _invoke(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str) -> Result:
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(home))
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear()


class LiveHome:
    """A data home as a running API holds it: the three state files open in WAL mode, with rows in them."""

    def __init__(self, home: Path) -> None:
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.sqlite import SqliteSaver

        from api.keys import KeyStore
        from graph.db import connect_private
        from graph.store import SupportStore

        self.store = SupportStore(home / "support.sqlite")
        self.keys = KeyStore(home / "api" / "keys.sqlite", password_scrypt_n=2**14)
        self.conn = connect_private(home / "checkpoints.sqlite")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.saver = SqliteSaver(self.conn)
        self.key, self.secret = self.keys.create("customer", name="ui")
        for session in SESSIONS:
            self.saver.put({"configurable": {"thread_id": session, "checkpoint_ns": ""}}, empty_checkpoint(),
                           {"source": "input", "step": 0}, {})  # fmt: skip
            self.keys.claim_session(session, self.key.id)
            case = self.store.add_escalation(session, "es", "customer_request", [{"role": "user", "content": "hola"}])
        self.store.claim(case["id"], "agent-1")
        self.store.add_customer_message(SESSIONS[-1], "¿sigue ahí?", 1)
        self.store.add_feedback(SESSIONS[0], 0, "up")

    def close(self) -> None:
        self.store.close()
        self.keys.db.close()
        self.conn.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHome]:
    home = LiveHome(tmp_path / "home")
    try:
        yield home
    finally:
        home.close()


def _members(archive: Path, into: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(into, filter="data")
    assert names[0] == "supportbot-backup.json"
    manifest: dict[str, Any] = json.loads((into / names[0]).read_text("utf-8"))
    return manifest


def test_a_backup_holds_what_is_still_in_the_write_ahead_log(
    live: LiveHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, out = tmp_path / "home", tmp_path / "backups" / "state.tar"
    out.parent.mkdir()
    # While the service has the files open, what it wrote last is in support.sqlite-wal: a copy of the file alone
    # does not have it (the trap this command is for).
    assert (home / "support.sqlite-wal").stat().st_size > 0
    naive = tmp_path / "naive.sqlite"
    shutil.copyfile(home / "support.sqlite", naive)
    with contextlib.closing(sqlite3.connect(naive)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "escalations" not in tables or db.execute("SELECT COUNT(*) FROM escalations").fetchone()[0] < 3

    result = _invoke(monkeypatch, home, "db", "backup", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "[1/3] copying support.sqlite" in result.output
    assert f"to {out} (" in result.output and "escalations 3" in result.output and "sessions 3" in result.output
    assert out.stat().st_mode & 0o777 == 0o600  # conversations: the owner's only
    assert sorted(p.name for p in out.parent.iterdir()) == ["state.tar"]  # no temp files left

    manifest = _members(out, tmp_path / "extracted")
    got = {entry["path"]: entry for entry in manifest["files"]}
    assert set(got) == {"support.sqlite", "checkpoints.sqlite", "api/keys.sqlite"}
    assert got["support.sqlite"]["counts"] == {"escalations": 3, "hand-off messages": 1, "feedback": 1,
                                               "knowledge gaps": 0}  # fmt: skip
    assert got["checkpoints.sqlite"]["counts"] == {"sessions": 3}
    assert got["api/keys.sqlite"]["counts"] == {"API keys": 1, "console users": 0, "session owners": 3}
    for path in got:
        with contextlib.closing(sqlite3.connect(tmp_path / "extracted" / path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
        assert not (tmp_path / "extracted" / f"{path}-wal").exists()


def test_a_backup_taken_during_writes_is_consistent(
    live: LiveHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escalations keep being opened (each with its history row, in one transaction) while the backup runs: the copy
    passes SQLite's integrity check and has no escalation without its history."""
    stop, written = threading.Event(), []

    def write() -> None:
        while not stop.is_set():
            session = f"busy-{len(written)}"
            live.store.add_escalation(session, "en", "customer_request", [{"role": "user", "content": "x" * 2000}])
            written.append(session)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 20:
            stop.wait(0.01)
        result = _invoke(monkeypatch, tmp_path / "home", "db", "backup", "--out", str(tmp_path / "state.tar"))
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    _members(tmp_path / "state.tar", tmp_path / "x")
    with contextlib.closing(sqlite3.connect(tmp_path / "x" / "support.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = db.execute("SELECT COUNT(*) FROM escalations").fetchone()[0]
        orphans = db.execute("SELECT COUNT(*) FROM escalations e WHERE NOT EXISTS (SELECT 1 FROM escalation_events v "
                             "WHERE v.escalation_id = e.id)").fetchone()[0]  # fmt: skip
    assert 3 + 20 <= count <= 3 + len(written) and orphans == 0


def test_a_restored_backup_is_a_working_data_home(
    live: LiveHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restore steps of docs/api.md: extract the archive into an empty data home; the service's stores open it
    and `supportbot db purge` reads it."""
    from api.keys import KeyStore
    from graph.db import connect_private
    from graph.store import SupportStore

    assert _invoke(monkeypatch, tmp_path / "home", "db", "backup", "--out", str(tmp_path / "s.tar")).exit_code == 0
    restored = tmp_path / "restored"
    restored.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "s.tar"), "-C", str(restored), "support.sqlite",
                    "checkpoints.sqlite", "api/keys.sqlite"], check=True)  # fmt: skip
    store = SupportStore(restored / "support.sqlite")
    keys = KeyStore(restored / "api" / "keys.sqlite", password_scrypt_n=2**14)
    conn = connect_private(restored / "checkpoints.sqlite")
    try:
        assert {e["session_id"] for e in store.escalations()} == set(SESSIONS)
        assert store.feedback()[0]["session_id"] == SESSIONS[0]
        key = keys.authenticate(live.secret)
        assert key is not None and key.id == live.key.id
        assert {t[0] for t in conn.execute("SELECT thread_id FROM checkpoints")} == set(SESSIONS)
    finally:
        store.close()
        keys.db.close()
        conn.close()
    purge = _invoke(monkeypatch, restored, "db", "purge", "--older-than", "30", "--dry-run", "--json")
    assert purge.exit_code == 0, purge.output
    assert json.loads(purge.stdout)["sessions"]["total"] == 0  # all of them recent: read, and kept


def test_an_existing_file_is_replaced_only_with_force(
    live: LiveHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "state.tar"
    out.write_text("yesterday's backup")
    refused = _invoke(monkeypatch, tmp_path / "home", "db", "backup", "--out", str(out))
    assert refused.exit_code == 1 and f"{out} exists: pass --force" in refused.output
    assert out.read_text() == "yesterday's backup"
    forced = _invoke(monkeypatch, tmp_path / "home", "db", "backup", "--out", str(out), "--force", "--json")
    assert forced.exit_code == 0, forced.output
    report = json.loads(forced.stdout)
    assert report["out"] == str(out) and report["bytes"] == out.stat().st_size and tarfile.is_tarfile(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "state.tar"]


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only: a read-only bind mount as root (file modes do not stop root), its modes otherwise."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("mount") is None or subprocess.run(["mount", "--bind", str(folder), str(folder)],
                                                       capture_output=True).returncode:  # fmt: skip
        pytest.skip("cannot make a folder read-only here (root without mount)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder), str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


def test_a_target_that_cannot_be_written_is_a_clear_error(
    live: LiveHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with _read_only(folder):
        result = _invoke(monkeypatch, tmp_path / "home", "db", "backup", "--out", str(folder / "state.tar"))
    assert result.exit_code == 1 and f"cannot write in {folder}" in result.output, result.output
    assert "Traceback" not in result.output and not list(folder.iterdir())


@pytest.mark.parametrize(
    ("setup", "args", "code", "message"),
    [
        ("live", ["--url", "postgresql://sb:secret@db.internal:5432/sb"], 2, "back it up with pg_dump"),
        ("live", ["--url", "notaurl"], 2, "--url 'notaurl' is not a PostgreSQL URL"),
        ("live", ["--out", "{tmp}/missing/state.tar"], 1, "the folder of --out {tmp}/missing/state.tar does not exist"),
        ("live", ["--out", "{tmp}/home/support.sqlite/x.tar"], 1, "does not exist (or is not a folder)"),
        ("live", ["--out", "{tmp}"], 1, "--out {tmp} is a folder"),
        ("empty", [], 1, "no supportbot state in the data home {tmp}/home"),
        ("garbage", [], 1, "cannot back up {tmp}/home/support.sqlite (file is not a database)"),
        ("other", [], 1, "{tmp}/home/support.sqlite is no supportbot store database (it has no escalations table)"),
    ],
)
def test_bad_input_is_a_clear_error(
    setup: str, args: list[str], code: int, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceback, no archive, nothing left in the target folder, and no password in the message."""
    home = tmp_path / "home"
    live = LiveHome(home) if setup == "live" else None
    home.mkdir(exist_ok=True)
    if setup == "garbage":
        (home / "support.sqlite").write_bytes(b"not sqlite at all" * 100)
    elif setup == "other":
        with contextlib.closing(sqlite3.connect(home / "support.sqlite")) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "state.tar")]
    try:
        result = _invoke(monkeypatch, home, "db", "backup", *args)
    finally:
        if live is not None:
            live.close()
    assert result.exit_code == code and message.replace("{tmp}", str(tmp_path)) in result.output, result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    assert not (tmp_path / "state.tar").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
