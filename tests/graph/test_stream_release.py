"""Streaming behind the output rails: sentences are released only after the rails pass them.

The generators here are fakes on purpose: they test the gating logic (what is released, when the stream stops,
what the final event says), not a model; tests/graph/test_modes.py streams the real tiny model.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from graph.generators import Generation, GenerationRequest
from graph.nodes import guard_output, retrieve
from graph.nodes.guard_output import OutputGate, release
from graph.service import ChatService
from graph.state import turn_input
from retrieval.text import cut_sentences

QUESTION = "How long does standard delivery take in Spain?"
INVENTED = "Nimbus was founded on Mars in 1850 by famous pirates."


class FakeLLM:
    """Streams a script word by word; ``{p1}`` is the first sentence of passage [1]. Records how far it was read."""

    name = "fake"

    def __init__(self, *sentences: str) -> None:
        self.sentences = sentences
        self.read = 0
        self.closed = False

    def text(self, request: GenerationRequest) -> str:
        first = re.split(r"(?<=[.!?])\s", str(request.passages[0]["text"]))[0] if request.passages else ""
        return " ".join(s.format(p1=first) for s in self.sentences)

    def generate(self, request: GenerationRequest) -> Generation:
        return Generation(self.text(request), [], len(self.text(request).split()))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        try:
            for word in re.findall(r"\S+\s*", self.text(request)):
                self.read += 1
                yield word
        except GeneratorExit:
            self.closed = True
            raise


def test_release_sends_nothing_after_the_first_failing_sentence() -> None:
    llm = FakeLLM("Returns are free.", "Call 555 0100 now.", "Shipping takes two days.")
    sent: list[str] = []
    outcome = release(llm.stream(GenerationRequest("q", "en")), lambda s: ["pii"] if "555" in s else [], sent.append)
    assert sent == ["Returns are free. "] and outcome["failed"] == ["pii"] and outcome["released"] == 1
    # the end of a sentence shows when the next one begins; the stream stops there, it is not drained
    assert llm.closed and outcome["text"].endswith("Shipping ") and llm.read == 8


def test_release_cuts_a_stream_exactly_as_the_whole_text() -> None:
    text = "Refunds take 3.5 days.\n\n- Step one: log in.\n2) Open Orders! Then pick it?  Done [1]. ok"
    for seed in range(20):
        rng, pieces, rest = random.Random(seed), [], text
        while rest:
            cut = rng.randint(1, 6)
            pieces.append(rest[:cut])
            rest = rest[cut:]
        sent: list[str] = []
        outcome = release(pieces, lambda s: [], sent.append)
        assert "".join(sent) == text == outcome["text"]
        assert [s.strip() for s in sent] == [s.strip() for s in cut_sentences(text) if s.strip()]


def _turn(deps: Any, generator: str, answer: str = "") -> dict[str, Any]:
    passages = retrieve.run({"query": QUESTION, "lang": "en"}, deps)["passages"]  # type: ignore[arg-type]
    return {**turn_input(QUESTION, "gate", "hybrid", generator, "en", True), "text": QUESTION, "query": QUESTION,
            "lang": "en", "passages": passages, "answer": answer, "guardrails": {}}  # fmt: skip


def test_a_grounded_sentence_is_released_and_an_ungrounded_one_is_not(deps: Any) -> None:
    state = _turn(deps, "fake")
    llm = FakeLLM("{p1}", INVENTED, "{p1}")
    request = GenerationRequest(QUESTION, "en", state["passages"])
    sent: list[str] = []
    gate = OutputGate(state, deps)  # type: ignore[arg-type]
    outcome = release(llm.stream(request), gate.check, sent.append)
    assert len(sent) == 1 and sent[0].strip() == llm.text(request).split(INVENTED)[0].strip()
    assert outcome["failed"] == ["grounded"] and llm.closed
    assert gate.checks["grounded"]["unsupported"] == [INVENTED]


@pytest.mark.parametrize(
    "script",
    [("{p1}",), ("{p1}", INVENTED), (INVENTED, "{p1}"), ("{p1}", "Women are always late with returns."),
     ("Puedes devolver el pedido en un plazo de treinta días naturales desde la entrega.",), ("{p1}", "Hi!")],
)  # fmt: skip
def test_streamed_and_whole_answer_paths_give_the_same_verdict(deps: Any, script: tuple[str, ...]) -> None:
    state = _turn(deps, "fake")
    request = GenerationRequest(QUESTION, "en", state["passages"])
    text = FakeLLM(*script).text(request)
    gate = OutputGate(state, deps)  # type: ignore[arg-type]
    streamed = release(FakeLLM(*script).stream(request), gate.check, lambda _s: None)["failed"]
    whole = guard_output.run({**state, "answer": text, "stream": False}, deps)  # type: ignore[typeddict-item]
    assert streamed == whole["guardrails"]["output"].get("failed", []), (script, whole)


@pytest.fixture
def llm_service(service: ChatService, monkeypatch: pytest.MonkeyPatch) -> ChatService:
    """The session's service, answering hybrid turns with a fake LLM (the openai slot, no server needed)."""
    config = dataclasses.replace(service.config, generator="openai", openai_base_url="http://127.0.0.1:9/v1")
    monkeypatch.setattr(service, "config", config)
    return service


def _stream(service: ChatService, monkeypatch: pytest.MonkeyPatch, llm: FakeLLM) -> tuple[list[str], dict[str, Any]]:
    monkeypatch.setitem(service.deps.generators, "openai", llm)
    events = list(service.stream(QUESTION, mode="hybrid"))
    assert all(e["type"] == "token" for e in events[:-1]) and events[-1]["type"] == "final"
    return [e["text"] for e in events[:-1]], events[-1]


def test_service_streams_a_grounded_answer_whole(llm_service: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, final = _stream(llm_service, monkeypatch, FakeLLM("{p1}", "{p1}"))
    assert len(tokens) == 2 and final["answer"] == "".join(tokens).strip() and final["replaced"] is False
    assert final["guardrails"]["output"]["action"] == "ok" and final["guardrails"]["output"]["streamed"]
    assert final["guardrails"]["generator"]["name"] == "openai"


def test_service_stops_at_an_ungrounded_sentence_and_falls_back(
    llm_service: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = FakeLLM("{p1}", INVENTED, "{p1}")
    tokens, final = _stream(llm_service, monkeypatch, llm)
    assert len(tokens) == 1 and "pirates" not in "".join(tokens) and llm.closed
    assert final["replaced"] is True and final["route"] == "answered" and "pirates" not in final["answer"]
    assert final["guardrails"]["generator"]["name"] == "extractive"
    assert final["guardrails"]["fallback"] == {"from": "openai", "failed": ["grounded"]}
    assert final["guardrails"]["stream"]["stopped"] and final["guardrails"]["stream"]["released"] == 1


def test_service_never_streams_personal_data_the_customer_did_not_give(
    llm_service: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens, final = _stream(llm_service, monkeypatch, FakeLLM("{p1}", "Write to ana.lopez@example.es for details."))
    assert "ana.lopez" not in "".join(tokens) + str(final)
    assert "pii" in final["guardrails"]["fallback"]["failed"] and final["replaced"]


def test_attribute_citations_points_each_mark_at_a_supporting_passage() -> None:
    from graph.rails.grounding import Passages, attribute_citations

    passages = Passages.of(
        [{"title": "Cancel an order", "text": "You can cancel an order free of charge until it is shipped."},
         {"title": "Invoices", "text": "Download the invoice from My orders once the order has shipped."}], "en"
    )  # fmt: skip
    assert attribute_citations("You can cancel the order free of charge until shipped. [2]", passages, "en") == (
        "You can cancel the order free of charge until shipped. [1]"
    )
    right = "Download the invoice from My orders [2]. Cancel free of charge until shipped [1, 2]."
    assert attribute_citations(right, passages, "en") == right.replace("[1, 2]", "[1]")
    invented = "We sell rockets to Mars [1]."  # supported by none: left for the groundedness rail to judge
    assert attribute_citations(invented, passages, "en") == invented


def test_service_streams_corrected_citations(llm_service: ChatService, monkeypatch: pytest.MonkeyPatch) -> None:
    from graph.rails.grounding import Passages, claim_stems, sentence_support

    turn = {"query": QUESTION, "lang": "en", "generator": llm_service.config.generator}  # what the LLM reads
    passages = retrieve.run(turn, llm_service.deps)["passages"]  # type: ignore[arg-type]
    support = Passages.of(passages, "en").stems
    # a sentence of passage [1] and a passage that does not say it: the fake LLM cites that one
    sentence, wrong = next(
        (s, k)
        for s in re.split(r"(?<=[.!?])\s", str(passages[0]["text"]))
        if sentence_support(claim_stems(s, "en"), support[0]) >= 0.5
        for k in range(1, len(passages))
        if sentence_support(claim_stems(s, "en"), support[k]) < 0.5
    )
    tokens, final = _stream(llm_service, monkeypatch, FakeLLM(f"{sentence} [{wrong + 1}]"))
    assert "[1]" in "".join(tokens) and f"[{wrong + 1}]" not in "".join(tokens)
    assert final["answer"] == "".join(tokens).strip() and final["replaced"] is False
    assert [s["chunk_id"] for s in final["sources"]] == [passages[0]["chunk_id"]]


def test_an_llm_answer_of_only_a_question_copied_from_the_passages_is_no_answer(deps: Any) -> None:
    """ "¿Cuál es el plazo de reembolso? [1]", an FAQ heading copied, was a hybrid answer to a long complaint (a QA
    pass in the browser): it falls back to the extractive answer; a question of the model's own does not."""
    state = _turn(deps, "fake")
    asked = [s.strip() for p in state["passages"] for s in cut_sentences(p["text"]) if s.strip().endswith("?")]
    assert asked, "the passages for QUESTION ask something"
    copied = guard_output.run({**state, "answer": f"{asked[0]} [1]", "stream": False}, deps)  # type: ignore[typeddict-item]
    assert (
        copied["guardrails"]["output"]["action"] == "fallback" and "empty" in copied["guardrails"]["output"]["failed"]
    )
    own = guard_output.run({**state, "answer": "Which order do you mean?", "stream": False}, deps)  # type: ignore[typeddict-item]
    assert "empty" not in own["guardrails"]["output"].get("failed", []), own["guardrails"]["output"]
