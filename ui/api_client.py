"""The API backend: an httpx client for the supportbot REST API (``SUPPORTBOT_API_URL``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from ui.backend import BackendError, BackendUnavailable


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
    for line in lines:
        if line.startswith(":"):
            continue
        if line == "":
            if data:
                payload = json.loads("\n".join(data))
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
    if data:
        payload = json.loads("\n".join(data))
        if isinstance(payload, dict):
            if event and "type" not in payload:
                payload["type"] = event
            yield payload


class ApiBackend:
    """Talks to the API with a customer key (chat, feedback, handoff) and an agent key (KB, escalations)."""

    kind = "api"

    def __init__(
        self, base_url: str, *, api_key: str | None = None, agent_api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        """Prepare clients for ``base_url``; nothing is sent yet."""
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(timeout_s, connect=3.0)
        self._customer = httpx.Client(base_url=self.base_url, headers=_auth(api_key), timeout=timeout)
        self._agent = httpx.Client(base_url=self.base_url, headers=_auth(agent_api_key or api_key), timeout=timeout)

    def _request(self, method: str, path: str, *, agent: bool = False, **kwargs: Any) -> Any:
        client = self._agent if agent else self._customer
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"cannot reach the support API at {self.base_url}: {exc}") from exc
        return self._check(response)

    def _check(self, response: httpx.Response) -> Any:
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
        self, message: str, *, session_id: str, mode: str | None = None, lang: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST /v1/chat/stream (server-sent events)."""
        body = {"message": message, "session_id": session_id, "mode": mode, "lang": lang}
        body = {k: v for k, v in body.items() if v is not None}
        try:
            with self._customer.stream("POST", "/v1/chat/stream", json=body) as response:
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

    def handoff(self, session_id: str, reason: str = "customer_request") -> dict[str, Any]:
        """POST /v1/handoff."""
        result: dict[str, Any] = self._request("POST", "/v1/handoff", json={"session_id": session_id, "reason": reason})
        return result

    def search(
        self, query: str, *, k: int = 10, lang: str | None = None, tags: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """GET /v1/kb/search."""
        params: list[tuple[str, str | int]] = [("q", query), ("k", k)]
        if lang:
            params.append(("lang", lang))
        params.extend(("tag", tag) for tag in tags or [])
        body = self._request("GET", "/v1/kb/search", agent=True, params=params)
        results: list[dict[str, Any]] = body.get("results", []) if isinstance(body, dict) else body
        return results

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """GET /v1/kb/documents/{id}."""
        result: dict[str, Any] | None = self._request("GET", f"/v1/kb/documents/{doc_id}", agent=True)
        return result

    def tags(self) -> list[str]:
        """The API lists no tags: the console falls back to a free-text tag filter."""
        return []

    def escalations(self, limit: int = 100) -> list[dict[str, Any]]:
        """GET /v1/escalations."""
        body = self._request("GET", "/v1/escalations", agent=True, params={"limit": limit})
        rows: list[dict[str, Any]] = body.get("escalations", []) if isinstance(body, dict) else body
        return rows

    def knowledge_gaps(self, limit: int = 50) -> list[dict[str, Any]]:
        """GET /v1/kb/gaps (agents)."""
        body = self._request("GET", "/v1/kb/gaps", agent=True, params={"limit": limit})
        rows: list[dict[str, Any]] = body.get("gaps", []) if isinstance(body, dict) else body
        return sorted(rows, key=lambda row: (-int(row.get("count", 0)), str(row.get("question", ""))))


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-API-Key": key} if key else {}
