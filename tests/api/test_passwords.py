"""Console passwords (api.passwords): the policy a new one meets, through `supportbot keys user` and the key store;
scrypt at n=2^17 for new hashes; an older n=2^14 hash signs in through the API and is stored again at the new cost;
sign-ins beyond the hashing slots wait without a worker thread."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.config import ApiConfig
from api.keys import ApiKeyError, KeyStore
from api.passwords import (
    CONCURRENT_HASHES,
    MIN_LENGTH,
    SCRYPT_N,
    check_password,
    common_passwords,
    hash_password,
    password_problem,
)
from supportbot.cli import app as cli
from tests.api.conftest import Gate, others_served_during

runner = CliRunner()


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data home for `supportbot keys` (its settings are read again)."""
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _stored_hash(home: Path, username: str) -> str | None:
    store = KeyStore(home / "api" / "keys.sqlite")
    try:
        row = store.db.one("SELECT password_hash FROM users WHERE username = ?", (username,))
    finally:
        store.close()
    return str(row["password_hash"]) if row else None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("abcd-1234", "at least 12 characters"),  # 9 characters: `keys user` took 8 and more
        ("short pass!", "at least 12 characters"),
        ("password1234", "too common"),
        ("P@ssw0rd2024!", "too common"),
        ("Contraseña123", "too common"),
        ("holaholahola", "too common"),
        ("qwertyuiop123", "too common"),
        ("123456789012", "run of letters, digits or keyboard keys"),
        ("aaaaaaaaaaaaaaa", "short pattern repeated"),
        ("supportbot-rocks-2026", "the user's name or the service's name"),
        ("maria.lopez spring", "the user's name or the service's name"),
    ],
)
def test_keys_user_refuses_a_weak_password_and_never_shows_it(cli_home: Path, password: str, reason: str) -> None:
    # `supportbot keys user` wanted 8 characters and nothing else: "password1234" and "P@ssw0rd2024!" were saved.
    result = runner.invoke(cli, ["keys", "user", "maria.lopez", "--password-stdin"], input=password + "\n")
    assert result.exit_code == 2, result.output
    assert reason in result.output and password not in result.output and password.lower() not in result.output.lower()
    assert _stored_hash(cli_home, "maria.lopez") is None


def test_keys_user_saves_a_good_password_at_the_new_cost(cli_home: Path) -> None:
    result = runner.invoke(cli, ["keys", "user", "ana", "--password-stdin"], input="tres tristes tigres\n")
    assert result.exit_code == 0, result.output
    stored = _stored_hash(cli_home, "ana")
    assert stored is not None and stored.startswith(f"scrypt${2**17}$8$1$")  # it was n=2^14 (scrypt$16384$8$1$...)
    assert check_password("tres tristes tigres", stored) and not check_password("tres tristes tigre", stored)


def test_the_key_store_applies_the_policy_for_every_caller(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite", password_scrypt_n=2**14)
    with pytest.raises(ApiKeyError, match="at least 12 characters") as short:
        store.set_user("ana", "pw", "agent")  # KeyStore.set_user took any non-empty password
    with pytest.raises(ApiKeyError, match="too common") as common:
        store.set_user("ana", "iloveyou2024", "agent")
    assert "pw" not in str(short.value).split() and "iloveyou" not in str(common.value)
    store.set_user("ana", "un gato en el tejado", "agent")
    assert store.verify_user("ana", "un gato en el tejado") == "agent"
    store.close()


def test_the_policy_keeps_ordinary_passphrases() -> None:
    for fine in ("correct horse battery", "una clave larga", "Mi perro se llama Toby 7", "tr0mb0n3-s0l4r-7"):
        assert password_problem(fine, "ana") is None, fine
    assert len(common_passwords()) > 400 and all(p == p.lower() for p in common_passwords())
    assert password_problem("ab" * MIN_LENGTH) is not None and password_problem("x" * 5000) is not None


def test_an_old_cheap_hash_signs_in_and_is_stored_again_at_the_new_cost(
    api_config: ApiConfig, chat_service: Any
) -> None:
    # A user saved before 2026-12 (n=2^14), with a password shorter than today's policy: not locked out; their
    # first good sign-in stores the hash again at n=2^17, a wrong one changes nothing.
    config = dataclasses.replace(api_config, password_scrypt_n=SCRYPT_N)  # production's cost, not the tests' lower one
    store = KeyStore(config.keys_db)
    old = hash_password("old-pw1", n=2**14)  # 7 characters: the key store took any password
    with store.db.transaction() as cur:
        cur.execute("INSERT INTO users (username, role, password_hash, created) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash",
                    ("old.timer", "agent", old, "2026-01-01T00:00:00Z"))  # fmt: skip

    def stored() -> str:
        return str(store.db.one("SELECT password_hash FROM users WHERE username = ?", ("old.timer",))["password_hash"])

    with TestClient(create_app(config, service=chat_service)) as client:
        wrong = client.post("/v1/auth/signin", json={"username": "old.timer", "password": "old-pw2"})
        assert wrong.status_code == 401 and stored() == old
        signed = client.post("/v1/auth/signin", json={"username": "old.timer", "password": "old-pw1"})
        assert signed.status_code == 201 and signed.json()["role"] == "agent", signed.text
        assert stored().startswith(f"scrypt${SCRYPT_N}$8$1$") and stored() != old
        again = client.post("/v1/auth/signin", json={"username": "old.timer", "password": "old-pw1"})
        assert again.status_code == 201  # the new hash checks the same password
    assert check_password("old-pw1", stored())
    store.close()


def test_the_cost_is_production_s_unless_a_test_lowers_it_and_never_below_the_old_one() -> None:
    from supportbot.settings import get_settings

    assert ApiConfig(home=Path("h"), index_dir=Path("i")).password_scrypt_n == SCRYPT_N == 2**17
    assert ApiConfig.from_settings(get_settings()).password_scrypt_n == SCRYPT_N  # no process setting lowers it
    for weak in (2**10, 2**14 + 1, 2**21):
        with pytest.raises(ValueError, match="power of two"):
            ApiConfig(home=Path("h"), index_dir=Path("i"), password_scrypt_n=weak)


def test_sign_ins_beyond_the_hashing_slots_wait_without_a_worker_thread(
    app: Any, client: TestClient, keys: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each check now takes 128 MiB and ~0.4 s: 60 sign-ins at once from one address (its sign-in limit) ran 40 checks
    # at once (5.4 GB resident) on the 40 worker threads, and another key's GET /v1/auth/me waited 48 s. The key
    # store's sign-in is replaced by one that holds until released and counts the checks inside it at once.
    gate = Gate()

    def sign_in(username: str, password: str) -> None:
        gate.hold()

    monkeypatch.setattr(app.state.runtime.keys, "sign_in", sign_in)
    codes: list[int] = []

    def send() -> None:
        codes.append(client.post("/v1/auth/signin", json={"username": "nobody", "password": "guess"}).status_code)

    others_served_during(client, keys, send, gate)
    assert gate.most == CONCURRENT_HASHES and codes == [401] * 45
