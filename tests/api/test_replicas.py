"""Two real `supportbot serve` processes (separate data homes) on one PostgreSQL server of the test's own: memory,
escalations, keys and rate limits are shared; a short load run loses and leaks nothing; stopping PostgreSQL
mid-run gives 503s with a reason, loses nothing committed, and the replicas serve again once it is back.

Skips without PostgreSQL's binaries (initdb, pg_ctl: `.ci/run` installs Debian's postgresql package)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.keys import KeyStore
from graph.db import upgrade
from tests.postgres import PrivateServer, private_postgres  # noqa: F401
from tests.replicas import STATE_FILES, Replica, run_load, start_replicas

RATE_LIMIT = 40  # per key and minute, across both replicas

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def database(private_postgres: PrivateServer) -> str:  # noqa: F811
    """The database of the two replicas, with the schema (`supportbot db upgrade`'s code)."""
    upgrade(private_postgres.url)
    return private_postgres.url


@pytest.fixture(scope="module")
def replicas(database: str, bundled_index: Path, chat_service: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[list[Replica]]:  # fmt: skip
    """Two API processes on the database; each has its own data home, the index folder is shared (read-only).
    After ``chat_service`` (the session's in-process service), so the scope rail fitted for the bundled index and
    the embedder export are cached and the replicas load them instead of fitting again."""
    work = tmp_path_factory.mktemp("replicas")
    index = work / "index"
    shutil.copytree(bundled_index, index)
    started = start_replicas(database, index, work, Path(os.environ["SUPPORTBOT_HOME"]), rate_limit=RATE_LIMIT)
    yield started
    for replica in started:
        replica.stop()
    for replica in started:  # nothing went to SQLite files in a replica's home
        assert not [name for name in STATE_FILES if (replica.home / name).exists()], replica.home


@pytest.fixture(scope="module")
def keys(database: str) -> KeyStore:
    return KeyStore(Path("unused"), database_url=database)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _customer(keys: KeyStore) -> dict[str, str]:
    return _bearer(keys.create("customer")[1])


def _chat(replica: Replica, headers: dict[str, str], session: str, message: str) -> dict[str, Any]:
    response = httpx.post(f"{replica.url}/v1/chat", json={"message": message, "session_id": session},
                          headers=headers, timeout=300)  # fmt: skip
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_conversation_continues_on_the_other_replica(replicas: list[Replica], keys: KeyStore) -> None:
    one, two = replicas
    customer, session = _customer(keys), f"memory-{uuid.uuid4().hex[:8]}"
    first = _chat(one, customer, session, "How do I return an item?")
    assert first["route"] == "answered"
    follow = _chat(two, customer, session, "and how long does it take?")
    assert follow["guardrails"]["followup"]["resolved"] and follow["route"] == "answered", follow
    assert any("refund" in s["doc_id"] or "return" in s["doc_id"] for s in follow["sources"])
    transcript = httpx.get(f"{one.url}/v1/sessions/{session}", headers=customer, timeout=60).json()["messages"]
    assert [m["role"] for m in transcript] == ["user", "assistant", "user", "assistant"]
    other = _customer(keys)  # the session belongs to the first key on both replicas
    assert httpx.post(f"{two.url}/v1/chat", json={"message": "hi", "session_id": session}, headers=other,
                      timeout=60).status_code == 403  # fmt: skip


def test_turns_of_one_session_sent_to_both_replicas_at_once_are_all_kept(replicas: list[Replica],
                                                                         keys: KeyStore) -> None:  # fmt: skip
    """A PostgreSQL advisory lock per session: a turn on one replica waits for the other's instead of overwriting
    the checkpoint it read."""
    from concurrent.futures import ThreadPoolExecutor

    customer, session = _customer(keys), f"together-{uuid.uuid4().hex[:8]}"
    _chat(replicas[0], customer, session, "hello")
    questions = ["How do I return an item?", "How long does a refund take?", "Do you ship to Portugal?",
                 "Can I pay with PayPal?"]  # fmt: skip
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _chat(replicas[n % 2], customer, session, questions[n]), range(4)))
    transcript = httpx.get(f"{replicas[1].url}/v1/sessions/{session}", headers=customer, timeout=60).json()
    users = [m["content"] for m in transcript["messages"] if m["role"] == "user"]
    assert len(transcript["messages"]) == 10 and sorted(users) == sorted(["hello", *questions])


def test_an_escalation_raised_on_one_is_answered_from_the_other(replicas: list[Replica], keys: KeyStore) -> None:
    one, two = replicas
    customer, agent = _customer(keys), _bearer(keys.create("agent", "Ana")[1])
    session = f"handoff-{uuid.uuid4().hex[:8]}"
    raised = _chat(one, customer, session, "Mi pedido llegó roto. Quiero hablar con una persona, por favor.")
    escalation_id = raised["guardrails"]["handoff"]["escalation_id"]
    queue = httpx.get(f"{two.url}/v1/escalations", params={"status": "open"}, headers=agent, timeout=60).json()
    assert escalation_id in [e["id"] for e in queue["escalations"]]
    claimed = httpx.post(f"{two.url}/v1/escalations/{escalation_id}/claim", headers=agent, timeout=60)
    assert claimed.status_code == 200 and claimed.json()["status"] == "assigned"
    held = _chat(one, customer, session, "¿Hay alguien ahí?")
    assert held["route"] == "human" and held["answer"] == ""
    reply = httpx.post(f"{two.url}/v1/escalations/{escalation_id}/messages", json={"text": "Hola, soy Ana. Lo miro."},
                       headers=agent, timeout=120)  # fmt: skip
    assert reply.status_code == 201, reply.text
    seen = httpx.get(f"{one.url}/v1/sessions/{session}", headers=customer, timeout=60).json()
    assert seen["handoff"]["status"] == "assigned" and seen["handoff"]["agent"] == "Ana"
    assert [m["content"] for m in seen["messages"] if m["role"] == "agent"] == ["Hola, soy Ana. Lo miro."]
    assert httpx.post(f"{one.url}/v1/escalations/{escalation_id}/resolve", headers=agent, timeout=60).status_code == 200
    assert httpx.get(f"{two.url}/v1/sessions/{session}", headers=customer, timeout=60).json()["handoff"]["status"] \
        == "bot"  # fmt: skip


def test_personal_data_keeps_its_placeholders_from_one_replica_to_the_other(replicas: list[Replica],
                                                                             keys: KeyStore) -> None:  # fmt: skip
    """The session's placeholders are saved with it (as value hashes): a name given on one replica is redacted when
    it comes back bare on the other, and a second e-mail gets the next number there (each replica numbered from 1,
    and the bare name was stored as typed, when the map lived in a process's memory). Messages kept for an agent
    and the agent's replies use the same map."""
    one, two = replicas
    customer, agent = _customer(keys), _bearer(keys.create("agent", "Luis")[1])
    session = f"pii-{uuid.uuid4().hex[:8]}"
    _chat(one, customer, session, "Hola, soy Marta Ruiz, mi correo es marta@correo.es. ¿Cómo devuelvo un pedido?")
    _chat(two, customer, session, "Gracias Marta. Mejor escribidme a marta.trabajo@correo.es")
    raised = _chat(one, customer, session, "Quiero hablar con una persona, por favor.")
    escalation_id = raised["guardrails"]["handoff"]["escalation_id"]
    assert httpx.post(f"{two.url}/v1/escalations/{escalation_id}/claim", headers=agent, timeout=60).status_code == 200
    assert _chat(two, customer, session, "Soy Marta otra vez, mi móvil es el 612 345 678")["route"] == "human"
    reply = httpx.post(f"{one.url}/v1/escalations/{escalation_id}/messages", headers=agent, timeout=120,
                       json={"text": "Hola Marta, te escribo a marta@correo.es o al 612345678."})  # fmt: skip
    assert reply.status_code == 201, reply.text
    seen = httpx.get(f"{two.url}/v1/sessions/{session}", headers=customer, timeout=60).json()["messages"]
    said = [m["content"] for m in seen if m["role"] in ("user", "agent")]
    assert said[:2] == ["Hola, soy <PERSON_1>, mi correo es <EMAIL_1>. ¿Cómo devuelvo un pedido?",
                        "Gracias <PERSON_1>. Mejor escribidme a <EMAIL_2>"]  # fmt: skip
    assert said[3:] == ["Soy <PERSON_1> otra vez, mi móvil es el <PHONE_1>",
                        "Hola <PERSON_1>, te escribo a <EMAIL_1> o al <PHONE_1>."]  # fmt: skip


def test_a_key_revoked_on_one_replica_is_refused_by_the_other(replicas: list[Replica], keys: KeyStore) -> None:
    one, two = replicas
    keys.set_user("ana.replicas", "correct horse battery", "agent")
    signed = httpx.post(f"{two.url}/v1/auth/signin", json={"username": "ana.replicas",
                        "password": "correct horse battery"}, timeout=60)  # fmt: skip
    assert signed.status_code == 201, signed.text
    key = _bearer(signed.json()["key"])
    assert httpx.get(f"{one.url}/v1/auth/me", headers=key, timeout=60).status_code == 200
    assert httpx.post(f"{one.url}/v1/auth/signout", headers=key, timeout=60).status_code in (200, 204)
    refused = httpx.get(f"{two.url}/v1/auth/me", headers=key, timeout=60)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_client_over_its_rate_limit_is_refused_on_both(replicas: list[Replica], keys: KeyStore) -> None:
    customer = _customer(keys)
    answers: dict[str, list[int]] = {r.url: [] for r in replicas}
    started = time.monotonic()
    for n in range(3 * RATE_LIMIT):  # until both replicas have refused it
        replica = replicas[n % 2]
        answers[replica.url].append(httpx.get(f"{replica.url}/v1/auth/me", headers=customer, timeout=60).status_code)
        if all(429 in codes for codes in answers.values()):
            break
    elapsed = time.monotonic() - started
    allowed = sum(codes.count(200) for codes in answers.values())
    assert all(429 in codes for codes in answers.values()), answers
    # One bucket for both: the limit plus what refilled while the requests ran, never a bucket per replica.
    refilled = int(elapsed * RATE_LIMIT / 60) + 1
    assert RATE_LIMIT <= allowed <= RATE_LIMIT + refilled and allowed < 2 * RATE_LIMIT, (answers, elapsed)


def test_a_short_load_run_loses_and_leaks_nothing(replicas: list[Replica], keys: KeyStore) -> None:
    session_keys = [keys.create("customer", f"load-{n}")[1] for n in range(8)]
    # a turn every 1.5 s and a read every other turn: 20 requests per key in 20 s, under RATE_LIMIT (40 a minute)
    report = run_load([r.url for r in replicas], session_keys, seconds=20, check_every=2, pace=1.5)
    assert report.turns >= 8 and report.server_errors == 0 and report.transport_errors == 0, report.statuses
    assert report.lost == report.leaked == report.reordered == 0
    assert set(report.statuses) == {200} and len(report.per_replica) == 2


def test_postgres_stopped_mid_run(replicas: list[Replica], keys: KeyStore, private_postgres: PrivateServer) -> None:  # noqa: F811
    """Down: 503 with a reason on both replicas (no 500, no hang). Back: the committed turn is there and the
    conversation goes on, through the same processes."""
    one, two = replicas
    customer, session = _customer(keys), f"outage-{uuid.uuid4().hex[:8]}"
    _chat(one, customer, session, "How long does standard shipping take?")
    private_postgres.stop()
    try:
        for replica in replicas:
            down = httpx.post(f"{replica.url}/v1/chat", json={"message": "hello?", "session_id": session},
                              headers=customer, timeout=120)  # fmt: skip
            assert down.status_code == 503, down.text
            assert "database" in down.json()["detail"] and down.headers.get("retry-after")
    finally:
        private_postgres.start()
    deadline = time.monotonic() + 60
    while True:  # the pools drop dead connections and reconnect
        back = httpx.post(f"{two.url}/v1/chat", json={"message": "and to the Canary Islands?", "session_id": session},
                          headers=customer, timeout=120)  # fmt: skip
        if back.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert back.status_code == 200, back.text
    messages = httpx.get(f"{one.url}/v1/sessions/{session}", headers=customer, timeout=60).json()["messages"]
    assert next(m["content"] for m in messages if m["role"] == "user") == "How long does standard shipping take?"
    assert len(messages) == 4
