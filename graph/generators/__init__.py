"""Answer generators behind one interface, chosen in one factory: extractive (no LLM), hf (local model), openai."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graph.config import GraphConfig


@dataclass
class GenerationRequest:
    """What a generator needs for one answer."""

    question: str
    lang: str
    passages: Sequence[Mapping[str, Any]] = ()  # empty in the finetune mode
    history: Sequence[Mapping[str, str]] = ()
    use_passages: bool = True  # False: the finetune mode's plain prompt


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
        return rag_messages(request.question, request.passages, request.lang, request.history)
    return plain_messages(request.question, request.lang, request.history)


def make_generator(kind: str, config: GraphConfig) -> Generator:
    """The generator ``kind`` (extractive, hf or openai) configured from ``config``."""
    match kind:
        case "extractive":
            from graph.generators.extractive import ExtractiveGenerator

            return ExtractiveGenerator()
        case "hf":
            from graph.generators.hf import HFGenerator

            assert config.model_dir is not None
            return HFGenerator(config.model_dir, config.device, config.precision, config.max_new_tokens,
                               config.temperature)  # fmt: skip
        case "openai":
            from graph.generators.openai import OpenAIGenerator

            assert config.openai_base_url is not None
            return OpenAIGenerator(config.openai_base_url, config.openai_model, config.openai_api_key,
                                   config.max_new_tokens, config.temperature)  # fmt: skip
        case _:
            raise ValueError(f"unknown generator {kind!r}: use extractive, hf or openai")
