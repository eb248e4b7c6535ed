"""The key store (hashed, revocable, session ownership) and the `supportbot keys` and `serve` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.keys import ApiKeyError, KeyStore, hash_key
from api.ratelimit import RateLimiter
from supportbot.cli import app

runner = CliRunner()


def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite")
    record, key = store.create("agent", "ops laptop")
    for name in ("Ana García", "O'Neil", "user:ana.lopez@example.com", ""):  # plain names stay welcome
        store.create("agent", name)
    with pytest.raises(ApiKeyError):
        store.create("agent", "![x](//evil.example/pixel.png)")
    assert key.startswith(f"sb_{record.id}_") and len(key) > 40
    assert store.authenticate(key) == record
    assert store.authenticate(key + "x") is None
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key.encode() not in raw and hash_key(key).encode() in raw
    store = KeyStore(tmp_path / "keys.sqlite")
    assert store.revoke(record.id).revoked and store.authenticate(key) is None
    with pytest.raises(ApiKeyError, match="no API key"):
        store.revoke("missing")
    with pytest.raises(ApiKeyError, match="role must be one of"):
        store.create("superuser")


def test_a_session_has_one_owner_even_under_concurrency(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite")
    owners: list[str] = []
    threads = [threading.Thread(target=lambda i=i: owners.append(store.claim_session("s", f"k{i}"))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(owners)) == 1 and store.session_owner("s") == owners[0]
    assert store.session_owner("other") is None


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(30.0) and limiter.retry_after(wait) == "30"
    assert limiter.acquire("b") == 0.0
    now[0] = 30.0
    assert limiter.acquire("a") == 0.0


def test_keys_cli_create_list_revoke() -> None:
    created = runner.invoke(app, ["keys", "create", "--role", "admin", "--name", "cli-test", "--json"])
    assert created.exit_code == 0, created.output
    record = json.loads(created.stdout)
    assert record["role"] == "admin" and record["key"].startswith("sb_")
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    mine = [k for k in listed if k["id"] == record["id"]]
    assert mine and "key" not in mine[0] and mine[0]["revoked"] is None
    revoked = runner.invoke(app, ["keys", "revoke", record["id"]])
    assert revoked.exit_code == 0 and "revoked admin key" in revoked.output
    assert runner.invoke(app, ["keys", "list"]).output.count(record["id"]) == 1


def test_keys_cli_errors_are_clear() -> None:
    bad_role = runner.invoke(app, ["keys", "create", "--role", "root"])
    assert bad_role.exit_code == 2 and "role must be one of customer, agent, admin" in bad_role.output
    missing = runner.invoke(app, ["keys", "revoke", "nope"])
    assert missing.exit_code == 1 and "no API key with id 'nope'" in missing.output
    # a name is shown to customers as their agent's: no Markdown link or image in it
    linked = runner.invoke(app, ["keys", "create", "--role", "agent", "--name", "[Ana](//evil.example)"])
    assert linked.exit_code == 2 and "a key's name is at most 80 letters" in linked.output


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_keys_user_with_a_password_that_is_not_utf8_is_a_clear_error(tmp_path: Path, errors: str) -> None:
    # A Latin-1 password on stdin ("contraseña" from a Latin-1 terminal) stopped with a traceback: a
    # UnicodeDecodeError reading it (strict stdin) or a UnicodeEncodeError hashing it (a C locale's surrogates)
    env = {**os.environ, "SUPPORTBOT_HOME": str(tmp_path), "PYTHONIOENCODING": f"utf-8:{errors}"}
    env.pop("SUPPORTBOT_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "supportbot", "keys", "user", "ana", "--password-stdin"],
                            input="contraseña1\n".encode("latin-1"), capture_output=True, env=env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode() == "error: the password on standard input is not UTF-8 text\n"
    assert "ana" not in runner.invoke(app, ["keys", "users"], env={"SUPPORTBOT_HOME": str(tmp_path)}).output


def test_serve_without_an_index_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_INDEX_DIR", str(tmp_path / "no-index"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no knowledge-base index" in result.output and "supportbot kb ingest data/kb" in result.output


def _serve_with(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from supportbot.settings import get_settings

    index = tmp_path / "index"
    index.mkdir()
    (index / "CURRENT").write_text("v-x\n")  # serve stops before it loads the index, or fails to bind
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SUPPORTBOT_INDEX_DIR", str(index))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return runner.invoke(app, ["serve", "--host", "203.0.113.1", "--port", "1"])  # an address not this host's
    finally:
        get_settings.cache_clear()


def test_serve_with_a_redis_url_that_is_not_one_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It printed redis-py's ValueError traceback."""
    result = _serve_with({"SUPPORTBOT_REDIS_URL": "http://cache:6379"}, tmp_path, monkeypatch)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "redis_url must be a redis://, rediss:// or unix:// URL" in result.output


def test_serve_with_an_unreachable_redis_stops_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It started, /readyz said ok, and every request was a 503 (a 500 when Redis hung)."""
    from tests.postgres import free_port

    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    result = _serve_with({"SUPPORTBOT_REDIS_URL": url}, tmp_path, monkeypatch)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in result.output
    assert "pw@" not in result.output


def test_serve_on_a_port_in_use_says_so_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second replica started on the first one's port loaded the whole service, then printed uvicorn's bind error
    and exited 3; `supportbot ui` and `demo` already said which port to change."""
    import socket

    from supportbot.settings import get_settings

    index = tmp_path / "index"
    index.mkdir()
    (index / "CURRENT").write_text("v-x\n")
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SUPPORTBOT_INDEX_DIR", str(index))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        get_settings.cache_clear()
        try:
            result = runner.invoke(app, ["serve", "--port", str(port)])
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert f"port {port} on 127.0.0.1 is already in use: pass another --port" in result.output


@pytest.mark.parametrize("pii_key", [None, "a-long-random-deployment-secret"])
def test_serve_without_a_pii_key_warns_that_a_copied_database_gives_the_values_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pii_key: str | None
) -> None:
    """Without SUPPORTBOT_PII_KEY a session's keyed hashes of what the customer typed are keyed by its salt alone,
    which the same checkpoint holds: from a copy of the state database every DNI was found by trying them all (one
    core: 12345678Z after 345,679 guesses in 0.9 s, the whole space in minutes), phone numbers alike. `serve` started
    without the key and said nothing, as `supportbot demo` and docker compose's default leave it unset."""
    from api import server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)  # the warning comes before the server runs
    monkeypatch.delenv("SUPPORTBOT_PII_KEY", raising=False)
    result = _serve_with({"SUPPORTBOT_PII_KEY": pii_key} if pii_key else {}, tmp_path, monkeypatch)
    warned = "warning: SUPPORTBOT_PII_KEY is not set" in result.output
    assert warned == (pii_key is None), result.output


def test_keys_list_says_when_a_console_sign_in_has_expired() -> None:
    # An operator upgrading from a version whose sign-in keys never expired checked `supportbot keys list`: a
    # sign-in's key past SUPPORTBOT_SIGNIN_HOURS was listed "active" (JSON: nothing said so) while the API answered
    # 401 "this console sign-in has expired" for it.
    store = runner.invoke(app, ["keys", "create", "--role", "agent", "--name", "a script", "--json"])
    plain = json.loads(store.stdout)
    from api.config import ApiConfig
    from supportbot.settings import get_settings

    keys = ApiConfig.from_settings(get_settings()).key_store()
    keys.set_user("list-shift", "copper kettle sings at noon", "agent")
    fresh, _ = keys.sign_in("list-shift", "copper kettle sings at noon")  # type: ignore[misc]
    old, _ = keys.sign_in("list-shift", "copper kettle sings at noon")  # type: ignore[misc]
    with keys.db.transaction() as cur:
        cur.execute("UPDATE api_keys SET created = ? WHERE id = ?", ("2026-01-01T00:00:00Z", old.id))
    listed = {k["id"]: k for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)}
    assert listed[plain["id"]]["expires_at"] is None
    assert listed[fresh.id]["expires_at"] == keys.expires_at(fresh) and not listed[fresh.id]["expired"]
    assert listed[old.id]["expires_at"] == "2026-01-01T12:00:00Z" and listed[old.id]["expired"]
    lines = {line.split()[0]: line for line in runner.invoke(app, ["keys", "list"]).output.splitlines()}
    assert "expired 2026-01-01T12:00:00Z" in lines[old.id] and "active" not in lines[old.id]
    assert "active" in lines[fresh.id] and "active" in lines[plain["id"]]
    keys.close()


def test_keys_create_refuses_a_console_users_name() -> None:
    # `keys create --name user:bob` made a key the API took for console user bob's sign-in: it stopped working after
    # SUPPORTBOT_SIGNIN_HOURS (keys made with `keys create` do not expire), a new password for bob revoked it, and its
    # claims were bob's. Found upgrading from a version whose sign-in keys never expired.
    made = runner.invoke(app, ["keys", "create", "--role", "agent", "--name", "user:bob"])
    assert made.exit_code == 2 and "user:" in made.output and "keys user" in made.output, made.output
    assert runner.invoke(app, ["keys", "create", "--role", "agent", "--name", "User:Bob"]).exit_code == 2
    assert "user:bob" not in runner.invoke(app, ["keys", "list"]).output.lower()


def test_only_a_sign_ins_key_expires_whatever_the_case_of_its_name(tmp_path: Path) -> None:
    # The SQL of a live key said `name NOT LIKE 'user:%'`: SQLite's LIKE ignores case, so a key named "User:Bob"
    # (made before `keys create` refused such names) stopped working after SUPPORTBOT_SIGNIN_HOURS on SQLite, not on
    # PostgreSQL, while expires_at said it never expires and the API did not take it for a sign-in.
    store = KeyStore(tmp_path / "keys.sqlite", password_scrypt_n=2**14)
    made, key = store.create("agent", "User:Bob")
    with store.db.transaction() as cur:
        cur.execute("UPDATE api_keys SET created = ? WHERE id = ?", ("2026-01-01T00:00:00Z", made.id))
    found = store.authenticate(key)
    assert found is not None and store.expires_at(found) is None and not store.record_expired(found)
    store.close()
