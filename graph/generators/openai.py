"""The openai generator: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, TGI) over httpx,
streaming with server-sent events.

A request that cannot connect, times out, or gets 429 or a 5xx is retried a bounded number of times with
exponential backoff (a stream only before its first byte: text already released is never sent twice); then
:class:`GeneratorError` tells the generate node to answer extractively.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from graph.generators.base import Generation, GenerationRequest, GeneratorError, llm_messages
from graph.generators.hf import citations_in

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class OpenAIGenerator:
    """Chat completions from ``base_url`` (e.g. ``http://localhost:8000/v1``)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.5,
    ) -> None:
        """Prepare a pooled HTTP client (nothing is sent yet).

        Args:
            timeout_s: longest wait for the server to answer (and between two streamed pieces); connecting gets
                at most 5 s.
            retries: further attempts after a failed one (connection error, timeout, 408, 429 or 5xx).
            backoff_s: wait before the first retry, doubled before each next one.
        """
        import httpx

        if retries < 0 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError("retries >= 0, backoff_s >= 0 and timeout_s > 0 required")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_new_tokens, self.temperature = model, max_new_tokens, temperature
        self.retries, self.backoff_s = retries, backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)), headers=headers)

    def _send(self, body: dict[str, Any], *, stream: bool) -> Any:
        """POST ``body`` with the retry policy; the successful response (open, when ``stream``)."""
        import httpx

        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.client.send(self.client.build_request("POST", self.url, json=body), stream=stream)
            except httpx.TransportError:  # refused, reset or timed out
                if last:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    if response.is_error:
                        response.close()
                        response.raise_for_status()
                    return response
                response.close()
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _body(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": llm_messages(request),
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }

    def generate(self, request: GenerationRequest) -> Generation:
        """One completion."""
        import httpx

        try:
            data = self._send(self._body(request, False), stream=False).json()
            answer = str(data["choices"][0]["message"]["content"] or "").strip()
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise GeneratorError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        tokens = int((data.get("usage") or {}).get("completion_tokens") or len(answer.split()))
        return Generation(answer, citations_in(answer, len(request.passages)), tokens)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Stream the completion's text deltas (``data: {...}`` lines until ``data: [DONE]``)."""
        import httpx

        try:
            response = self._send(self._body(request, True), stream=True)
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    delta = json.loads(payload)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            finally:
                response.close()
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise GeneratorError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
