"""Generate the answer with the turn's generator: passages for rag/hybrid, the plain prompt for finetune."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.generators import GenerationRequest
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Answer; with ``stream`` set, each piece also goes to the LangGraph custom stream as a token event."""
    kind, mode, lang = state.get("generator", "extractive"), state.get("mode", "rag"), state.get("lang", "en")
    generator = deps.generators[kind]
    history = state.get("messages", [])[:-1][-deps.config.history_turns :] if deps.config.history_turns else []
    request = GenerationRequest(
        # The extractive generator matches sentences to the resolved query; an LLM reads the message in context.
        question=state.get("query", "") if kind == "extractive" else state.get("text", ""),
        lang=lang,
        passages=state.get("passages", []) if mode != "finetune" else [],
        history=history,
        use_passages=mode != "finetune",
    )
    if state.get("stream"):
        from langgraph.config import get_stream_writer

        writer, pieces = get_stream_writer(), []
        for piece in generator.stream(request):
            pieces.append(piece)
            writer({"type": "token", "text": piece})
        answer = "".join(pieces).strip()
        from graph.generators.hf import citations_in

        result = {"answer": answer, "citations": citations_in(answer, len(request.passages)),
                  "tokens_generated": 0 if kind == "extractive" else len(pieces)}  # fmt: skip
    else:
        generation = generator.generate(request)
        result = {"answer": generation.answer, "citations": generation.citations,
                  "tokens_generated": generation.tokens}  # fmt: skip
    return result | {"guardrails": {"generator": {"name": kind}}}
