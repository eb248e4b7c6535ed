"""After a person held the chat: the bot follows on from what the customer and the agent wrote (the store's
messages), not from the question before the hand-off."""

from __future__ import annotations

import pytest

from graph.service import ChatService


@pytest.mark.parametrize(
    ("session", "first", "told", "reply", "after"),
    [
        ("after-agent-en", "How do I return an item?", "My refund for the jacket hasn't arrived yet",
         "I've checked: we issued the refund yesterday.", "and how long does that take?"),
        ("after-agent-es", "¿Cómo devuelvo un artículo?", "No me ha llegado el reembolso de la chaqueta",
         "Lo he revisado: emitimos el reembolso ayer.", "¿y cuánto tarda?"),
    ],
)  # fmt: skip
def test_the_bot_follows_on_from_the_agents_exchange(
    service: ChatService, session: str, first: str, told: str, reply: str, after: str
) -> None:
    assert service.chat(first, session_id=session)["route"] == "answered"
    escalation = service.request_handoff(session)
    service.store.claim(escalation["id"], "agent-1", "Ana")
    assert service.chat(told, session_id=session)["route"] == "human"
    service.store.add_agent_message(escalation["id"], "agent-1", reply, len(service.transcript(session)))
    service.store.resolve(escalation["id"], "agent-1")
    result = service.chat(after, session_id=session)
    assert result["route"] == "answered", result
    # searched with the refund the customer told the agent about, not the returns question before the hand-off
    assert result["shown"][0]["doc_id"].rsplit("-", 1)[0] in {"refund-policy", "track-refund"}, result["shown"]
    assert told in result["query"], result["query"]
