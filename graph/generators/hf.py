"""The hf generator: the fine-tuned model (base + LoRA adapter, or merged) through ``finetune.inference``.

Concurrent requests (the API serves several sessions) are micro-batched: a request waits up to ``max_wait_ms``
for others, and those waiting go through ``LoadedModel.generate_batch`` together.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from graph.generators.base import Generation, GenerationRequest, llm_messages

_CITATION = re.compile(r"\[(\d{1,2})\]")


def citations_in(answer: str, passages: int) -> list[int]:
    """The passage numbers ``[n]`` an answer cites (only numbers that exist)."""
    found: list[int] = []
    for match in _CITATION.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= passages and n not in found:
            found.append(n)
    return found


Sink = Callable[[str], None] | None


class _Batcher:
    """Collects concurrent requests, streamed or not, and runs them as one batch (a daemon worker thread)."""

    def __init__(self, run_batch: Any, max_batch: int, max_wait_ms: float) -> None:
        self.run_batch, self.max_batch, self.max_wait = run_batch, max_batch, max_wait_ms / 1000
        self.requests: queue.Queue[tuple[list[dict[str, str]], Future[str], Sink, threading.Event]] = queue.Queue()
        threading.Thread(target=self._loop, name="hf-batcher", daemon=True).start()

    def submit(
        self, messages: list[dict[str, str]], sink: Sink = None, cancel: threading.Event | None = None
    ) -> Future[str]:
        """Queue one request; ``sink`` receives its text pieces as the batch decodes; setting ``cancel`` ends it."""
        future: Future[str] = Future()
        self.requests.put((messages, future, sink, cancel or threading.Event()))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self.requests.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.requests.get(timeout=self.max_wait))
                except queue.Empty:
                    break
            try:
                outputs = self.run_batch([m for m, *_ in batch], [s for _, _, s, _ in batch], [c for *_, c in batch])
                for (_, future, _, _), output in zip(batch, outputs, strict=True):
                    future.set_result(output)
            except Exception as exc:  # every waiting caller gets the failure, the worker keeps serving
                for _, future, _, _ in batch:
                    future.set_exception(exc)


class HFGenerator:
    """A local transformers model; greedy when temperature is 0, sampled otherwise."""

    name = "hf"

    def __init__(
        self,
        model_dir: Path,
        device: str | None = None,
        precision: str = "auto",
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        copy_bias: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """Load the model once (``finetune.inference.load_model`` caches it per process)."""
        from finetune.inference import load_model

        self.model = load_model(model_dir, device=device, precision=precision)  # type: ignore[arg-type]
        self.max_new_tokens, self.temperature, self.copy_bias = max_new_tokens, temperature, copy_bias
        self.drafts = bool(self.model.info.get("drafts"))  # trained to answer from the extractive draft
        self._batcher = _Batcher(self._run_batch, max_batch, max_wait_ms)

    def _run_batch(
        self, batch: list[list[dict[str, str]]], sinks: list[Sink], cancels: list[threading.Event]
    ) -> list[str]:
        def on_text(row: int, piece: str) -> None:
            sink = sinks[row]
            if sink is not None:
                sink(piece)

        streaming = any(s is not None for s in sinks)
        return list(self.model.generate_batch(batch, max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                              copy_bias=self.copy_bias,
                                              on_text=on_text if streaming else None,
                                              cancelled=lambda row: cancels[row].is_set()))  # fmt: skip

    def _messages(self, request: GenerationRequest) -> list[dict[str, str]]:
        """The prompt; with no company configured, the one the model was trained to name (its descriptor's)."""
        if request.company is None and self.model.info.get("company"):
            request = replace(request, company=str(self.model.info["company"]))
        return llm_messages(request)

    def generate(self, request: GenerationRequest) -> Generation:
        """Generate an answer (batched with any concurrent requests)."""
        answer = self._batcher.submit(self._messages(request)).result().strip()
        return Generation(answer, citations_in(answer, len(request.passages)), self.model.count_tokens(answer))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Stream the answer's text as the model produces it, micro-batched with concurrent requests."""
        pieces: queue.Queue[str | None] = queue.Queue()
        cancel = threading.Event()
        future = self._batcher.submit(self._messages(request), pieces.put, cancel)
        future.add_done_callback(lambda _f: pieces.put(None))
        try:
            while (piece := pieces.get()) is not None:
                yield piece
        finally:  # the consumer stopped early (a rail closed the stream): free this row of the batch
            cancel.set()
        future.result()  # raises the batch's failure, if any
