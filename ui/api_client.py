"""The API backend: an httpx client for the supportbot REST API (``SUPPORTBOT_API_URL``)."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ui.protocol import BackendError, BackendUnavailable, RateLimited, SignedOut, Staff

# Following a conversation a person has (or is about to take): its event stream, one request per FOLLOW_WAIT_S
# (the API closes it then), instead of one GET per poll of every waiting customer on the UI's one shared key.
FOLLOW_WAIT_S = 300
FOLLOW_IDLE_S = 30  # a stream no page asked about for this long is closed (the tab went away, the hand-off ended)
FOLLOW_RETRY_S = 5  # after a failed stream (the service down, an error), the next try


def _retry_after(response: httpx.Response) -> int:
    """The ``Retry-After`` seconds of a 429 (at least 1; 5 when missing or not a number)."""
    try:
        return max(1, int(response.headers.get("retry-after", "")))
    except ValueError:
        return FOLLOW_RETRY_S


def _reason(response: httpx.Response) -> str:
    """The API's own 4xx reason (``detail``), never a stack trace."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # pydantic validation errors
        detail = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return f"HTTP {response.status_code}: {detail}"


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Server-sent events to dicts: ``data:`` lines hold JSON; an ``event:`` name fills a missing ``type``."""
    event: str | None = None
    data: list[str] = []
    for line in itertools.chain(lines, [""]):  # a closing blank line dispatches an event the stream ends without one
        if line.startswith(":"):
            continue
        if line == "":
            payload = json.loads("\n".join(data)) if data else None
            if isinstance(payload, dict):
                if event and "type" not in payload:
                    payload["type"] = event
                yield payload
            event, data = None, []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


class _Follower:
    """One conversation's event stream (``GET /v1/sessions/{id}/events``), read in a daemon thread: every event (who
    has the conversation, a new message) gives :attr:`version` a new value, and the page then reads the conversation.
    Nothing of Streamlit is touched from the thread."""

    def __init__(self, backend: ApiBackend, session_id: str) -> None:
        self.session_id = session_id
        self.version = next(backend._ticks)
        self.asked = time.monotonic()
        self.stopped = threading.Event()
        self._backend = backend
        self._response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._run, name=f"follow-{session_id[:8]}", daemon=True)
        self.thread.start()

    def idle(self) -> bool:
        return self.stopped.is_set() or time.monotonic() - self.asked > FOLLOW_IDLE_S

    def stop(self) -> None:
        self.stopped.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # closed from another thread: the thread ends either way
                response.close()  # unblocks the thread's read

    def _changed(self) -> None:
        self.version = next(self._backend._ticks)

    def _run(self) -> None:
        backend = self._backend
        try:
            with httpx.Client(base_url=backend.base_url, headers=backend._customer_headers,
                              timeout=httpx.Timeout(60.0, connect=3.0)) as client:  # fmt: skip
                while not self.idle():
                    self.stopped.wait(self._listen(client))
        finally:
            backend._forget(self)

    def _listen(self, client: httpx.Client) -> float:
        """Read the stream until it ends; returns the seconds to wait before the next one."""
        path, started = f"/v1/sessions/{self.session_id}/events", time.monotonic()
        try:
            with client.stream("GET", path, params={"wait": FOLLOW_WAIT_S}) as response:
                self._response = response
                if response.status_code == 429:  # the shared key's budget is spent: wait as told, poll nothing
                    return _retry_after(response)
                if response.status_code >= 400:  # the page reads the conversation, and says what is wrong
                    self._changed()
                    return FOLLOW_RETRY_S
                for line in response.iter_lines():  # the API pings every 15 s: an idle stream is seen to end
                    if self.idle():
                        return 0
                    if line.startswith("event:"):
                        self._changed()
        except Exception:  # down, or closed by stop(): the page finds out with its own request
            if self.stopped.is_set():
                return 0
            self._changed()
            return FOLLOW_RETRY_S
        finally:
            self._response = None
        # The API closed it after FOLLOW_WAIT_S: again (its first event catches up on the gap); one that ended at once
        # (a proxy's cut) is not retried in a loop that would spend the key.
        return 1.0 if time.monotonic() - started > FOLLOW_RETRY_S * 2 else FOLLOW_RETRY_S


class ApiBackend:
    """Talks to the API with a customer key (chat, feedback, handoff) and an agent key (KB, escalations)."""

    kind = "api"

    def __init__(
        self, base_url: str, *, api_key: str | None = None, agent_api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        """Prepare clients for ``base_url``; nothing is sent yet."""
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(timeout_s, connect=3.0)
        self._timeout = timeout
        self._clients: dict[str, httpx.Client] = {}
        self._customer_headers = _auth(api_key)
        self._customer = httpx.Client(base_url=self.base_url, headers=self._customer_headers, timeout=timeout)
        self._followers: dict[str, _Follower] = {}
        self._followers_lock = threading.Lock()
        self._ticks = itertools.count(1)
        self._agent = httpx.Client(base_url=self.base_url, headers=_auth(agent_api_key or api_key), timeout=timeout)

    def _staff_client(self, staff: Staff | None) -> httpx.Client:
        """A client with the signed-in person's key (one per key), or the configured agent key."""
        if staff is None or not staff.key:
            return self._agent
        client = self._clients.get(staff.key)
        if client is None:
            client = httpx.Client(base_url=self.base_url, headers=_auth(staff.key), timeout=self._timeout)
            self._clients[staff.key] = client
        return client

    def _request(
        self, method: str, path: str, *, agent: bool = False, staff: Staff | None = None, **kwargs: Any
    ) -> Any:
        client = self._staff_client(staff) if agent or staff is not None else self._customer
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"cannot reach the support API at {self.base_url}: {exc}") from exc
        if response.status_code == 401 and staff is not None and staff.key:  # the sign-in's key is no longer valid
            raise SignedOut(_reason(response))
        return self._check(response)

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code == 429:
            raise RateLimited(_reason(response), retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise BackendUnavailable(f"the support API at {self.base_url} failed ({_reason(response)})")
        if (
            response.status_code == 404
            and response.request.method == "GET"
            and "/kb/documents/" in str(response.request.url)
        ):
            return None
        if response.status_code >= 400:
            raise BackendError(_reason(response))
        return response.json() if response.content else {}

    def health(self) -> None:
        """GET /readyz: up only when the graph and the index are loaded (503 while loading or broken)."""
        self._request("GET", "/readyz")

    def stream(
        self,
        message: str,
        *,
        session_id: str,
        mode: str | None = None,
        lang: str | None = None,
        request_key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """POST /v1/chat/stream (server-sent events), with ``request_key`` as its Idempotency-Key."""
        body = {"message": message, "session_id": session_id, "mode": mode, "lang": lang}
        body = {k: v for k, v in body.items() if v is not None}
        headers = {"Idempotency-Key": request_key} if request_key else None
        try:
            with self._customer.stream("POST", "/v1/chat/stream", json=body, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check(response)
                for event in parse_sse(response.iter_lines()):
                    if event.get("type") == "error":  # the turn failed after the headers were sent
                        raise BackendUnavailable(str(event.get("detail", "the answer could not be completed")))
                    yield event
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"cannot reach the support API at {self.base_url}: {exc}") from exc

    def feedback(self, session_id: str, turn: int, rating: str, comment: str | None = None) -> dict[str, Any]:
        """POST /v1/feedback."""
        body = {"session_id": session_id, "turn": turn, "rating": rating, "comment": comment}
        result: dict[str, Any] = self._request("POST", "/v1/feedback", json=body)
        return result

    def handoff(self, session_id: str, reason: str = "customer_request", lang: str | None = None) -> dict[str, Any]:
        """POST /v1/handoff."""
        body = {"session_id": session_id, "reason": reason, **({"lang": lang} if lang else {})}
        result: dict[str, Any] = self._request("POST", "/v1/handoff", json=body)
        return result

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        lang: str | None = None,
        tags: list[str] | None = None,
        staff: Staff | None = None,
    ) -> list[dict[str, Any]]:
        """GET /v1/kb/search."""
        params: list[tuple[str, str | int]] = [("q", query), ("k", k)]
        if lang:
            params.append(("lang", lang))
        params.extend(("tag", tag) for tag in tags or [])
        body = self._request("GET", "/v1/kb/search", agent=True, staff=staff, params=params)
        results: list[dict[str, Any]] = body.get("results", []) if isinstance(body, dict) else body
        return results

    def document(self, doc_id: str, staff: Staff | None = None) -> dict[str, Any] | None:
        """GET /v1/kb/documents/{id}."""
        result: dict[str, Any] | None = self._request("GET", f"/v1/kb/documents/{doc_id}", agent=True, staff=staff)
        return result

    def tags(self) -> list[str]:
        """The API lists no tags: the console falls back to a free-text tag filter."""
        return []

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
        """GET /v1/escalations."""
        params = {"limit": limit, "status": status, "lang": lang, "older_than": older_than,
                  "mine": "true" if mine else None, "order": "oldest" if oldest_first else None}  # fmt: skip
        params = {k: v for k, v in params.items() if v is not None}
        body = self._request("GET", "/v1/escalations", agent=True, staff=staff, params=params)
        rows: list[dict[str, Any]] = body.get("escalations", []) if isinstance(body, dict) else body
        return rows

    def knowledge_gaps(self, limit: int = 50, staff: Staff | None = None) -> list[dict[str, Any]]:
        """GET /v1/kb/gaps (agents)."""
        body = self._request("GET", "/v1/kb/gaps", agent=True, staff=staff, params={"limit": limit})
        rows: list[dict[str, Any]] = body.get("gaps", []) if isinstance(body, dict) else body
        return sorted(rows, key=lambda row: (-int(row.get("count", 0)), str(row.get("question", ""))))

    def conversation(self, session_id: str) -> dict[str, Any]:
        """GET /v1/sessions/{id} with the customer key (an unknown session: empty, with the bot)."""
        try:
            body: dict[str, Any] = self._request("GET", f"/v1/sessions/{session_id}")
        except BackendError as exc:
            if str(exc).startswith("HTTP 404"):
                return {"messages": [], "handoff": {"status": "bot"}}
            raise
        return body

    def changes(self, session_id: str) -> int:
        """Follow the conversation's event stream (started on the first call, closed when no page has asked for
        ``FOLLOW_IDLE_S``); the number changes with every event, so the page reads the conversation only then."""
        with self._followers_lock:
            follower = self._followers.get(session_id)
            if follower is None or not follower.thread.is_alive() or follower.stopped.is_set():
                follower = self._followers[session_id] = _Follower(self, session_id)
            follower.asked = time.monotonic()
            return follower.version

    def _forget(self, follower: _Follower) -> None:
        with self._followers_lock:
            if self._followers.get(follower.session_id) is follower:
                del self._followers[follower.session_id]

    def close(self) -> None:
        """Close the conversations' event streams (they would otherwise end by themselves once no page asks)."""
        with self._followers_lock:
            followers = list(self._followers.values())
        for follower in followers:
            follower.stop()
        for follower in followers:
            follower.thread.join(timeout=5)

    def sign_in(self, *, api_key: str | None = None, username: str | None = None, password: str | None = None
                ) -> Staff:  # fmt: skip
        """GET /v1/auth/me with the key, or POST /v1/auth/signin with the name and password."""
        issued = False
        if not api_key:
            credentials = {"username": username or "", "password": password or ""}
            body = self._request("POST", "/v1/auth/signin", json=credentials)
            api_key, issued = str(body["key"]), True
        me = self._request("GET", "/v1/auth/me", staff=Staff(role="?", name="?", agent_id="?", key=api_key))
        if me["role"] not in ("agent", "admin"):
            raise BackendError("this key has the customer role: it opens only the customer chat")
        from api.keys import ApiKey, agent_identity

        agent_id, display = agent_identity(ApiKey(id=str(me["id"]), role=me["role"], name=str(me["name"]), created=""))
        return Staff(role=str(me["role"]), name=display, agent_id=agent_id, key=api_key, issued=issued)

    def sign_out(self, staff: Staff) -> None:
        """POST /v1/auth/signout (revokes a key issued at sign-in)."""
        if staff.issued:
            self._request("POST", "/v1/auth/signout", staff=staff)
        client = self._clients.pop(staff.key or "", None)
        if client is not None:
            client.close()

    def escalation(self, staff: Staff, escalation_id: str) -> dict[str, Any]:
        """GET /v1/escalations/{id}."""
        body: dict[str, Any] = self._request("GET", f"/v1/escalations/{escalation_id}", staff=staff)
        return body

    def act(self, staff: Staff, escalation_id: str, action: str, **body: Any) -> dict[str, Any]:
        """POST /v1/escalations/{id}/{claim|messages|resolve|release}."""
        if action not in ("claim", "messages", "resolve", "release"):
            raise ValueError(f"unknown escalation action {action!r}")
        payload = {k: v for k, v in body.items() if v is not None} or None
        result: dict[str, Any] = self._request("POST", f"/v1/escalations/{escalation_id}/{action}", staff=staff,
                                               json=payload)  # fmt: skip
        return result

    def add_article(self, staff: Staff, document: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/kb/documents (admins)."""
        result: dict[str, Any] = self._request("POST", "/v1/kb/documents", staff=staff, json={"documents": [document]})
        return result


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-API-Key": key} if key else {}
