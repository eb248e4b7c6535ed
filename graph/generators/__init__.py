"""Answer generators behind one interface, chosen in one factory: extractive (no LLM), hf (local model), openai."""

from __future__ import annotations

from graph.config import GraphConfig
from graph.generators.base import Generation, GenerationRequest, Generator, GeneratorError, llm_messages

__all__ = ["Generation", "GenerationRequest", "Generator", "GeneratorError", "llm_messages", "make_generator"]


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
                               config.temperature, copy_bias=config.copy_bias)  # fmt: skip
        case "openai":
            from graph.generators.openai import OpenAIGenerator

            assert config.openai_base_url is not None
            return OpenAIGenerator(config.openai_base_url, config.openai_model, config.openai_api_key,
                                   config.max_new_tokens, config.temperature)  # fmt: skip
        case _:
            raise ValueError(f"unknown generator {kind!r}: use extractive, hf or openai")
