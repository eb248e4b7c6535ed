"""The three modes end to end: rag (extractive), finetune and hybrid with the tiny smoke model (hf) and with an
OpenAI-compatible server (a minimal one speaking the chat-completions protocol, started here)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from graph.service import ChatService
from tests.graph.conftest import make_config


class _Completions(BaseHTTPRequestHandler):
    """Answers with the first sentence of passage [1] (cited), or a fixed text without passages."""

    invented = False
    fail_next = 0  # answer this many requests with HTTP 500
    requests = 0
    last_system = ""
    last_user = ""
    last_messages: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests += 1
        if self.fail_next > 0:
            type(self).fail_next -= 1
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        system = body["messages"][0]["content"]
        type(self).last_system = system
        type(self).last_user = body["messages"][-1]["content"]
        type(self).last_messages = body["messages"]
        match = re.search(r"\[1\][^\n]*\n([^.\n]+\.)", system)
        if self.invented:
            answer = "Nimbus was founded on the Moon by a famous pirate in 1750."
        else:
            answer = f"{match.group(1)} [1]" if match else "Hello from the tuned model."
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in re.findall(r"\S+\s*", answer):
                chunk = {"choices": [{"delta": {"content": word}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {"choices": [{"message": {"role": "assistant", "content": answer}}],
                   "usage": {"completion_tokens": len(answer.split())}}  # fmt: skip
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(scope="module")
def openai_service(bundled_index: Path, tmp_path_factory: pytest.TempPathFactory, server: str) -> ChatService:
    config = make_config(bundled_index, tmp_path_factory.mktemp("openai"), generator="openai",
                         openai_base_url=server, mode="hybrid", llm_passages=3)  # fmt: skip
    return ChatService(config)


def test_hybrid_with_openai_generator(openai_service: ChatService) -> None:
    result = openai_service.chat("How long does standard delivery take in Spain?")
    assert result["mode"] == "hybrid" and result["route"] == "answered"
    assert result["guardrails"]["generator"]["name"] == "openai" and result["tokens_generated"] > 0
    assert result["guardrails"]["output"]["action"] == "ok" and result["sources"]


def test_an_llm_generator_reads_the_top_llm_passages(openai_service: ChatService) -> None:
    hybrid = openai_service.chat("How long does standard delivery take in Spain?")
    assert "[3] " in _Completions.last_system and "[4] " not in _Completions.last_system
    assert len(hybrid["shown"]) == openai_service.config.llm_passages == 3  # the rails check what it read
    rag = openai_service.chat("How long does standard delivery take in Spain?", mode="rag")
    # the extractive generator reads all it retrieved, and the next chunk of the top article after it
    assert len(rag["shown"]) == openai_service.config.k + openai_service.config.article_chunks == 6
    assert rag["shown"][1]["doc_id"] == rag["shown"][0]["doc_id"]


def test_the_system_prompt_names_the_configured_company(
    bundled_index: Path, tmp_path_factory: pytest.TempPathFactory, server: str
) -> None:
    """A deployment for another company (an instruct model behind vLLM, say) must not introduce itself as the demo
    store's assistant; unset, the prompt is the one the shipped adapter was trained with."""
    from finetune.prompts import SYSTEM_PROMPTS

    assert SYSTEM_PROMPTS["en"].startswith("You are the customer-support assistant of Nimbus Market. Answer in")
    config = make_config(bundled_index, tmp_path_factory.mktemp("company"), generator="openai",
                         openai_base_url=server, mode="hybrid", company="Acme Outdoor")  # fmt: skip
    service = ChatService(config)
    try:
        for message, mode, opening in (
            ("How long does standard delivery take in Spain?", "hybrid", "of Acme Outdoor. Answer in English"),
            ("¿Cuánto tarda el envío estándar a Canarias?", "hybrid", "de Acme Outdoor. Responde en español"),
        ):
            assert service.chat(message, mode=mode)["route"] == "answered"
            prompt = _Completions.last_system.split("\n\n")[0]  # before the passages (the demo articles name Nimbus)
            assert opening in prompt and "Nimbus Market" not in prompt
    finally:
        service.close()


def test_a_language_model_is_asked_the_last_question_again_in_the_language_asked_for(
    openai_service: ChatService,
) -> None:
    """ "¿Me lo puedes explicar en inglés?" asks the last question again: the model reads that question (and answers
    in English), not the request itself as a question about the passages."""
    openai_service.chat("¿Cuánto tarda el envío estándar a Canarias?", session_id="llm-switch")
    result = openai_service.chat("¿Me lo puedes explicar en inglés?", session_id="llm-switch")
    assert result["lang"] == "en" and result["route"] == "answered", result
    assert "Canarias" in _Completions.last_user and "inglés" not in _Completions.last_user, _Completions.last_user
    assert "Answer in English" in _Completions.last_system


def test_a_language_model_reads_what_an_agent_said_in_the_chat(openai_service: ChatService) -> None:
    """After a person held the chat, the model's history has the agent's reply and the customer's messages to
    them (the store's), not only the bot's turns."""
    session = "llm-after-agent"
    openai_service.chat("How long does standard delivery take in Spain?", session_id=session)
    escalation = openai_service.request_handoff(session)
    openai_service.store.claim(escalation["id"], "agent-1", "Ana")
    assert openai_service.chat("My parcel is two weeks late", session_id=session)["route"] == "human"
    reply = "I've opened an investigation with the carrier for you."
    openai_service.store.add_agent_message(escalation["id"], "agent-1", reply,
                                           len(openai_service.transcript(session)))  # fmt: skip
    openai_service.store.resolve(escalation["id"], "agent-1")
    after = openai_service.chat("what happens once the investigation is finished?", session_id=session)
    assert after["route"] == "answered", after
    said = [(m["role"], m["content"]) for m in _Completions.last_messages[1:]]
    assert ("assistant", reply) in said and ("user", "My parcel is two weeks late") in said, said
    assert said[-1] == ("user", "what happens once the investigation is finished?"), said


def test_finetune_with_openai_generator(openai_service: ChatService) -> None:
    result = openai_service.chat("How long does standard delivery take in Spain?", mode="finetune")
    assert result["mode"] == "finetune" and result["route"] == "answered"
    assert result["answer"] == "Hello from the tuned model." and result["sources"] == []


def test_rag_mode_of_the_same_service_is_extractive(openai_service: ChatService) -> None:
    result = openai_service.chat("How long does standard delivery take in Spain?", mode="rag")
    assert result["guardrails"]["generator"]["name"] == "extractive"


def test_ungrounded_llm_answer_falls_back_to_extractive(openai_service: ChatService) -> None:
    _Completions.invented = True
    try:
        result = openai_service.chat("How long does standard delivery take in Spain?")
    finally:
        _Completions.invented = False
    assert result["route"] == "answered" and result["guardrails"]["generator"]["name"] == "extractive"
    assert "pirate" not in result["answer"] and "grounded" in result["guardrails"]["output"]["checks"]


def test_streaming_from_the_openai_server(openai_service: ChatService) -> None:
    events = list(openai_service.stream("How long does standard delivery take in Spain?"))
    tokens, final = [e for e in events if e["type"] == "token"], events[-1]
    # the server streams word by word; the client gets whole sentences, each after the output rails passed it
    assert final["type"] == "final" and final["guardrails"]["output"]["action"] == "ok"
    assert tokens and final["answer"] == "".join(e["text"] for e in tokens).strip() and not final["replaced"]
    assert final["guardrails"]["stream"] == {"generator": "openai", "released": len(tokens), "stopped": False,
                                              "failed": []}  # fmt: skip
    _assert_released_only_checked_sentences(openai_service, events)


def test_openai_generator_retries_a_bounded_number_of_times(server: str) -> None:
    from graph.generators import GenerationRequest, GeneratorError
    from graph.generators.openai import OpenAIGenerator

    generator = OpenAIGenerator(server, "supportbot", retries=2, backoff_s=0.01, timeout_s=5)
    request = GenerationRequest("How long does delivery take?", "en", use_passages=False)
    try:
        _Completions.requests, _Completions.fail_next = 0, 1  # one 500, then an answer
        assert generator.generate(request).answer == "Hello from the tuned model." and _Completions.requests == 2
        _Completions.requests, _Completions.fail_next = 0, 99
        with pytest.raises(GeneratorError, match="500"):
            generator.generate(request)
        assert _Completions.requests == 3  # the first try and two retries, no more
        _Completions.requests = 0
        with pytest.raises(GeneratorError, match="500"):
            list(generator.stream(request))
        assert _Completions.requests == 3
    finally:
        _Completions.fail_next = 0
    refused = OpenAIGenerator("http://127.0.0.1:9/v1", "supportbot", retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(GeneratorError, match="ConnectError"):
        refused.generate(request)


def test_a_failing_openai_server_falls_back_to_extractive_with_the_reason(openai_service: ChatService) -> None:
    _Completions.fail_next = 99
    try:
        result = openai_service.chat("How long does standard delivery take in Spain?")
        events = list(openai_service.stream("How long does standard delivery take in Spain?"))
    finally:
        _Completions.fail_next = 0
    for final in (result, events[-1]):
        assert final["route"] == "answered" and final["answer"] and final["sources"]
        generator = final["guardrails"]["generator"]
        assert generator["name"] == "extractive" and generator["fallback"]["from"] == "openai"
        assert "500" in generator["fallback"]["reason"]
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert tokens and events[-1]["answer"] == "".join(tokens).strip()


@pytest.fixture(scope="module")
def hf_service(bundled_index: Path, tmp_path_factory: pytest.TempPathFactory, smoke_model: Path) -> ChatService:
    config = make_config(bundled_index, tmp_path_factory.mktemp("hf"), generator="hf", model_dir=smoke_model,
                         mode="hybrid", max_new_tokens=24)  # fmt: skip
    return ChatService(config)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rag", "finetune", "hybrid"])
def test_every_mode_with_the_tiny_model(hf_service: ChatService, mode: str) -> None:
    result = hf_service.chat("¿Cuánto tarda un pedido a Canarias?", mode=mode, session_id=f"hf-{mode}")
    assert result["mode"] == mode and result["route"] in ("answered", "handoff")
    if mode == "finetune":
        assert result["sources"] == [] and result["guardrails"]["generator"]["name"] in ("hf",)
    if mode == "hybrid":  # the smoke model writes noise: the output rails must catch it and fall back
        assert result["guardrails"]["output"]["action"] in ("ok", "fallback")
    events = list(hf_service.stream("How do I reset my password?", mode=mode))
    assert events[-1]["type"] == "final"
    _assert_released_only_checked_sentences(hf_service, events)


def _assert_released_only_checked_sentences(service: ChatService, events: list[dict[str, Any]]) -> None:
    """What the tokens carried is whole checked sentences, and the final event says whether it was replaced."""
    from graph.nodes.guard_output import OutputGate

    tokens, final = [e["text"] for e in events[:-1]], events[-1]
    assert all(e["type"] == "token" for e in events[:-1])
    assert [e["sentence"] for e in events[:-1]] == list(range(len(tokens)))
    shown = "".join(tokens).strip()
    assert final["replaced"] == (bool(shown) and shown != final["answer"].strip())
    if not final["replaced"] and final["route"] == "answered":
        assert final["answer"].strip() == shown
    record = final["guardrails"].get("stream")
    if record and record["stopped"]:  # a stopped stream released exactly the sentences before the failing one
        assert record["released"] == len(tokens) or record["generator"] != final["guardrails"]["generator"]["name"]
    if final["guardrails"]["generator"]["name"] == "hf" and final["route"] == "answered" and tokens:
        # the hf answer that went out passes the same per-sentence check again
        passages = [dict(s) for s in final["sources"]] if final["mode"] != "finetune" else []
        state = {"lang": final["lang"], "generator": "hf", "mode": final["mode"], "passages": passages,
                 "pii_hashes": []}  # fmt: skip
        gate = OutputGate(state, service.deps)  # type: ignore[arg-type]
        failed = [gate.check(t) for t in tokens]
        assert not [f for f in failed if set(f) - {"grounded", "pii"}], failed  # sources may be the cited subset


@pytest.mark.slow
def test_tiny_model_streams_many_turns_behind_the_rails(hf_service: ChatService) -> None:
    questions = ["¿Cuánto tarda un pedido a Canarias?", "How do I return a pair of shoes?",
                 "¿Puedo pagar con PayPal?", "Do you ship to Portugal?", "¿Cómo cambio mi contraseña?"]  # fmt: skip
    outcomes = []
    for i, question in enumerate(questions):
        events = list(hf_service.stream(question, mode="hybrid", session_id=f"hf-stream-{i}"))
        _assert_released_only_checked_sentences(hf_service, events)
        outcomes.append(events[-1]["guardrails"]["output"]["action"])
    assert set(outcomes) <= {"ok", "fallback", "handoff"}
