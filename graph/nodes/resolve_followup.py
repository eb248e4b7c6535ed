"""Resolve a follow-up from the conversation: "¿y cuánto tarda?" after a question about returns is a question about
returns. The query is built by retrieval.conversation.conversation_query (the one used by `kb search --batch`): a
message that stands on its own is searched as it is; one that leans on what came before is searched together with
the topic and the customer's previous turn, the latest turn dominating. The bot's canned replies (redirects, small
talk, refusals, hand-off notices) are left out: a message after one is judged on its own. So are its answers that ask
nothing: quoted from the article of the previous question, they pulled every follow-up back to it (benchmarks/
conversations.py, dev: the gold article retrieved first for 52 % of later turns with them, 57 % without); an answer
that asks ("Which order?") stays, and makes the reply a follow-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graph.deps import Deps
from graph.state import ChatState
from retrieval.conversation import conversation_query, is_followup
from retrieval.text import PLACEHOLDER, unshout

__all__ = ["focus", "is_followup", "run", "strip_markup", "with_agent_exchange"]

# A redaction placeholder (group 1) is matched first, so that it is kept whole: it is a word of the message. A comment,
# script or style block is found by its opening here and its end by :data:`_BLOCK_ENDS` (see strip_markup).
_MARKUP = re.compile(
    rf"((?-i:{PLACEHOLDER.pattern}))|(?P<comment><!--)|(?P<script><script)|(?P<style><style)|<[^>]{{1,200}}>|```"
    r"|[#*_`]{1,3}",
    re.S | re.I,
)
_TAG = re.compile(r"<[^>]{1,200}>")
_BLOCK_ENDS = {
    "comment": re.compile("-->"),
    "script": re.compile("</script>", re.I),
    "style": re.compile("</style>", re.I),
}


def strip_markup(text: str) -> str:
    """Drop HTML tags, scripts and Markdown marks, keeping the words (a question pasted as HTML is a question) and
    the placeholders of redacted values ("mi correo es <EMAIL_1>" hands over an e-mail).

    A block (``<!-- ... -->``, ``<script ... </script>``, ``<style ... </style>``) runs from its opening to the first
    end after it. Each end is looked for once per block, and no more once one is missing (no later opening has one),
    so the work grows with the text: as one regex (``<script.*?</script>``) every unclosed opening scanned to the end
    of the message, and 40,000 characters of "<script" cost seconds of a turn.
    """
    kept, pos, unclosed = [], 0, set()
    while (match := _MARKUP.search(text, pos)) is not None:
        kept.append(text[pos : match.start()])
        pos = match.end()
        if match.group(1):
            kept.append(match.group(1))
            continue
        kept.append(" ")
        block = match.lastgroup
        if block is None:  # a tag or a Markdown mark
            continue
        end = None if block in unclosed else _BLOCK_ENDS[block].search(text, match.end())
        if end is not None:
            pos = end.end()
            continue
        unclosed.add(block)
        tag = _TAG.match(text, match.start())  # no block here: what the opening starts is a tag, or plain text
        if tag is not None:
            pos = tag.end()
        else:
            kept[-1], pos = text[match.start()], match.start() + 1
    kept.append(text[pos:])
    return " ".join("".join(kept).split())


LONG_WORDS = 80


def focus(text: str) -> str:
    """The part of a long message that asks: its last paragraph with a question, cut to its questions when that is
    still long (customers tell the story first; the embedder reads only the first 256 tokens)."""
    if len(text.split()) <= LONG_WORDS:
        return text
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [text]
    asking = [p for p in paragraphs if "?" in p] or paragraphs[-1:]
    last = asking[-1]
    if len(last.split()) > LONG_WORDS:
        # The sentences that end in '?' (split, not re.findall(r"[^.!?]*\?"), which looked for a '?' from every
        # position of a paragraph that had none: seconds for a 40,000-character message).
        questions = [part for part in re.split(r"(?<=[.!?])", last) if part.endswith("?")]
        last = " ".join(q.strip() for q in questions[-3:]) or " ".join(last.split()[-LONG_WORDS:])
    return last


def message_query(text: str) -> str:
    """What the rails and the search read of a message: markup stripped, a long message's asking part
    (:func:`focus`), capitals lowered when it is shouted (:func:`retrieval.text.unshout`)."""
    return unshout(focus(strip_markup(text) or text))


def _canned(message: Mapping[str, Any] | None) -> bool:
    return message is not None and message.get("role") == "assistant" and message.get("route") not in (None, "answered")


def _quoted(message: Mapping[str, Any]) -> bool:
    """The bot's own answer from the knowledge base that asks the customer nothing: sentences of the article it
    answered from, which would pull a follow-up back to that article ("¿y cuánto tardáis en arreglarlo?" after an
    answer quoting the warranty article is about repairs)."""
    return (message.get("role") == "assistant" and message.get("route") == "answered"
            and not str(message.get("content", "")).rstrip().endswith("?"))  # fmt: skip


def _conversation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` without the bot's canned replies and the customer messages they answered, and without the bot's
    answers that ask nothing (:func:`_quoted`): the customer's own words and the topic carry the conversation."""
    kept = []
    for i, message in enumerate(messages):
        reply = messages[i + 1] if i + 1 < len(messages) else None
        if not (_canned(message) or _quoted(message) or (message.get("role") == "user" and _canned(reply))):
            kept.append(message)
    return kept


def with_agent_exchange(messages: list[dict[str, Any]], state: ChatState, deps: Deps) -> list[dict[str, Any]]:
    """``messages`` with what the customer and an agent wrote in the chat while the agent held it (the store's, where
    they were written; the agent's as the assistant's): when the case is closed, the bot follows on from it. "and
    how long does that take?" after telling the agent "my refund hasn't arrived" was searched with the question
    before the hand-off (returns)."""
    store, session_id = getattr(deps, "store", None), state.get("session_id")
    if store is None or not session_id:
        return messages
    merged = store.transcript(session_id, messages)
    if len(merged) == len(messages):
        return messages
    return [{"role": "assistant" if m.get("role") == "agent" else m.get("role"), "content": m.get("content", ""),
             **({"route": m["route"]} if m.get("route") else {})} for m in merged if m.get("content")]  # fmt: skip


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Build the retrieval query from the cleaned message, the transcript and the topic of the conversation."""
    if state.get("route"):
        return {}
    text = state.get("text", "")
    query = message_query(text)
    # Only the bot's answers are conversation: its canned replies (an out-of-scope redirect, small talk, a refusal,
    # a hand-off notice) may end with a question that asks for nothing ("Is there anything else I can help you
    # with?"), so the next message is judged on its own, not as a reply to them; neither they nor the messages they
    # replied to ("what's the best pizza recipe?") are context. An answer that asks ("Which order?") still makes the
    # reply a follow-up. Turns stored before replies carried their route have none and are kept.
    history = _conversation(with_agent_exchange([m for m in state.get("messages", []) if m.get("content")], state,
                                                 deps))  # fmt: skip
    if history and history[-1].get("role") == "user" and history[-1].get("content") == text:
        history = history[:-1]  # redact_pii already appended this turn
    topic = state.get("topic", "")
    if topic and (state.get("guardrails") or {}).get("language", {}).get("switch"):
        # "¿Me lo puedes explicar en inglés?" asks for the last question again, in the other language
        return {
            "query": topic,
            "message_query": topic,
            "standalone_query": "",
            "guardrails": {"followup": {"resolved": True, "topic": topic, "language_switch": True}},
        }
    if not topic:  # no answered question yet: nothing to carry over (the transcript may hold refusals)
        return {
            "query": query,
            "message_query": query,
            "standalone_query": query,
            "guardrails": {"followup": {"resolved": False, "topic": None}},
        }
    built = conversation_query([*history, {"role": "user", "content": query}], topic=topic, lang=state.get("lang"))
    return {
        "query": built.query,
        "message_query": query,
        # Only a message that stands on its own becomes the next topic (respond): a follow-up keeps the one it used.
        "standalone_query": "" if built.followup else built.query,
        "guardrails": {"followup": {"resolved": built.followup, "topic": built.topic if built.followup else None}},
    }
