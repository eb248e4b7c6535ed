"""What every generator shares: the request, the answer, the interface and the LLM prompt."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class GeneratorError(RuntimeError):
    """A language-model generator could not answer (server down, timed out, or an error after its retries); the
    generate node then answers extractively and records the reason."""


@dataclass
class GenerationRequest:
    """What a generator needs for one answer."""

    question: str
    lang: str
    passages: Sequence[Mapping[str, Any]] = ()  # empty in the finetune mode
    history: Sequence[Mapping[str, str]] = ()
    use_passages: bool = True  # False: the finetune mode's plain prompt
    company: str | None = None  # the company the system prompt names (None: the demo store's)
    draft: str | None = None  # the extractive answer over the passages, for a model trained to answer from it
    written: str | None = None  # the question's language when it is not ``lang`` (the answer's), else None


@dataclass
class Generation:
    """A generated answer."""

    answer: str
    citations: list[int] = field(default_factory=list)  # 1-based passage numbers cited
    tokens: int = 0


class Generator(Protocol):
    """Turns a request into an answer; ``stream`` yields pieces of text as they are produced."""

    name: str

    def generate(self, request: GenerationRequest) -> Generation:
        """The whole answer at once."""
        ...

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The answer piece by piece."""
        ...


def llm_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The prompt an LLM generator sends, built by :mod:`finetune.prompts` exactly as in training."""
    from finetune.prompts import plain_messages, rag_messages

    if request.use_passages:
        return rag_messages(
            request.question, request.passages, request.lang, request.history, request.company, request.draft
        )
    return plain_messages(request.question, request.lang, request.history, request.company)
