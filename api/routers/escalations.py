"""``/v1/escalations`` for agents: the queue, one escalation with agent assist, and its lifecycle (claim, reply,
release, resolve). Every transition is atomic in the store: of two agents claiming at once, one gets 200 and the
other 409."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import AgentKey, ReadyRuntime
from api.errors import validation_failure
from api.keys import agent_identity
from api.models import (
    ESCALATION_ID,
    AgentMessage,
    AgentReply,
    Escalation,
    EscalationDetail,
    EscalationList,
    ReleaseRequest,
    ResolveRequest,
    error_responses,
)

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])
ERRORS = error_responses(403, 422)
EscalationId = Annotated[str, Path(pattern=ESCALATION_ID, description="Escalation id.")]
Status = Literal["open", "assigned", "resolved", "returned", "closed"]


@contextmanager
def _lifecycle() -> Iterator[None]:
    """The store's refusals as HTTP answers: unknown id 404, a forbidden transition 409, a refused reply 422."""
    from graph.nodes.handoff import ReplyRefused
    from graph.store import EscalationConflict, EscalationNotFound

    try:
        yield
    except EscalationNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except EscalationConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ReplyRefused as exc:
        raise validation_failure(["body", "text"], str(exc)) from exc


def _check(text: str | None, max_chars: int, *, note: bool = False) -> None:
    """The limits on an agent's reply or note (``graph.store.check_agent_text``, which the in-process UI applies
    too) as a 422 at the field."""
    from graph.store import AgentTextRejected, check_agent_text

    try:
        check_agent_text(text, max_chars=max_chars, note=note)
    except AgentTextRejected as exc:
        raise validation_failure(["body", exc.field], str(exc), exc.kind) from exc


@router.get("", response_model=EscalationList, responses=ERRORS, summary="The escalation queue")
def escalations(
    key: AgentKey,
    runtime: ReadyRuntime,
    status: Annotated[Status | None, Query(description="Only this status (closed: resolved or returned).")] = None,
    lang: Annotated[Literal["es", "en"] | None, Query(description="Only this language.")] = None,
    older_than: Annotated[
        float | None, Query(ge=0, description="Only those waiting this many seconds or more.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    mine: Annotated[bool, Query(description="Only those assigned to the caller (held, or resolved by them).")] = False,
    order: Annotated[
        Literal["newest", "oldest"], Query(description="newest first (default), or oldest (longest waiting) first.")
    ] = "newest",
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many (the next page).")] = 0,
) -> dict[str, Any]:
    """Escalated conversations (redacted transcripts as they were when escalated), newest first unless ``order`` says
    otherwise; ``limit`` of them from ``offset`` on, the filters applied first."""
    rows = runtime.support_store.escalations(
        status=status, limit=limit, lang=lang, older_than=older_than,
        assigned_to=agent_identity(key)[0] if mine else None, oldest_first=order == "oldest", offset=offset,
    )  # fmt: skip
    return {"escalations": rows}


@router.get("/{escalation_id}", response_model=EscalationDetail, responses=error_responses(403, 404, 422),
            summary="One escalation, with agent assist")  # fmt: skip
def escalation(escalation_id: EscalationId, key: AgentKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """The escalation and its history (who did what, when), the live redacted transcript (drafts marked
    ``draft: true``), the passages retrieved for the last customer question and a reply drafted from them in the
    customer's language."""
    from graph.nodes.handoff import escalation_view

    with _lifecycle():
        return escalation_view(runtime.service, escalation_id)


@router.post("/{escalation_id}/claim", response_model=Escalation, responses=error_responses(400, 403, 404, 409, 422),
             summary="Take an escalation")  # fmt: skip
def claim(escalation_id: EscalationId, key: AgentKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Assign the escalation to the caller; 409 if another agent holds it or it is closed. While assigned, the
    customer's messages go to the caller and the bot stays silent."""
    agent, name = agent_identity(key)
    with _lifecycle():
        record: dict[str, Any] = runtime.chat_service.store.claim(escalation_id, agent, name)
    return record


@router.post("/{escalation_id}/messages", status_code=201, response_model=AgentMessage,
             responses=error_responses(400, 403, 404, 409, 413, 422), summary="Reply to the customer")  # fmt: skip
def reply(escalation_id: EscalationId, body: AgentReply, key: AgentKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Send ``text`` to the customer's chat (role ``agent``) after the same PII redaction and output rails as a bot
    answer; only the agent holding the escalation may reply (409 otherwise)."""
    from graph.nodes.handoff import send_agent_reply

    _check(body.text, runtime.config.max_message_chars)
    agent, _ = agent_identity(key)
    with _lifecycle():
        return send_agent_reply(runtime.service, escalation_id, agent, body.text)


@router.post("/{escalation_id}/resolve", response_model=Escalation, responses=error_responses(400, 403, 404, 409, 422),
             summary="Close an escalation")  # fmt: skip
def resolve(
    escalation_id: EscalationId, key: AgentKey, runtime: ReadyRuntime, body: ResolveRequest | None = None
) -> dict[str, Any]:
    """Mark it resolved (an open one, or one the caller holds; admins may resolve any); the bot answers again. The
    note is stored cleaned and redacted with the session's placeholders, as the conversation is."""
    from graph.nodes.handoff import resolve_escalation

    agent, _ = agent_identity(key)
    _check(body.note if body else None, runtime.config.max_message_chars, note=True)
    with _lifecycle():
        return resolve_escalation(runtime.service, escalation_id, agent, body.note if body else None,
                                  force=key.role == "admin")  # fmt: skip


@router.post("/{escalation_id}/release", response_model=Escalation, responses=error_responses(400, 403, 404, 409, 422),
             summary="Give an escalation back")  # fmt: skip
def release(
    escalation_id: EscalationId, key: AgentKey, runtime: ReadyRuntime, body: ReleaseRequest | None = None
) -> dict[str, Any]:
    """Back to the queue (``open``, the default) or to the bot (``to: "bot"``, status ``returned``); only its holder
    (or an admin) may release an assigned escalation."""
    agent, _ = agent_identity(key)
    with _lifecycle():
        record: dict[str, Any] = runtime.chat_service.store.release(
            escalation_id, agent, to=(body.to if body else None) or "queue", force=key.role == "admin"
        )
    return record
