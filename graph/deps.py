"""What the nodes use at run time, loaded once per service: the knowledge base, the embedder (with a small cache so
one query is embedded once for the scope rail and retrieval), the scope model, the redactor, the generators and
the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph.config import GraphConfig
from graph.generators import Generator
from graph.lru import LruCache
from graph.scope import ScopeModel
from graph.store import SupportStore


class VectorCache:
    """LRU cache of query embeddings (thread-safe)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], size: int = 512) -> None:
        self.encode = encode
        self._items = LruCache(size)

    def __call__(self, text: str) -> np.ndarray:
        """The unit vector of ``text``."""
        vector = self._items.get(text)
        if vector is None:
            vector = self.encode([text])[0]
            self._items.put(text, vector)
        return vector


@dataclass
class Deps:
    """Run-time dependencies of the nodes."""

    config: GraphConfig
    kb: Any  # retrieval.backends.SearchableKnowledgeBase
    embed: VectorCache
    scope: ScopeModel | None
    redactor: Any  # finetune.pii.Redactor
    store: SupportStore
    generators: dict[str, Generator] = field(default_factory=dict)
    # Agent assist per customer question (graph.nodes.handoff.draft_reply): a console asks for its open case every
    # few seconds, and the passages and draft stay the same until the customer asks again (a new index, new Deps).
    assist: LruCache = field(default_factory=LruCache, repr=False)

    def pii_secret(self, salt: str) -> bytes:
        """What keys the hashes of a session's personal data: the deployment's key and the session's salt."""
        from finetune.pii import session_secret

        return session_secret(self.config.pii_key, salt)
