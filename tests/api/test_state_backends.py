"""The API on both state backends, in process: two apps over the same state stand for two replicas (each app has its
own runtime: key store, limiter, store). SQLite (the default) and PostgreSQL (skips without
SUPPORTBOT_TEST_DATABASE_URL) run the same flows; only the rate limit differs by design (per process on SQLite)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from tests.postgres import pg_url  # noqa: F401

LIMIT = 6


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, api_config: ApiConfig) -> Iterator[tuple[TestClient, TestClient, ApiConfig]]:
    """Two apps ("replicas") on one state backend, with a low rate limit."""
    if request.param == "sqlite":
        config = dataclasses.replace(api_config, rate_limit_per_minute=LIMIT)
        service = request.getfixturevalue("chat_service")  # the session's service, on the home's SQLite files
    else:
        from graph.service import ChatService

        url = request.getfixturevalue("pg_url")
        config = dataclasses.replace(api_config, rate_limit_per_minute=LIMIT, database_url=url)
        service = ChatService(config.graph_config())
    with TestClient(create_app(config, service=service)) as one, TestClient(create_app(config, service=service)) as two:
        yield one, two, config


def _key(config: ApiConfig, role: str = "customer") -> tuple[str, dict[str, str]]:
    record, key = config.key_store().create(role, f"{role}-{uuid.uuid4().hex[:6]}")
    return record.id, {"Authorization": f"Bearer {key}"}


def _chat(client: TestClient, headers: dict[str, str], session: str, message: str) -> dict[str, Any]:
    response = client.post("/v1/chat", json={"message": message, "session_id": session}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_memory_handoff_and_feedback_across_apps(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    _, customer = _key(config)
    _, agent = _key(config, "agent")
    session = f"pair-{uuid.uuid4().hex[:8]}"
    _chat(one, customer, session, "¿Cómo hago una devolución?")
    follow = _chat(two, customer, session, "¿y cuánto tarda el reembolso?")
    assert follow["guardrails"]["followup"]["resolved"] and follow["route"] == "answered"
    assert two.post("/v1/feedback", json={"session_id": session, "turn": 1, "rating": "up"},
                    headers=customer).status_code == 201  # fmt: skip
    escalation = two.post("/v1/handoff", json={"session_id": session}, headers=customer)
    assert escalation.status_code == 201
    escalation_id = escalation.json()["id"]
    assert one.post(f"/v1/escalations/{escalation_id}/claim", headers=agent).status_code == 200
    _, other_agent = _key(config, "agent")
    assert two.post(f"/v1/escalations/{escalation_id}/claim", headers=other_agent).status_code == 409
    assert two.post(f"/v1/escalations/{escalation_id}/messages", json={"text": "Hola, te ayudo yo."},
                    headers=agent).status_code == 201  # fmt: skip
    seen = one.get(f"/v1/sessions/{session}", headers=customer).json()
    assert seen["handoff"]["status"] == "assigned"
    assert [m["content"] for m in seen["messages"] if m["role"] == "agent"] == ["Hola, te ayudo yo."]


def test_revocation_is_seen_by_both_apps(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    key_id, headers = _key(config)
    assert one.get("/v1/auth/me", headers=headers).status_code == 200
    config.key_store().revoke(key_id)  # `supportbot keys revoke`
    assert one.get("/v1/auth/me", headers=headers).status_code == 401
    assert two.get("/v1/auth/me", headers=headers).status_code == 401


def test_rate_limit_is_shared_only_with_a_database(pair: tuple[TestClient, TestClient, ApiConfig]) -> None:
    one, two, config = pair
    _, headers = _key(config)
    codes = [(one, two)[n % 2].get("/v1/auth/me", headers=headers).status_code for n in range(2 * LIMIT + 2)]
    allowed = codes.count(200)
    if config.database_url:  # one bucket for both apps
        assert LIMIT <= allowed <= LIMIT + 1 and codes[-2:] == [429, 429], codes
    else:  # a bucket per process: each app allows the limit
        assert allowed == 2 * LIMIT, codes


def test_the_queue_ages_a_case_by_how_long_its_customer_has_waited_for_a_reply(
    pair: tuple[TestClient, TestClient, ApiConfig],
) -> None:
    """``older_than`` and ``order=oldest`` went by the case's creation: a case an agent had just answered sorted
    first, and a customer writing again after a reply counted as waiting since the hand-off."""
    one, two, config = pair
    _, agent = _key(config, "agent")
    _, customer = _key(config)
    sessions = [f"waits-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    first, second = (one.post("/v1/handoff", json={"session_id": s, "lang": "es"}, headers=customer).json()["id"]
                     for s in sessions)  # fmt: skip
    for case in (first, second):
        assert two.post(f"/v1/escalations/{case}/claim", headers=agent).status_code == 200

    def queue(**params: Any) -> dict[str, float | None]:
        answer = one.get("/v1/escalations", params={"status": "assigned", "mine": "true", **params}, headers=agent)
        assert answer.status_code == 200, answer.text
        return {e["id"]: e["waiting_since"] for e in answer.json()["escalations"]}

    since = queue(order="oldest")
    assert list(since) == [first, second]  # nobody answered yet: both wait since their hand-off
    listed = one.get("/v1/escalations", params={"mine": "true"}, headers=agent).json()["escalations"]
    cases = {e["id"]: e for e in listed}
    assert since == {case: cases[case]["created_at"] for case in (first, second)}
    # The agent answers the first customer: nobody waits on that case any more.
    assert two.post(f"/v1/escalations/{first}/messages", json={"text": "Hola, ya lo estoy mirando."},
                    headers=agent).status_code == 201  # fmt: skip
    assert queue(order="oldest") == {second: since[second], first: None}
    assert list(queue(older_than=0)) == [second]
    assert one.get(f"/v1/escalations/{second}", headers=agent).status_code == 200  # a draft is no reply
    time.sleep(2.0)
    # The first customer writes again: they wait from this message, not from their hand-off.
    held = two.post("/v1/chat", json={"message": "¿Alguna novedad?", "session_id": sessions[0]}, headers=customer)
    assert held.status_code == 200 and held.json()["route"] == "human", held.text
    again = queue(order="oldest")
    assert list(again) == [second, first] and again[second] == since[second], again
    assert again[first] is not None and again[first] - since[second] >= 2.0, again
    # Between the two: only the second has waited that long (a request is far quicker than the 1 s margin).
    assert list(queue(older_than=time.time() - (again[first] + since[second]) / 2)) == [second]
    two.post("/v1/chat", json={"message": "Hola?", "session_id": sessions[0]}, headers=customer)
    assert queue(order="oldest")[first] == again[first]  # the first unanswered message counts
    # Back to the queue, the second customer still waits since the hand-off; a closed case waits on nobody.
    assert one.post(f"/v1/escalations/{second}/release", headers=agent).json()["waiting_since"] == since[second]
    assert one.post(f"/v1/escalations/{first}/resolve", headers=agent).json()["waiting_since"] is None
    assert first not in queue(status="closed", older_than=0)
    assert one.post(f"/v1/escalations/{second}/resolve", headers=agent).status_code == 200


def test_a_support_file_written_before_waiting_since_gets_it_from_its_messages(tmp_path: Path) -> None:
    """The SQLite twin of Alembic revision 0003: open cases of an older file wait since the hand-off, or since the
    customer's first message after the agent's last reply (a draft is no reply); none after the agent's reply."""
    import sqlite3

    from graph.store import SupportStore

    path = tmp_path / "support.sqlite"
    with sqlite3.connect(path) as db:  # the escalations table before waiting_since
        db.executescript(
            "CREATE TABLE escalations (id TEXT PRIMARY KEY, session_id TEXT, lang TEXT, reason TEXT, transcript TEXT,"
            " status TEXT, created_at REAL, assigned_to TEXT, assigned_name TEXT, updated_at REAL, note TEXT);"
            "CREATE TABLE session_messages (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, escalation_id TEXT,"
            " role TEXT NOT NULL, content TEXT NOT NULL, author TEXT, after_turns INTEGER NOT NULL,"
            " draft INTEGER NOT NULL, meta TEXT, created_at REAL NOT NULL);"
        )
        for case, status, at in [("fresh", "open", 100.0), ("again", "assigned", 200.0),
                                 ("answered", "assigned", 300.0), ("closed", "resolved", 50.0)]:  # fmt: skip
            db.execute("INSERT INTO escalations (id, session_id, lang, reason, transcript, status, created_at) VALUES"
                       " (?, ?, 'es', 'customer_request', '[]', ?, ?)", (case, case, status, at))  # fmt: skip
        for case, role, draft, at in [("again", "user", 0, 210.0), ("again", "agent", 1, 215.0),
                                      ("again", "agent", 0, 220.0), ("again", "user", 0, 230.0),
                                      ("again", "user", 0, 240.0), ("answered", "user", 0, 310.0),
                                      ("answered", "agent", 0, 320.0)]:  # fmt: skip
            db.execute("INSERT INTO session_messages (session_id, escalation_id, role, content, after_turns, draft,"
                       " created_at) VALUES (?, ?, ?, 'x', 1, ?, ?)", (case, case, role, draft, at))  # fmt: skip
    store = SupportStore(path)
    waits = {e["id"]: e["waiting_since"] for e in store.escalations(oldest_first=True)}
    assert waits == {"fresh": 100.0, "again": 230.0, "answered": None, "closed": None}
    assert list(waits) == ["fresh", "again", "closed", "answered"]  # nobody waits on the last two: oldest first
    store.close()


DAY = 86_400.0


def _age(service: Any, config: ApiConfig, session: str, days: float) -> None:
    """Move everything kept about ``session`` ``days`` back in time, in the real tables: its checkpoints' ``ts``
    (written again through the checkpointer), its escalations with their history and messages, its feedback, and
    when its owner claimed it."""
    from datetime import datetime, timedelta

    ago = days * DAY
    saver = service.checkpointer
    for saved in list(saver.list({"configurable": {"thread_id": session}})):
        older = (datetime.fromisoformat(saved.checkpoint["ts"]) - timedelta(days=days)).isoformat()
        parent = saved.parent_config or {"configurable": {"thread_id": session, "checkpoint_ns": ""}}
        saver.put(parent, {**saved.checkpoint, "ts": older}, saved.metadata, {})
    with service.store.db.transaction() as tx:
        tx.execute("UPDATE escalation_events SET at = at - ? WHERE escalation_id IN (SELECT id FROM escalations WHERE"
                   " session_id = ?)", (ago, session))  # fmt: skip
        tx.execute("UPDATE escalations SET created_at = created_at - ?, updated_at = updated_at - ?, waiting_since ="
                   " waiting_since - ? WHERE session_id = ?", (ago, ago, ago, session))  # fmt: skip
        for table in ("session_messages", "feedback"):
            tx.execute(f"UPDATE {table} SET created_at = created_at - ? WHERE session_id = ?", (ago, session))
    keys = config.key_store()
    with keys.db.transaction() as tx:
        row = tx.execute("SELECT created FROM session_owners WHERE session_id = ?", (session,)).fetchone()
        if row is not None:
            created = datetime.strptime(row["created"], "%Y-%m-%dT%H:%M:%SZ") - timedelta(days=days)
            tx.execute("UPDATE session_owners SET created = ? WHERE session_id = ?",
                       (created.strftime("%Y-%m-%dT%H:%M:%SZ"), session))  # fmt: skip
    if not config.database_url:
        keys.close()


def _purge(config: ApiConfig, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """``supportbot db purge ARGS`` on the pair's state: the data home's SQLite files, or ``--url``."""
    from typer.testing import CliRunner

    from supportbot.cli import app
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(config.home))
    for name in ("SUPPORTBOT_DATABASE_URL", "SUPPORTBOT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    where = ["--url", config.database_url] if config.database_url else []
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["db", "purge", *where, *args])
    finally:
        get_settings.cache_clear()


def test_purge_deletes_old_sessions_whole_and_keeps_recent_and_open_ones(
    pair: tuple[TestClient, TestClient, ApiConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``supportbot db purge --older-than 30``: a session whose last activity is 40 days old goes whole (checkpoints,
    escalation with its history and messages, feedback, owner) and reads as an unknown one; a recent session is
    untouched, an old one waiting for an agent is kept unless ``--include-open``; gap questions go by their age."""
    one, two, config = pair
    service = one.app.state.runtime.chat_service  # type: ignore[attr-defined]
    store, tag = service.store, uuid.uuid4().hex[:8]
    old_es, old_en, waiting, recent = (f"{name}-{tag}" for name in ("old-es", "old-en", "waiting", "recent"))
    owner = {session: _key(config)[1] for session in (old_es, old_en, waiting, recent)}  # 6 requests a minute each
    _, agent = _key(config, "agent")
    _chat(one, owner[old_es], old_es, "¿Cómo hago una devolución?")
    assert one.post("/v1/feedback", json={"session_id": old_es, "turn": 0, "rating": "down", "comment": "no me sirve"},
                    headers=owner[old_es]).status_code == 201  # fmt: skip
    case = one.post("/v1/handoff", json={"session_id": old_es}, headers=owner[old_es]).json()["id"]
    assert two.post(f"/v1/escalations/{case}/claim", headers=agent).status_code == 200
    assert two.post(f"/v1/escalations/{case}/messages", json={"text": "Hola, te ayudo yo."},
                    headers=agent).status_code == 201  # fmt: skip
    assert _chat(one, owner[old_es], old_es, "Gracias, ya está")["route"] == "human"  # kept for the agent
    assert two.post(f"/v1/escalations/{case}/resolve", headers=agent).status_code == 200
    _chat(two, owner[old_en], old_en, "How long does shipping take?")
    _chat(one, owner[waiting], waiting, "Where is my order?")
    open_case = one.post("/v1/handoff", json={"session_id": waiting}, headers=owner[waiting]).json()["id"]
    _chat(two, owner[recent], recent, "¿Puedo pagar con PayPal?")
    assert two.post("/v1/feedback", json={"session_id": recent, "turn": 0, "rating": "up"},
                    headers=owner[recent]).status_code == 201  # fmt: skip
    for question, lang in ((f"old gap {tag}", "es"), (f"old gap {tag}", "en"), (f"new gap {tag}", "en")):
        store.record_gap(question, lang)
    for session in (old_es, old_en, waiting):
        _age(service, config, session, 40)
    with store.db.transaction() as tx:
        tx.execute("UPDATE gaps SET last_seen = last_seen - ? WHERE question = ?", (40 * DAY, f"old gap {tag}"))
    saver = service.checkpointer
    checkpoints = sum(len(list(saver.list({"configurable": {"thread_id": s}}))) for s in (old_es, old_en))
    messages = len(store.messages(old_es, include_drafts=True))
    events = len(store.escalation(case)["history"])
    before = two.get(f"/v1/sessions/{recent}", headers=agent).json()
    assert checkpoints >= 2 and messages == 2 and events == 3

    dry = _purge(config, monkeypatch, "--older-than", "30", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    counted = json.loads(dry.stdout)
    expected = {"older_than_days": 30, "dry_run": True, "include_open": False,
                "sessions": {"total": 2, "by_lang": {"en": 1, "es": 1}}, "checkpoints": checkpoints,
                "escalations": {"total": 1, "by_lang": {"es": 1}}, "escalation_events": events, "messages": messages,
                "feedback": 1, "session_owners": 2, "gaps": {"total": 2, "by_lang": {"en": 1, "es": 1}},
                "kept_open": {"total": 1, "by_lang": {"en": 1}}}  # fmt: skip
    assert {k: counted[k] for k in expected} == expected, counted
    assert two.get(f"/v1/sessions/{old_es}", headers=agent).json()["messages"]  # a dry run deletes nothing

    done = _purge(config, monkeypatch, "--older-than", "30", "--json")
    assert done.exit_code == 0, done.output
    deleted = json.loads(done.stdout)
    assert {k: deleted[k] for k in expected} == {**expected, "dry_run": False}, deleted
    for session in (old_es, old_en):
        assert one.get(f"/v1/sessions/{session}", headers=owner[session]).status_code == 404
        assert two.get(f"/v1/sessions/{session}", headers=agent).status_code == 404
        assert service.transcript(session) == [] and store.messages(session, include_drafts=True) == []
        assert store.handoff_status(session) == {"status": "bot", "escalation_id": None, "agent": None, "last": None}
    assert two.get(f"/v1/escalations/{case}", headers=agent).status_code == 404
    assert not [f for f in store.feedback(limit=100_000) if f["session_id"] in (old_es, old_en)]
    gaps = {(g["question"], g["lang"]) for g in store.knowledge_gaps(limit=100_000)}
    assert (f"new gap {tag}", "en") in gaps and not {q for q, _ in gaps} & {f"old gap {tag}"}
    assert two.get(f"/v1/sessions/{recent}", headers=agent).json() == before
    assert [f["rating"] for f in store.feedback(limit=100_000) if f["session_id"] == recent] == ["up"]
    assert two.get(f"/v1/sessions/{waiting}", headers=agent).json()["handoff"]["status"] == "waiting"
    # A purged id is a new session to whoever writes to it next: no history, a new owner.
    _, stranger = _key(config)
    _chat(one, stranger, old_es, "Hello")
    assert [m["role"] for m in two.get(f"/v1/sessions/{old_es}", headers=stranger).json()["messages"]] == [
        "user", "assistant"]  # fmt: skip

    text = _purge(config, monkeypatch, "--older-than", "30", "--include-open")
    assert text.exit_code == 0 and "  sessions            1 (en 1)\n" in text.output, text.output
    assert one.get(f"/v1/sessions/{waiting}", headers=owner[waiting]).status_code == 404
    assert two.get(f"/v1/escalations/{open_case}", headers=agent).status_code == 404


def _erase(config: ApiConfig, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """``supportbot db erase ARGS`` on the pair's state, as :func:`_purge` runs the purge."""
    from typer.testing import CliRunner

    from supportbot.cli import app
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(config.home))
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    where = ["--url", config.database_url] if config.database_url else []
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["db", "erase", *where, *args])
    finally:
        get_settings.cache_clear()


def test_erase_deletes_the_named_sessions_whole_now_whatever_their_age_or_state(
    pair: tuple[TestClient, TestClient, ApiConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``supportbot db erase SESSION_ID``: a customer asks for their data to be erased (GDPR art. 17). Their session,
    today's and assigned to an agent, goes whole (checkpoints, escalation with history and messages, feedback,
    owner) and reads as unknown; another session is untouched; an id nothing is kept under is reported (exit 1).
    Until 2026-12-07 only ``db purge`` deleted, by age: a recent or open conversation could not be erased at all."""
    one, two, config = pair
    service = one.app.state.runtime.chat_service  # type: ignore[attr-defined]
    store, tag = service.store, uuid.uuid4().hex[:8]
    mine, other = f"erase-{tag}", f"keep-{tag}"
    owner = {session: _key(config)[1] for session in (mine, other)}
    _, agent = _key(config, "agent")
    _chat(one, owner[mine], mine, "Hola, soy Lucía Fernández, ¿cómo hago una devolución?")
    assert one.post("/v1/feedback", json={"session_id": mine, "turn": 0, "rating": "down", "comment": "no me sirve"},
                    headers=owner[mine]).status_code == 201  # fmt: skip
    case = one.post("/v1/handoff", json={"session_id": mine}, headers=owner[mine]).json()["id"]
    assert two.post(f"/v1/escalations/{case}/claim", headers=agent).status_code == 200
    assert two.post(f"/v1/escalations/{case}/messages", json={"text": "Hola, te ayudo yo."},
                    headers=agent).status_code == 201  # fmt: skip
    _chat(two, owner[other], other, "How long does shipping take?")
    saver = service.checkpointer
    checkpoints = len(list(saver.list({"configurable": {"thread_id": mine}})))
    before = two.get(f"/v1/sessions/{other}", headers=agent).json()
    expected = {"sessions": {"total": 1, "by_lang": {"es": 1}}, "checkpoints": checkpoints,
                "escalations": {"total": 1, "by_lang": {"es": 1}}, "escalation_events": 2, "messages": 1,
                "feedback": 1, "session_owners": 1}  # fmt: skip

    dry = _erase(config, monkeypatch, mine, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {"dry_run": True, **expected, "not_found": [], "found": []}
    assert two.get(f"/v1/sessions/{mine}", headers=agent).json()["messages"]  # a dry run deletes nothing

    done = _erase(config, monkeypatch, mine, f"unknown-{tag}", "--json")
    assert done.exit_code == 1, done.output
    assert json.loads(done.stdout) == {"dry_run": False, **expected, "not_found": [f"unknown-{tag}"], "found": []}
    assert one.get(f"/v1/sessions/{mine}", headers=owner[mine]).status_code == 404
    assert two.get(f"/v1/sessions/{mine}", headers=agent).status_code == 404
    assert two.get(f"/v1/escalations/{case}", headers=agent).status_code == 404
    assert service.transcript(mine) == [] and store.messages(mine, include_drafts=True) == []
    assert not [f for f in store.feedback(limit=100_000) if f["session_id"] == mine]
    assert two.get(f"/v1/sessions/{other}", headers=agent).json() == before

    blank = _erase(config, monkeypatch, " ")
    assert blank.exit_code == 2 and "give the SESSION_ID" in blank.output, blank.output


def test_erase_finds_a_customers_sessions_by_the_personal_data_they_gave(
    pair: tuple[TestClient, TestClient, ApiConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``supportbot db erase --pii EMAIL=...``: a customer who asks for erasure knows their e-mail or phone, not the
    random ids of their conversations, and the state keeps only keyed hashes of the values. Each session whose hashes
    match (with its own salt) is found, whatever the spelling ("LUCIA..." for "lucia...", "+34 612..." for
    "612..."), and erased; a session of another customer is not."""
    one, two, config = pair
    tag = uuid.uuid4().hex[:8]
    first, second, other = f"pii-a-{tag}", f"pii-b-{tag}", f"pii-c-{tag}"
    owner = {session: _key(config)[1] for session in (first, second, other)}
    _chat(one, owner[first], first, f"Mi email es lucia.{tag}@example.es, ¿cómo hago una devolución?")
    _chat(two, owner[second], second, "Llamadme al 612 345 678 por el pedido, por favor")
    _chat(one, owner[other], other, f"My email is john.{tag}@example.com, how long does shipping take?")

    dry = _erase(config, monkeypatch, "--pii", f"EMAIL=LUCIA.{tag}@example.es", "--pii", "PHONE=+34612345678",
                 "--dry-run", "--json")  # fmt: skip
    assert dry.exit_code == 0, dry.output
    found = json.loads(dry.stdout)
    assert {first, second} <= set(found["found"]) and other not in found["found"], found
    assert two.get(f"/v1/sessions/{first}", headers=owner[first]).status_code == 200

    done = _erase(config, monkeypatch, "--pii", f"email=lucia.{tag}@example.es", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["found"] == [first]
    assert one.get(f"/v1/sessions/{first}", headers=owner[first]).status_code == 404
    assert one.get(f"/v1/sessions/{other}", headers=owner[other]).status_code == 200

    for bad in ("EMAIL", "NOPE=x", "EMAIL= "):
        result = _erase(config, monkeypatch, "--pii", bad)
        assert result.exit_code == 2 and "--pii" in result.output, result.output


class RefusedDelete:
    """A trigger that makes the database refuse to delete one session's owner row, standing for a crash at the last
    step of the session's deletion (a real failure of the database, not a stand-in for the store)."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config

    def _run(self, *statements: str) -> None:
        if self.config.database_url:
            import psycopg

            with psycopg.connect(self.config.database_url, autocommit=True) as conn:
                for statement in statements:
                    conn.execute(statement.encode())
        else:
            import sqlite3

            db = sqlite3.connect(self.config.keys_db)
            with db:
                for statement in statements:
                    db.execute(statement)
            db.close()

    def refuse(self, session: str) -> None:
        """Arm it for ``session``."""
        if self.config.database_url:
            self._run("CREATE FUNCTION refuse_purge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
                      " 'the test refuses this delete'; END $$",
                      f"CREATE TRIGGER refuse_purge BEFORE DELETE ON session_owners FOR EACH ROW WHEN"
                      f" (OLD.session_id = '{session}') EXECUTE FUNCTION refuse_purge()")  # fmt: skip
        else:
            self._run(f"CREATE TRIGGER refuse_purge BEFORE DELETE ON session_owners WHEN OLD.session_id = '{session}'"
                      " BEGIN SELECT RAISE(ABORT, 'the test refuses this delete'); END")  # fmt: skip

    def allow(self) -> None:
        """Disarm it."""
        if self.config.database_url:
            self._run("DROP TRIGGER IF EXISTS refuse_purge ON session_owners", "DROP FUNCTION IF EXISTS refuse_purge()")
        else:
            self._run("DROP TRIGGER IF EXISTS refuse_purge")


@pytest.fixture
def refused_delete(pair: tuple[TestClient, TestClient, ApiConfig]) -> Iterator[RefusedDelete]:
    """The trigger of :class:`RefusedDelete` on the pair's state, removed after the test."""
    trigger = RefusedDelete(pair[2])
    yield trigger
    trigger.allow()


def test_a_purge_stopped_midway_leaves_the_session_readable_and_the_next_one_finishes_it(
    pair: tuple[TestClient, TestClient, ApiConfig], monkeypatch: pytest.MonkeyPatch, refused_delete: RefusedDelete
) -> None:
    """The database fails the last delete of a session. On PostgreSQL the session's deletion is one transaction:
    all of it is still there. SQLite keeps the state in three files: the store's rows and the checkpoints went, the
    owner stayed, and the session reads as its owner's empty conversation (no 500). Either way the command says what
    happened (exit 1, no traceback), and the next purge deletes the rest."""
    one, two, config = pair
    service = one.app.state.runtime.chat_service  # type: ignore[attr-defined]
    _, customer = _key(config)
    _, agent = _key(config, "agent")
    session = f"stuck-{uuid.uuid4().hex[:8]}"
    _chat(one, customer, session, "¿Cómo hago una devolución?")
    assert one.post("/v1/feedback", json={"session_id": session, "turn": 0, "rating": "up"},
                    headers=customer).status_code == 201  # fmt: skip
    _age(service, config, session, 40)
    refused_delete.refuse(session)
    stopped = _purge(config, monkeypatch, "--older-than", "30")
    assert stopped.exit_code == 1 and "run it again" in stopped.output, stopped.output
    assert "Traceback" not in stopped.output and "the test refuses this delete" in stopped.output
    seen = two.get(f"/v1/sessions/{session}", headers=agent)
    assert seen.status_code == 200 and one.get(f"/v1/sessions/{session}", headers=customer).status_code == 200
    kept = [f for f in service.store.feedback(limit=100_000) if f["session_id"] == session]
    if config.database_url:
        assert [m["role"] for m in seen.json()["messages"]] == ["user", "assistant"] and len(kept) == 1
    else:
        assert seen.json()["messages"] == [] and kept == [] and service.transcript(session) == []
    refused_delete.allow()
    again = _purge(config, monkeypatch, "--older-than", "30", "--json")
    assert again.exit_code == 0, again.output
    finished = json.loads(again.stdout)
    assert finished["sessions"]["total"] == 1 and finished["session_owners"] == 1
    assert finished["feedback"] == (1 if config.database_url else 0)
    assert two.get(f"/v1/sessions/{session}", headers=agent).status_code == 404


def test_an_erased_conversation_leaves_no_copy_in_the_sqlite_files(
    pair: tuple[TestClient, TestClient, ApiConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `db erase`, the SQLite files of the data home (and their write-ahead logs) hold no byte of the erased
    conversation. The rows were deleted, but the WAL kept the pages that had written them until SQLite's next
    checkpoint, and a delete left the freed bytes in place where SQLite is built without secure_delete (a privacy
    QA pass): a copy of the data home after an erasure still had the customer's words."""
    one, _, config = pair
    if config.database_url:
        pytest.skip("PostgreSQL keeps dead rows until VACUUM: docs/api.md says so")
    tag = uuid.uuid4().hex[:8]
    token = f"zebraquartz{tag}"
    session, owner = f"scrub-{tag}", _key(config)[1]
    _chat(one, owner, session, f"How long does shipping take? Reference {token}")
    assert one.post("/v1/feedback", json={"session_id": session, "turn": 0, "rating": "up", "comment": token},
                    headers=owner).status_code == 201  # fmt: skip

    def holding() -> list[str]:
        return [p.name for p in config.home.rglob("*.sqlite*") if p.is_file() and token.encode() in p.read_bytes()]

    assert holding(), "the conversation was written to the data home"
    done = _erase(config, monkeypatch, session, "--json")
    assert done.exit_code == 0, done.output
    assert holding() == []
