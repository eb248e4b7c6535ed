"""The hf generator's micro-batcher on the smoke model: streamed and whole answers share one batched generate."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from graph.generators import GenerationRequest
from graph.generators.hf import HFGenerator


def test_concurrent_streams_are_batched_and_match_whole_answers(smoke_model: Path) -> None:
    generator = HFGenerator(smoke_model, max_new_tokens=12, max_wait_ms=200)
    sizes: list[int] = []
    real = generator.model.generate_batch

    def recording(batch: list[Any], **kwargs: Any) -> list[str]:  # calls the real model; records the batch size
        sizes.append(len(batch))
        return real(batch, **kwargs)

    generator.model.generate_batch = recording  # type: ignore[method-assign]
    questions = ["Where is my order?", "¿Dónde está mi pedido?", "How do I return an item?"]
    requests = [GenerationRequest(q, "es" if q.startswith("¿") else "en", use_passages=False) for q in questions]
    streamed: dict[int, str] = {}

    def stream(i: int) -> None:
        streamed[i] = "".join(generator.stream(requests[i])).strip()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert max(sizes) > 1  # the concurrent streams went through one generate call
    sizes.clear()
    for i, request in enumerate(requests):
        assert streamed[i] == generator.generate(request).answer  # greedy: same text, streamed or whole
    assert sizes == [1, 1, 1]


def test_a_closed_stream_frees_its_row(smoke_model: Path) -> None:
    generator = HFGenerator(smoke_model, max_new_tokens=40, max_wait_ms=1)
    request = GenerationRequest("Where is my order?", "en", use_passages=False)
    whole = generator.model.generate_batch([[{"role": "user", "content": request.question}]], max_new_tokens=40)[0]
    cut = generator.model.generate_batch(
        [[{"role": "user", "content": request.question}]], max_new_tokens=40, cancelled=lambda _row: True
    )[0]
    assert generator.model.count_tokens(cut) <= 1 < generator.model.count_tokens(whole)
    stream = generator.stream(request)
    first = next(stream)
    stream.close()  # what the output rails do when a sentence fails
    assert first and generator.generate(request).answer.startswith(first.strip())


def test_the_prompt_names_the_company_the_model_was_trained_for(smoke_model: Path, monkeypatch: Any) -> None:
    """With no company configured, the system prompt names the one the adapter's descriptor records (`data prepare
    --company` -> `train`); a configured one wins; a model without one gets the demo store's."""
    from finetune.prompts import system_prompt

    generator = HFGenerator(smoke_model, max_new_tokens=4)
    assert generator.model.info["company"] == "Nimbus Market"  # the smoke model's data has no manifest
    request = GenerationRequest("Where is my order?", "es", use_passages=False)
    monkeypatch.setitem(generator.model.info, "company", "Acme Outdoor")
    assert generator._messages(request)[0]["content"] == system_prompt("es", "Acme Outdoor")
    request.company = "Bravo Bikes"
    assert generator._messages(request)[0]["content"] == system_prompt("es", "Bravo Bikes")
    monkeypatch.delitem(generator.model.info, "company")
    assert generator._messages(GenerationRequest("Hi", "en"))[0]["content"] == system_prompt("en")
