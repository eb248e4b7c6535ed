"""The openai generator: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, TGI) over httpx,
streaming with server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from graph.generators.base import Generation, GenerationRequest, llm_messages
from graph.generators.hf import citations_in


class GeneratorError(RuntimeError):
    """The server could not be reached or answered with an error (names the URL)."""


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
    ) -> None:
        """Prepare a pooled HTTP client (nothing is sent yet)."""
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_new_tokens, self.temperature = model, max_new_tokens, temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout_s, headers=headers)

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
            response = self.client.post(self.url, json=self._body(request, False))
            response.raise_for_status()
            data = response.json()
            answer = str(data["choices"][0]["message"]["content"] or "").strip()
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise GeneratorError(f"{self.url}: {exc}") from exc
        tokens = int((data.get("usage") or {}).get("completion_tokens") or len(answer.split()))
        return Generation(answer, citations_in(answer, len(request.passages)), tokens)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Stream the completion's text deltas (``data: {...}`` lines until ``data: [DONE]``)."""
        import httpx

        try:
            with self.client.stream("POST", self.url, json=self._body(request, True)) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    delta = json.loads(payload)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise GeneratorError(f"{self.url}: {exc}") from exc
