"""Request and response models of the API: the OpenAPI schema and the 422 reasons come from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.state import SESSION_ID
from graph.store import NOTE_MAX_CHARS
from retrieval.documents import ID_PATTERN, UPDATED_FORMS, checked_updated

Mode = Literal["rag", "finetune", "hybrid"]
Lang = Literal["es", "en"]
# human: an agent holds the session; smalltalk: a greeting, thanks, goodbye or question about the assistant
Route = Literal["answered", "smalltalk", "out_of_scope", "refused", "handoff", "human"]
ESCALATION_ID = r"^[A-Za-z0-9_-]{1,64}$"
# What the file loader accepts, so an article ingested from files can be read, updated and deleted here too.
DOC_ID = ID_PATTERN
# A hard cap for the schema; the configured ``max_message_chars`` (usually lower) is checked by the handler.
MESSAGE_CAP = 100_000


class Strict(BaseModel):
    """Requests reject unknown fields, so a typo is a clear 422 instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """Every error: a reason, and for 422 the offending fields."""

    detail: str | list[dict[str, Any]] = Field(description="What was wrong with the request.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes plus those of every authenticated route (401, 429, 503)."""
    return {code: {"model": ErrorResponse} for code in sorted({401, 429, 503, *codes})}


class ChatRequest(Strict):
    """One customer message."""

    message: str = Field(min_length=1, max_length=MESSAGE_CAP, description="The customer's message.")
    session_id: str | None = Field(
        default=None, pattern=SESSION_ID, description="Conversation id; omit to start a new conversation."
    )
    mode: Mode | None = Field(default=None, description="rag, finetune or hybrid; the server default when omitted.")
    lang: Lang | None = Field(default=None, description="Answer language; detected from the message when omitted.")


class Source(BaseModel):
    """A knowledge-base passage the answer is based on."""

    model_config = ConfigDict(extra="allow")

    doc_id: str
    chunk_id: str | None = None
    title: str | None = None
    url: str | None = None
    lang: str | None = None
    score: float | None = None
    text: str | None = None


class ChatSource(Source):
    """A passage of a chat answer, with the number the answer cites it by."""

    citation: int = Field(description="The [n] the answer cites this source by (its place among the passages shown).")


class ChatResponse(BaseModel):
    """The same fields as ``supportbot chat --json``."""

    model_config = ConfigDict(extra="allow")

    answer: str
    lang: str
    mode: str
    route: Route
    sources: list[ChatSource] = []
    guardrails: dict[str, Any] = {}
    latency_ms: float
    node_latency_ms: dict[str, float] = {}
    session_id: str
    tokens_generated: int = 0
    replayed: bool = Field(
        default=False,
        description="True when this is the answer of an earlier request sent with the same Idempotency-Key.",
    )


class Turn(BaseModel):
    """One message of a transcript (personal data redacted)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str


class HandoffStatus(BaseModel):
    """Who has the conversation: the bot, the queue (``waiting``) or an agent (``assigned``)."""

    status: Literal["bot", "waiting", "assigned"]
    escalation_id: str | None = None
    agent: str | None = Field(default=None, description="The agent's display name while assigned.")
    last: str | None = Field(default=None, description="How the latest escalation ended (resolved, returned).")


class TranscriptResponse(BaseModel):
    """A conversation, redacted: the bot's turns and the messages exchanged with a person (role ``agent``)."""

    session_id: str
    messages: list[Turn]
    handoff: HandoffStatus | None = None


class AgentReply(Strict):
    """An agent's message to the customer."""

    text: str = Field(min_length=1, max_length=MESSAGE_CAP, description="The reply; PII is redacted before sending.")


class ResolveRequest(Strict):
    """Close an escalation."""

    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS, description="An internal note (not sent).")


class ReleaseRequest(Strict):
    """Give an escalation back."""

    to: Literal["queue", "bot"] | None = Field(
        default="queue", description="queue: open again (also null); bot: returned to the bot."
    )


class EscalationEvent(BaseModel):
    """One transition in an escalation's history."""

    action: str = Field(description="opened, claimed, released, returned, resolved, or set (an operator's repair).")
    status: Literal["open", "assigned", "resolved", "returned"] = Field(description="The status it left behind.")
    actor: str = Field(description="Who: an agent's key identity, customer, bot or system.")
    note: str | None = Field(default=None, description="The reason it was opened, or a resolving note.")
    at: float = Field(description="When (Unix seconds).")


class Escalation(BaseModel):
    """A conversation handed to people (graph.store.SupportStore): who holds it and since when."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The escalation's id.")
    session_id: str
    lang: str | None = Field(default=None, description="The customer's language (es or en).")
    reason: str | None = Field(default=None, description="Why it was handed off (customer_request, low_confidence...).")
    transcript: list[Turn] = Field(
        default_factory=list, description="The redacted conversation when it was handed off."
    )
    status: Literal["open", "assigned", "resolved", "returned"]
    created_at: float | None = Field(default=None, description="When it was opened (Unix seconds).")
    updated_at: float | None = Field(default=None, description="Its last transition (Unix seconds).")
    queued_at: float | None = Field(default=None, description="When it last (re-)entered the queue (Unix seconds).")
    waiting_since: float | None = Field(
        default=None, description="Since when the customer has waited for a person's answer (Unix seconds), or null."
    )
    assigned_to: str | None = Field(default=None, description="The holding agent's identity, or null.")
    assigned_name: str | None = Field(default=None, description="The holding agent's display name, or null.")
    note: str | None = Field(default=None, description="The resolving note (internal), or null.")
    history: list[EscalationEvent] | None = Field(
        default=None, description="Every transition, oldest first (one escalation's answers; not in the queue list)."
    )


class AgentMessage(BaseModel):
    """An agent's reply as stored and sent to the customer."""

    model_config = ConfigDict(extra="allow")

    id: int
    session_id: str
    escalation_id: str | None = None
    role: str = Field(description="agent")
    content: str = Field(description="The text the customer sees (personal data redacted).")
    author: str | None = Field(default=None, description="The agent's identity.")
    after_turns: int = Field(description="How many bot turns the conversation had when it was sent.")
    draft: bool
    meta: dict[str, Any] = Field(default_factory=dict)
    at: float = Field(description="When it was sent (Unix seconds).")
    checks: dict[str, Any] = Field(description="The output rails it went through and what they found.")


class Draft(BaseModel):
    """A reply drafted for the agent from the passages, in the customer's language (not sent until the agent does)."""

    model_config = ConfigDict(extra="allow")

    text: str
    question: str | None = Field(default=None, description="The customer message it answers.")
    for_message: int | None = Field(
        default=None, description="Index of that message in the transcript; -1 when it answers the hand-off reason."
    )
    generator: str | None = Field(default=None, description="extractive, or the configured model generator.")
    lang: str | None = None
    id: int | None = Field(default=None, description="The stored draft's id (only while the escalation is assigned).")
    sent: bool = Field(default=False, description="Whether a reply was already sent from this draft.")


class EscalationDetail(BaseModel):
    """An escalation for its agent: history, live transcript, passages and a drafted reply."""

    escalation: Escalation
    transcript: list[Turn]
    passages: list[Source] = Field(description="The passages retrieved for the last customer question.")
    draft: Draft
    status: HandoffStatus


class SignInRequest(Strict):
    """A console user's name and password."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=1, max_length=1000)


class KeyInfo(BaseModel):
    """The caller's key (never its secret), or a new one with ``key`` set once."""

    id: str
    role: str
    name: str
    key: str | None = None
    expires_at: str | None = Field(
        default=None,
        description="When a console sign-in's key stops working (UTC, ISO 8601; SUPPORTBOT_SIGNIN_HOURS after the "
        "sign-in); null for keys made with `supportbot keys create`, which do not expire.",
    )


class FeedbackRequest(Strict):
    """Thumbs up or down on one answer."""

    session_id: str = Field(pattern=SESSION_ID)
    turn: int = Field(ge=0, le=10_000, description="0-based index of the answer in the conversation.")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackRecord(BaseModel):
    """A stored rating of one answer."""

    id: str = Field(description="The rating's id.")
    session_id: str
    turn: int = Field(description="0-based index of the rated answer in the conversation, as sent.")
    rating: Literal["up", "down"]
    comment: str | None = Field(description="The comment with its personal data redacted, or null.")
    created_at: float = Field(description="When it was recorded (Unix seconds).")


class HandoffRequest(Strict):
    """The customer asks for a person."""

    session_id: str = Field(pattern=SESSION_ID)
    reason: str | None = Field(
        default="customer_request", min_length=1, max_length=500, description="Why (free text); null: customer_request."
    )
    lang: Lang | None = Field(
        default=None,
        description="the customer's language when the session has none yet "
        "(a hand-off before the first message): the case's language and its draft's",
    )


class Gap(BaseModel):
    """A question the bot could not answer with support (redacted)."""

    model_config = ConfigDict(extra="allow")

    question: str
    lang: str
    count: int = Field(description="How many times it was asked.")
    last_seen: float = Field(description="When it was last asked (Unix seconds).")


class EscalationList(BaseModel):
    """The escalation queue, newest first."""

    escalations: list[Escalation]


class GapList(BaseModel):
    """Questions the bot could not answer, most frequent first."""

    gaps: list[Gap]


class SearchHit(BaseModel):
    """One knowledge-base search result."""

    model_config = ConfigDict(extra="allow")

    doc_id: str
    chunk_id: str
    score: float
    lang: str
    title: str
    text: str
    url: str | None = None
    tags: list[str] = []


class SearchResponse(BaseModel):
    """Search results, best first."""

    query: str
    results: list[SearchHit]


class Document(BaseModel):
    """A stored article."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    text: str
    lang: str


class NewDocument(Strict):
    """An article to add or update (the JSONL ingest format)."""

    id: str = Field(pattern=DOC_ID)
    text: str = Field(min_length=1, max_length=200_000)
    title: str | None = Field(default=None, max_length=500)
    lang: Lang | None = None
    url: str | None = Field(default=None, max_length=2000)
    tags: list[str] = Field(default=[], max_length=50)
    translation_of: str | None = Field(default=None, pattern=DOC_ID)
    updated: str | None = Field(
        default=None,
        max_length=64,
        description=f"When it last changed, {UPDATED_FORMS}: of duplicates, the newest is kept.",
    )

    @field_validator("updated")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        # the file loader's rule: "yesterday" or "2025-13-45" was stored and then compared as text
        try:
            return checked_updated(value)
        except ValueError:  # the loader's message quotes the value; a 422 never echoes the input
            raise ValueError(f"updated must be {UPDATED_FORMS}") from None


class IngestRequest(Strict):
    """Articles to add or update."""

    documents: list[NewDocument] = Field(min_length=1, max_length=1000)


class IndexReport(BaseModel):
    """What an ingest or delete changed; ingest reports include the dedup report."""

    model_config = ConfigDict(extra="allow")

    index: str
    documents: int
    index_version: str | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None
    index_version: str | None = None
