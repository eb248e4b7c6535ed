"""Generate the answer with the turn's generator: passages for rag/hybrid, the plain prompt for finetune.

Streaming sends nothing unchecked: the output rails pass each sentence before it goes out as a token event
(:func:`graph.nodes.guard_output.release`); at the first failing sentence the generator is stopped, and the final
event carries the fallback (or the handoff reply) instead.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from graph.deps import Deps
from graph.generators import GenerationRequest, GeneratorError
from graph.nodes.detect_language import query_language
from graph.nodes.resolve_followup import with_agent_exchange
from graph.nodes.respond import joined, preface
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Answer; with ``stream`` set, each checked sentence also goes to the LangGraph custom stream as a token event.

    A language-model generator that cannot answer (its server down or failing after its retries) is replaced by
    the extractive generator for this turn; ``guardrails.generator.fallback`` says from which and why.
    """
    kind = state.get("generator", "extractive")
    try:
        return answer(state, deps, kind)
    except GeneratorError as exc:
        if kind == "extractive":
            raise
        update = answer(state, deps, "extractive")
        update["generator"] = "extractive"
        update["guardrails"]["generator"]["fallback"] = {"from": kind, "reason": str(exc)}
        return update


def answer(state: ChatState, deps: Deps, kind: str) -> dict[str, Any]:
    """The node's update with ``kind``'s answer (streamed through the output rails when the turn streams)."""
    mode, lang = state.get("mode", "rag"), state.get("lang", "en")
    generator = deps.generators[kind]
    # the conversation so far, with what the customer and an agent wrote while the agent held the chat
    messages = with_agent_exchange(state.get("messages", []), state, deps) if deps.config.history_turns else []
    history = messages[:-1][-deps.config.history_turns :] if deps.config.history_turns else []
    request = GenerationRequest(
        # The extractive generator matches sentences to the resolved query; an LLM reads the message in context,
        # except "in English, please", which asks the last question again (graph.nodes.resolve_followup).
        question=state.get("query", "") if kind == "extractive" or _switch(state) else state.get("text", ""),
        lang=lang,
        passages=state.get("passages", []) if mode != "finetune" else [],
        history=history,
        use_passages=mode != "finetune",
        company=deps.config.company,
    )
    if (written := query_language(state)) != lang:  # asked in the other language than the answer's
        request.written = written
    if kind == "extractive" and _switch(state) and (said := _last_answer(state)):
        # "in English, please": the last answer told again, so the sentences nearest it, not nearest its question
        # (194 QA dev questions then a request for the other language: USE cosine with the first answer 0.495 ->
        # 0.618, with the reference 0.423 -> 0.456; docs/graph.md)
        request.question = said
    if getattr(generator, "drafts", False) and request.use_passages and request.passages:
        # a model trained on drafts (``data prepare --raft-draft``) reads the extractive answer to the resolved query
        extractive = deps.generators["extractive"]
        request.draft = extractive.generate(replace(request, question=state.get("query", ""))).answer
    source_language = getattr(generator, "source_language", None)  # the extractive generator quotes as written
    said_before = preface(source_language(request), lang) if source_language is not None else ""
    earlier = state.get("guardrails", {}).get("stream", {})
    spent = state.get("tokens_generated", 0) or 0  # an LLM answer the output rails replaced still cost its tokens
    # Once some sentences of a stopped answer went out, its replacement comes whole in the final event.
    if state.get("stream") and not (earlier.get("stopped") and earlier.get("released")):
        from langgraph.config import get_stream_writer

        from graph.generators.hf import citations_in
        from graph.nodes.guard_output import OutputGate, release

        writer, gate = get_stream_writer(), OutputGate(state, deps)
        index, pending = 0, said_before

        def emit(sentence: str) -> None:
            nonlocal index, pending
            if pending:  # the preface goes out with the first sentence, a table or a list after a blank line as in
                # the final answer (respond.joined); sent ahead with a space, the streamed text differed from it
                sentence, pending = joined(pending, sentence.rstrip()) + sentence[len(sentence.rstrip()) :], ""
            writer({"type": "token", "text": sentence, "sentence": index})
            index += 1

        outcome = release(generator.stream(request), gate.check, emit, gate.cite)
        failed = outcome["failed"] or gate.finish()
        # as sent (citation marks attributed by the rail); a stopped answer is replaced whole anyway
        answer = (outcome["text"] if outcome["failed"] else outcome["released_text"]).strip()
        record = {"generator": kind, "released": outcome["released"], "stopped": bool(outcome["failed"]),
                  "failed": failed, "checks": gate.checks}  # fmt: skip
        return {"answer": answer, "preface": said_before, "citations": citations_in(answer, len(request.passages)),
                "tokens_generated": spent + (0 if kind == "extractive" else outcome["pieces"]),
                "guardrails": {"generator": {"name": kind}, "stream": record}}  # fmt: skip
    generation = generator.generate(request)
    return {"answer": generation.answer, "preface": said_before, "citations": generation.citations,
            "tokens_generated": spent + generation.tokens,
            "guardrails": {"generator": {"name": kind}}}  # fmt: skip


def _switch(state: ChatState) -> bool:
    return bool(state.get("guardrails", {}).get("followup", {}).get("language_switch"))


def _last_answer(state: ChatState) -> str:
    """The bot's last answer from the knowledge base, without its citation marks ("" for none)."""
    answers = [m for m in state.get("messages", []) if m.get("role") == "assistant" and m.get("route") == "answered"]
    return re.sub(r"\s*\[\d+\]", "", str(answers[-1].get("content", ""))).strip() if answers else ""
