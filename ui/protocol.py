"""The interface between the pages and the agent: what the pages may call, the errors it raises, who is signed in.

Pages call only the methods of :class:`Backend`; they never know which implementation answers (``ui.backend``
chooses one). Answers are the graph's chat JSON (``answer``, ``lang``, ``route``, ``sources`` ...), streamed as
``{"type": "token", "text"}`` events followed by one ``{"type": "final", **chat_result}`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


class BackendError(RuntimeError):
    """The service answered, but refused or failed the request; the message is safe to show."""


class BackendUnavailable(BackendError):
    """The service cannot be reached (down, not started, timed out, or a 5xx)."""


class SignedOut(BackendError):
    """The service no longer takes the signed-in person's key (HTTP 401): revoked, or signed out in another tab. The
    console signs out and asks for a sign-in again (it said "The service refused the request: HTTP 401: invalid or
    revoked API key" in every tab, still "Signed in as ...")."""


class RateLimited(BackendError):
    """The service refused the request for now: the key is over its rate limit (HTTP 429). Every visitor of the
    customer chat shares the UI's one key, so this is the whole page's budget, not the customer's."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the key has a request again (the API's Retry-After)


@dataclass(frozen=True)
class Staff:
    """A signed-in agent or admin, kept in the Streamlit session (server side, never sent to the browser)."""

    role: str
    name: str  # shown to customers and colleagues
    agent_id: str  # who holds an escalation
    key: str | None = None  # the API key the console calls the API with (API backend)
    issued: bool = False  # the key came from a password sign-in, and is revoked at sign-out


class Backend(Protocol):
    """What the pages may call."""

    kind: str

    def health(self) -> None:
        """Return when the service is up; raise :class:`BackendUnavailable` otherwise."""
        ...

    def stream(
        self,
        message: str,
        *,
        session_id: str,
        mode: str | None = None,
        lang: str | None = None,
        request_key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Token events, then the final chat result (``request_key``: the message's Idempotency-Key; sent again
        with it, a message the service already answered gets that answer back instead of a second turn)."""
        ...

    def feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """Record thumbs ``up`` or ``down`` on answer number ``turn`` of a session."""
        ...

    def handoff(self, session_id: str, reason: str = "customer_request", lang: str | None = None) -> dict[str, Any]:
        """Put the conversation in the human agents' escalation queue (``lang``: the customer's language, used
        when the conversation has none yet); returns the escalation record."""
        ...

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        lang: str | None = None,
        tags: list[str] | None = None,
        staff: Staff | None = None,
    ) -> list[dict[str, Any]]:
        """Knowledge-base search for agents (SearchResult dicts)."""
        ...

    def document(self, doc_id: str, staff: Staff | None = None) -> dict[str, Any] | None:
        """One article by id, None when unknown."""
        ...

    def tags(self) -> list[str]:
        """Tags known to the knowledge base (empty when the backend cannot list them)."""
        ...

    def escalations(
        self,
        limit: int = 100,
        *,
        staff: Staff | None = None,
        status: str | None = None,
        lang: str | None = None,
        older_than: float | None = None,
        mine: bool = False,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """The escalation queue, newest first (``oldest_first``: the longest waiting first), with redacted
        transcripts, optionally filtered (``mine``: only those ``staff`` holds), the filters applied before
        ``limit``."""
        ...

    def knowledge_gaps(self, limit: int = 50, staff: Staff | None = None) -> list[dict[str, Any]]:
        """Questions the bot could not answer, most frequent first."""
        ...

    def conversation(self, session_id: str) -> dict[str, Any]:
        """The customer's conversation as the server has it: ``{"messages", "handoff"}`` (agent messages
        included); an unknown session is empty and with the bot."""
        ...

    def changes(self, session_id: str) -> int:
        """A number that changes whenever the conversation may have changed (a message, who has it): the chat
        reads :meth:`conversation` again only when it differs from the one it last read with. Free to call often;
        it starts following the conversation (the API backend: its event stream) until it is no longer asked."""
        ...

    def sign_in(self, *, api_key: str | None = None, username: str | None = None, password: str | None = None
                ) -> Staff:  # fmt: skip
        """Check an agent or admin key, or a console user's name and password; raise :class:`BackendError` with
        the reason otherwise (a customer key included)."""
        ...

    def sign_out(self, staff: Staff) -> None:
        """End a console session (the key issued at sign-in is revoked)."""
        ...

    def escalation(self, staff: Staff, escalation_id: str) -> dict[str, Any]:
        """One escalation with history, live transcript, passages and a drafted reply."""
        ...

    def act(self, staff: Staff, escalation_id: str, action: str, **body: Any) -> dict[str, Any]:
        """``claim``, ``messages`` (``text``), ``resolve`` (``note``) or ``release`` (``to``) on an escalation."""
        ...

    def add_article(self, staff: Staff, document: dict[str, Any]) -> dict[str, Any]:
        """Add an article to the knowledge base (admins); returns the ingest report."""
        ...
