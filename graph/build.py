"""Wiring only: the nodes, the edges and the routers (each returns a ``Literal`` of the next node's name).

detect_language -> redact_pii -> guard_input -> resolve_followup -> check_scope -> retrieve -> grade_relevance
    -> generate -> guard_output -> respond
with exits to respond (empty, other language, refused, out of scope) and to handoff (person asked for, legal
threat, no relevant passage after one rewrite, answer failing its rails); finetune skips retrieval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from graph.deps import Deps
from graph.nodes import (
    check_scope,
    detect_language,
    generate,
    grade_relevance,
    guard_input,
    guard_output,
    handoff,
    redact_pii,
    resolve_followup,
    respond,
    retrieve,
)
from graph.state import ChatState

NODES: dict[str, Callable[[ChatState, Deps], dict[str, Any]]] = {
    "detect_language": detect_language.run,
    "redact_pii": redact_pii.run,
    "guard_input": guard_input.run,
    "resolve_followup": resolve_followup.run,
    "check_scope": check_scope.run,
    "retrieve": retrieve.run,
    "grade_relevance": grade_relevance.run,
    "generate": generate.run,
    "guard_output": guard_output.run,
    "handoff": handoff.run,
    "respond": respond.run,
}


def route_after_input(state: ChatState) -> Literal["resolve_followup", "handoff", "respond"]:
    """Refusals and redirects answer at once; hand-offs go to a person; everything else goes on."""
    match state.get("route"):
        case "handoff":
            return "handoff"
        case None:
            return "resolve_followup"
        case _:
            return "respond"


def route_after_scope(state: ChatState) -> Literal["retrieve", "generate", "respond"]:
    """Out of scope: redirect. The finetune mode answers without retrieval."""
    if state.get("route"):
        return "respond"
    return "generate" if state.get("mode") == "finetune" else "retrieve"


def route_after_grading(state: ChatState) -> Literal["retrieve", "generate", "handoff", "respond"]:
    """Weak retrieval: one rewrite, then a person (or, for a message that says too little, a question back)."""
    if state.get("route") == "handoff":
        return "handoff"
    if state.get("route"):
        return "respond"
    relevance = state.get("guardrails", {}).get("relevance", {})
    return "retrieve" if relevance.get("weak") else "generate"


def route_after_output(state: ChatState) -> Literal["respond", "generate", "handoff"]:
    """Failed output rails: fall back to the extractive generator once, else hand off."""
    action = state.get("guardrails", {}).get("output", {}).get("action")
    if action == "fallback":
        return "generate"
    return "handoff" if action == "handoff" else "respond"


def _timed(name: str, node: Callable[[ChatState, Deps], dict[str, Any]], deps: Deps) -> Callable[..., Any]:
    def run(state: ChatState) -> dict[str, Any]:
        start = time.perf_counter()
        update = node(state, deps)
        elapsed = round((time.perf_counter() - start) * 1000, 3)
        spent = state.get("node_latency_ms", {}).get(name, 0.0)  # a node that runs twice (rewrite) adds up
        return {**update, "node_latency_ms": {name: round(spent + elapsed, 3)}}

    run.__name__ = name
    return run


def build_graph(deps: Deps, checkpointer: Any = None) -> Any:
    """Compile the agent graph over ``deps``, with ``checkpointer`` for conversation memory."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(ChatState)
    for name, node in NODES.items():
        builder.add_node(name, _timed(name, node, deps))
    builder.add_edge(START, "detect_language")
    builder.add_edge("detect_language", "redact_pii")
    builder.add_edge("redact_pii", "guard_input")
    builder.add_conditional_edges("guard_input", route_after_input)
    builder.add_edge("resolve_followup", "check_scope")
    builder.add_conditional_edges("check_scope", route_after_scope)
    builder.add_edge("retrieve", "grade_relevance")
    builder.add_conditional_edges("grade_relevance", route_after_grading)
    builder.add_edge("generate", "guard_output")
    builder.add_conditional_edges("guard_output", route_after_output)
    builder.add_edge("handoff", "respond")
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer)


def mermaid(deps: Deps | None = None) -> str:
    """The graph as a mermaid diagram (for the docs); the wiring does not depend on ``deps``."""
    return str(build_graph(deps).get_graph().draw_mermaid())  # type: ignore[arg-type]
