"""The shared state on both backends (SQLite files, PostgreSQL): the support store, the key store, the rate limiters
and the LangGraph checkpointer; two store objects stand for two API replicas. PostgreSQL cases skip without
SUPPORTBOT_TEST_DATABASE_URL; the outage cases run a private server (skip without PostgreSQL's binaries)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.keys import ApiKeyError, KeyStore
from api.ratelimit import PostgresRateLimiter, RateLimiter, RedisRateLimiter, make_limiter
from graph.config import GraphConfig
from graph.db import DatabaseUnavailable, SchemaMissing, upgrade
from graph.store import EscalationConflict, SupportStore
from tests.postgres import pg_url, private_postgres, redis_url, state_backend  # noqa: F401

Factory = Callable[[], SupportStore]


@pytest.fixture
def stores(state_backend: str | None, tmp_path: Path) -> Factory:  # noqa: F811
    """Open another SupportStore on the same state (an API replica's)."""
    return lambda: SupportStore(tmp_path / "support.sqlite", database_url=state_backend)


@pytest.fixture
def key_stores(state_backend: str | None, tmp_path: Path) -> Callable[[], KeyStore]:  # noqa: F811
    return lambda: KeyStore(tmp_path / "keys.sqlite", database_url=state_backend)


def _session(tag: str) -> str:
    import uuid

    return f"{tag}-{uuid.uuid4().hex[:8]}"


def test_lifecycle_across_two_replicas(stores: Factory) -> None:
    one, two = stores(), stores()
    session = _session("life")
    first = one.add_escalation(session, "es", "customer_request", [{"role": "user", "content": "hola"}])
    assert two.add_escalation(session, "es", "again", [])["id"] == first["id"]  # one active escalation
    assert two.add_escalation(session, "es", "sigo esperando", [], actor="customer")["id"] == first["id"]
    history = [(e["action"], e["note"]) for e in one.escalation(first["id"])["history"]]
    assert history == [("opened", "customer_request"), ("asked_again", "sigo esperando")], history
    assert two.handoff_status(session)["status"] == "waiting"
    assert one.add_customer_message(session, "¿hay alguien?", 1) is None  # nobody holds it: the bot answers
    assert two.claim(first["id"], "ana", "Ana")["status"] == "assigned"
    with pytest.raises(EscalationConflict, match=r"assigned to another agent \(Ana\)"):
        one.claim(first["id"], "bob")
    asked = one.add_customer_message(session, "¿hay alguien?", 1)
    reply = two.add_agent_message(first["id"], "ana", "Hola, soy Ana", 1)
    assert asked is not None and reply["id"] > asked["id"] and reply["author"] == "Ana"
    merged = one.transcript(session, [{"role": "user", "content": "hola"}])
    assert [m["content"] for m in merged] == ["hola", "¿hay alguien?", "Hola, soy Ana"]
    assert one.resolve(first["id"], "ana", "done")["status"] == "resolved"
    actions = [h["action"] for h in two.escalation(first["id"])["history"]]
    assert actions == ["opened", "asked_again", "claimed", "resolved"]
    assert two.handoff_status(session) == {"status": "bot", "escalation_id": first["id"], "agent": None,
                                           "last": "resolved"}  # fmt: skip


def test_one_winner_when_replicas_claim_at_once(stores: Factory) -> None:
    replicas = [stores() for _ in range(2)]
    session = _session("race")
    escalation = replicas[0].add_escalation(session, "en", "customer_request", [])
    results: list[str] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        try:
            replicas[n % 2].claim(escalation["id"], f"agent-{n}")
            results.append("won")
        except EscalationConflict:
            results.append("409")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["409"] * 7 + ["won"]


def test_one_active_escalation_when_replicas_escalate_at_once(stores: Factory) -> None:
    replicas = [stores() for _ in range(2)]
    session = _session("twice")
    ids: list[str] = []
    barrier = threading.Barrier(6)

    def escalate(n: int) -> None:
        barrier.wait()
        ids.append(replicas[n % 2].add_escalation(session, "en", "customer_request", [])["id"])

    threads = [threading.Thread(target=escalate, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert len([e for e in replicas[0].escalations(limit=1000) if e["session_id"] == session]) == 1


def test_a_session_lock_is_re_entrant_and_holds_the_other_replica_off(stores: Factory) -> None:
    """A thread holding a session's lock may take it again (on PostgreSQL a second advisory lock from another pooled
    connection would wait for the first forever); another replica's holder waits until it is released."""
    one, two = stores(), stores()
    key, order = f"turn:{_session('lock')}", []

    def other() -> None:
        with two.db.exclusive(key):
            order.append("other")

    with one.db.exclusive(key):
        with one.db.exclusive(key):  # re-entered by this thread
            order.append("nested")
        waiter = threading.Thread(target=other)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and order == ["nested"]  # held off while this thread holds the key
    waiter.join(10)
    assert order == ["nested", "other"]


def test_feedback_and_gaps_are_shared(stores: Factory) -> None:
    one, two = stores(), stores()
    session = _session("fb")
    one.add_feedback(session, 0, "down", "wrong")
    assert [f["comment"] for f in two.feedback(limit=1000) if f["session_id"] == session] == ["wrong"]
    question = f"where is my parcel {session}"
    for store in (one, two, one):
        store.record_gap(question, "en")
    assert {"question": question, "lang": "en", "count": 3} in [
        {k: g[k] for k in ("question", "lang", "count")} for g in two.knowledge_gaps(limit=1000)
    ]


def test_keys_revoked_on_one_replica_are_refused_by_the_other(key_stores: Callable[[], KeyStore]) -> None:
    one, two = key_stores(), key_stores()
    record, key = one.create("agent", "laptop")
    assert two.authenticate(key) == record
    two.revoke(record.id)
    assert one.authenticate(key) is None
    owners: list[str] = []
    session = _session("own")
    threads = [threading.Thread(target=lambda i=i: owners.append((one, two)[i % 2].claim_session(session, f"k{i}")))
               for i in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(owners)) == 1 and two.session_owner(session) == owners[0]
    one.set_user("ana", "correct horse", "agent")
    assert two.verify_user("ana", "correct horse") == "agent" and two.verify_user("ana", "wrong") is None
    two.disable_user("ana")  # `supportbot keys user ana --disable` on either replica
    assert one.verify_user("ana", "correct horse") is None
    with pytest.raises(ApiKeyError, match="no console user"):
        one.disable_user("nobody")


def test_checkpointer_memory_is_shared(state_backend: str | None, tmp_path: Path) -> None:  # noqa: F811
    """A conversation's checkpoint written through one service's checkpointer is read through another's."""
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    from graph.service import open_checkpointer

    class Turns(TypedDict):
        turns: list[str]

    def build(checkpointer: Any) -> Any:
        builder = StateGraph(Turns)
        builder.add_node("remember", lambda state: {"turns": state["turns"]})
        builder.add_edge(START, "remember")
        return builder.compile(checkpointer=checkpointer)

    config = GraphConfig(index_dir=tmp_path, checkpoint_db=tmp_path / "c.sqlite", database_url=state_backend)
    (one, _), (two, _) = open_checkpointer(config), open_checkpointer(config)
    thread = {"configurable": {"thread_id": _session("mem")}}
    build(one).invoke({"turns": ["¿cuánto tarda el envío?"]}, thread)
    graph_two = build(two)
    assert graph_two.get_state(thread).values["turns"] == ["¿cuánto tarda el envío?"]
    graph_two.invoke({"turns": ["¿cuánto tarda el envío?", "¿y a Canarias?"]}, thread)
    assert build(one).get_state(thread).values["turns"][-1] == "¿y a Canarias?"


def test_rate_limit_counts_once_across_replicas(pg_url: str) -> None:  # noqa: F811
    one, two = (make_limiter(3, database=KeyStore(Path("unused"), database_url=pg_url).db) for _ in range(2))
    assert isinstance(one, PostgresRateLimiter)
    key = _session("rl")
    waits = [limiter.acquire(key) for limiter in (one, two, one, two)]
    assert waits[:3] == [0.0, 0.0, 0.0] and 0 < waits[3] <= 20.5  # 3 per minute: the 4th waits ~20 s
    assert two.acquire(_session("other")) == 0.0


def test_rate_limit_in_redis(redis_url: str) -> None:  # noqa: F811
    one, two = make_limiter(2, redis_url=redis_url), make_limiter(2, redis_url=redis_url)
    assert isinstance(one, RedisRateLimiter)
    key = _session("redis")
    assert [one.acquire(key), two.acquire(key)] == [0.0, 0.0]
    assert 0 < one.acquire(key) <= 30.5 and 0 < two.acquire(key) <= 30.5
    assert type(make_limiter(2)) is RateLimiter  # no shared store configured: process memory


def test_a_redis_that_hangs_is_unavailable_not_a_crash() -> None:
    """A Redis that accepts and never answers (hung, a partition) timed out with redis' TimeoutError: a 500."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        limiter = RedisRateLimiter(5, f"redis://127.0.0.1:{server.getsockname()[1]}/0", timeout=0.5)
        with pytest.raises(DatabaseUnavailable, match=r"the rate-limit store \(Redis at redis://127.0.0.1:\d+/0\)"):
            limiter.acquire("key")


def test_a_database_without_the_schema_says_to_upgrade(pg_url: str) -> None:  # noqa: F811
    from tests.postgres import create_database, drop_database

    empty = pg_url.rsplit("/", 1)[0] + "/postgres"  # the server's maintenance database has no supportbot schema
    with pytest.raises(SchemaMissing, match="supportbot db upgrade"):
        SupportStore(Path("unused"), database_url=empty)
    fresh = create_database("sbupgrade")
    try:
        again = upgrade(fresh)  # idempotent
        assert again["before"] == again["after"] and again["after"]["current"]
    finally:
        drop_database(fresh)


def test_db_cli_upgrade_status_and_errors(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    from supportbot.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade", "--url", pg_url, "--json"])
    assert result.exit_code == 0, result.output
    assert '"current": true' in result.output
    assert runner.invoke(app, ["db", "status", "--url", pg_url]).exit_code == 0
    maintenance = pg_url.rsplit("/", 1)[0] + "/postgres"
    status = runner.invoke(app, ["db", "status", "--url", maintenance])
    assert status.exit_code == 1 and "needs `supportbot db upgrade`" in status.output
    down = runner.invoke(app, ["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:1/none"])
    assert down.exit_code == 1 and "cannot connect to the database" in down.output and "Traceback" not in down.output


def test_db_upgrade_run_at_once_by_two_deploys_both_succeed(pg_url: str) -> None:  # noqa: F811
    """Two `supportbot db upgrade` processes on one empty database (two deploy jobs, two replicas' init containers):
    both exit 0 and the schema is made once; the loser of the race printed a traceback of a duplicate
    `alembic_version` type and exited 1."""
    import subprocess
    import sys

    from tests.postgres import drop_database, empty_database

    target = empty_database("sbrace")
    try:
        command = [sys.executable, "-m", "supportbot", "db", "upgrade", "--url", target]
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for _ in range(3)]  # fmt: skip
        outputs = [(run.wait(timeout=120), run.communicate()[0]) for run in runs]
        for code, output in outputs:
            assert code == 0 and "Traceback" not in output, output
        assert sum("(empty -> " in output for _, output in outputs) == 1, outputs
    finally:
        drop_database(target)


def test_committed_state_survives_a_server_restart(private_postgres: Any, tmp_path: Path) -> None:  # noqa: F811
    """Stopped mid-run: calls fail with DatabaseUnavailable (a reason, not a hang); nothing committed is lost; the
    same store objects work again once the server is back (the pool replaces its dead connections)."""
    upgrade(private_postgres.url)
    store = SupportStore(tmp_path / "unused", database_url=private_postgres.url)
    keys = KeyStore(tmp_path / "unused", database_url=private_postgres.url)
    session = _session("outage")
    escalation = store.add_escalation(session, "en", "customer_request", [])
    _, key = keys.create("customer")
    private_postgres.stop()
    try:
        with pytest.raises(DatabaseUnavailable, match="unavailable"):
            store.add_feedback(session, 0, "up")
        with pytest.raises(DatabaseUnavailable):
            keys.authenticate(key)
    finally:
        private_postgres.start()
    assert store.escalation(escalation["id"])["status"] == "open"
    assert keys.authenticate(key) is not None
    assert store.add_feedback(session, 0, "up")["rating"] == "up"


def test_erase_by_personal_data_finds_a_conversation_saved_before_hashes_were_keyed(tmp_path: Path) -> None:
    # A data home upgraded from a version before salted hashes (422b06c): its conversations keep the plain SHA-256 of
    # each value (graph.rails.grounding.pii_hash then) and no pii_salt, and `supportbot db erase --pii EMAIL=...`
    # skipped them: "found": [] with exit 0, the customer's conversation kept while the operator was told it was not.
    import hashlib
    import sqlite3

    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    from finetune.pii import canonical
    from graph.retention import find_sessions

    legacy = hashlib.sha256(f"EMAIL|{canonical('EMAIL', 'bob.smith@example.com')}".encode()).hexdigest()[:24]
    saver = SqliteSaver(sqlite3.connect(tmp_path / "checkpoints.sqlite", check_same_thread=False))
    # "went-on": begun then, continued after the upgrade (a salt now, and the old hash beside the new ones)
    for thread, hashes, salt in (("old-bob", [legacy], None), ("old-other", ["0" * 24], None),
                                 ("went-on", ["1" * 24, legacy], "ab" * 16)):  # fmt: skip
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"messages": [{"role": "user", "content": "mi email es <EMAIL_1>"}],
                                        "pii_hashes": hashes, **({"pii_salt": salt} if salt else {})}  # fmt: skip
        saver.put({"configurable": {"thread_id": thread, "checkpoint_ns": ""}}, checkpoint, {}, {})
    store = SupportStore(tmp_path / "support.sqlite")
    for key in (None, "a deployment key"):  # the old hashes had no key: found with one set now too
        assert find_sessions(store, saver, [("EMAIL", "Bob.Smith@example.com")], key) == ["old-bob", "went-on"]
    store.close()


def test_erase_by_personal_data_finds_conversations_from_before_the_pii_key_was_set(tmp_path: Path) -> None:
    # `supportbot serve` warns until SUPPORTBOT_PII_KEY is set; an operator who then set it found that
    # `db erase --pii EMAIL=...` (given the key, as it must be) reported found: [] for every conversation held
    # before: their hashes are keyed by the session's salt alone.
    import sqlite3

    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    from finetune.pii import pii_hash, session_secret
    from graph.retention import find_sessions

    salt = "cd" * 16
    saver = SqliteSaver(sqlite3.connect(tmp_path / "checkpoints.sqlite", check_same_thread=False))
    checkpoint = empty_checkpoint()
    given = pii_hash("EMAIL", "eva@example.es", session_secret(None, salt))
    checkpoint["channel_values"] = {"pii_salt": salt, "pii_hashes": [given]}
    saver.put({"configurable": {"thread_id": "before-key", "checkpoint_ns": ""}}, checkpoint, {}, {})
    store = SupportStore(tmp_path / "support.sqlite")
    assert find_sessions(store, saver, [("EMAIL", "eva@example.es")], None) == ["before-key"]
    assert find_sessions(store, saver, [("EMAIL", "eva@example.es")], "set since") == ["before-key"]
    assert find_sessions(store, saver, [("EMAIL", "other@example.es")], "set since") == []
    store.close()
