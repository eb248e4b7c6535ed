"""State reducers, the support store and the config's validation."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from graph.config import GraphConfig, GraphConfigError
from graph.state import RESET, merge, turn_input, union
from graph.store import SupportStore


def test_merge_accumulates_and_resets() -> None:
    assert merge({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert merge({"a": 1}, {RESET: True, "c": 3}) == {"c": 3}
    assert merge(None, None) == {}


def test_union_keeps_first_seen_order() -> None:
    assert union(["x", "y"], ["y", "z"]) == ["x", "y", "z"]


def test_turn_input_resets_every_per_turn_field() -> None:
    state = turn_input("hola", "s1", "rag", "extractive", None)
    assert state["route"] is None and state["passages"] == [] and state["guardrails"] == {RESET: True}
    assert "messages" not in state and "topic" not in state  # persisted fields are left alone


def test_store_escalations_feedback_and_gaps(tmp_path: Path) -> None:
    store = SupportStore(tmp_path / "s.sqlite")
    record = store.add_escalation("s1", "es", "customer_request", [{"role": "user", "content": "hola"}])
    assert store.escalations()[0]["id"] == record["id"]
    assert store.escalations(status="open")[0]["transcript"] == [{"role": "user", "content": "hola"}]
    assert store.set_escalation_status(record["id"], "closed") and store.escalations(status="open") == []
    with pytest.raises(ValueError):
        store.set_escalation_status(record["id"], "lost")
    assert store.add_feedback("s1", 2, "down", "wrong")["rating"] == "down"
    with pytest.raises(ValueError):
        store.add_feedback("s1", 2, "meh")
    for _ in range(3):
        store.record_gap("do you sell  cars?", "en")
    store.record_gap("¿vendéis coches?", "es")
    gaps = store.knowledge_gaps()
    assert gaps[0]["question"] == "do you sell cars?" and gaps[0]["count"] == 3 and len(gaps) == 2


def test_store_is_thread_safe(tmp_path: Path) -> None:
    store = SupportStore(tmp_path / "s.sqlite")

    def work(n: int) -> None:
        for i in range(20):
            store.add_feedback(f"s{n}", i, "up")
            store.record_gap("same question", "en")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.feedback(limit=1000)) == 80
    assert store.knowledge_gaps()[0]["count"] == 80
    # A second connection (another process) sees the same data.
    assert len(SupportStore(tmp_path / "s.sqlite").feedback(limit=1000)) == 80


def test_config_rejects_what_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(GraphConfigError, match="needs a language-model generator"):
        GraphConfig(index_dir=tmp_path, mode="finetune")
    with pytest.raises(GraphConfigError, match="needs a model folder"):
        GraphConfig(index_dir=tmp_path, generator="hf")
    with pytest.raises(GraphConfigError, match="server URL"):
        GraphConfig(index_dir=tmp_path, generator="openai")
    with pytest.raises(GraphConfigError, match="mode must be"):
        GraphConfig(index_dir=tmp_path, mode="magic")  # type: ignore[arg-type]
    config = GraphConfig(index_dir=tmp_path, generator="openai", openai_base_url="http://x/v1")
    assert config.generator_for("rag") == "extractive" and config.generator_for("hybrid") == "openai"
    with pytest.raises(GraphConfigError, match="needs a language-model"):
        GraphConfig(index_dir=tmp_path).check_mode("hybrid")
