"""The peer stacks of ``benchmarks/retrieval.py``: LangChain's FAISS vector store and Haystack 2's hybrid pipeline.

Each builder takes chunks (``{"text", "doc_id"}``) and returns a search function, query -> article ids best first
(each retriever's 50 chunk hits folded to articles). Two ways to embed:

- ``model`` (a sentence-transformers path): the framework's own sentence-transformers integration, on torch;
- ``embedder`` (a supportbot :class:`retrieval.embeddings.Embedder`) with ``vectors``: the very model and vectors
  supportbot's dense retriever uses (onnxruntime by default), wrapped in each framework's embedding interface, so
  that rankings differ only by what the frameworks do with them and latencies compare like with like.

Needs the ``bench`` extra (langchain-community, haystack-ai).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Search = Callable[[str], list[str]]  # query -> ranked article ids


def fold(doc_ids: list[str], k: int = 20) -> list[str]:
    """Chunk hits -> article ids, best first, each once."""
    return list(dict.fromkeys(doc_ids))[:k]


def langchain(
    chunks: list[dict[str, str]], model: str | None = None, embedder: Any = None, vectors: np.ndarray | None = None
) -> Search:
    """LangChain's FAISS store (inner product on unit vectors), through sentence-transformers or ``embedder``."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.embeddings import Embeddings

    warnings.filterwarnings("ignore")  # langchain re-enables its deprecation warnings on import
    texts = [c["text"] for c in chunks]
    if embedder is None:
        from langchain_community.embeddings import HuggingFaceEmbeddings

        encode = {"normalize_embeddings": True, "batch_size": 64}
        store = FAISS.from_texts(
            texts,
            HuggingFaceEmbeddings(model_name=model, encode_kwargs=encode),
            metadatas=chunks,
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
    else:

        class Shared(Embeddings):
            """supportbot's embedder behind LangChain's interface."""

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [v.tolist() for v in embedder.encode(list(texts))]

            def embed_query(self, text: str) -> list[float]:
                return [float(x) for x in embedder.encode([text])[0]]

        given = vectors if vectors is not None else embedder.encode(texts)
        store = FAISS.from_embeddings(
            [(t, v.tolist()) for t, v in zip(texts, given, strict=True)],
            Shared(),
            metadatas=chunks,
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
    return lambda q: fold([d.metadata["doc_id"] for d in store.similarity_search(q, k=50)])


def haystack(
    chunks: list[dict[str, str]], model: str | None = None, embedder: Any = None, vectors: np.ndarray | None = None
) -> Search:
    """Haystack 2: in-memory BM25 + embedding retrievers joined by reciprocal rank fusion (``DocumentJoiner``)."""
    from haystack import Document, Pipeline, component
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    documents = [Document(content=c["text"], meta={k: v for k, v in c.items() if k != "text"}) for c in chunks]
    # return_embedding=False: the store would otherwise copy every candidate's vector into each result.
    store = InMemoryDocumentStore(return_embedding=False)
    pipe = Pipeline()
    if embedder is None:
        from haystack.components.embedders import (
            SentenceTransformersDocumentEmbedder,
            SentenceTransformersTextEmbedder,
        )

        logging.getLogger("sentence_transformers").setLevel(logging.ERROR)  # a renamed-argument notice per load
        documents_embedder = SentenceTransformersDocumentEmbedder(
            model=model, normalize_embeddings=True, progress_bar=False
        )
        documents_embedder.warm_up()
        store.write_documents(documents_embedder.run(documents)["documents"])
        pipe.add_component(
            "embed", SentenceTransformersTextEmbedder(model=model, normalize_embeddings=True, progress_bar=False)
        )
    else:
        given = vectors if vectors is not None else embedder.encode([c["text"] for c in chunks])
        for document, vector in zip(documents, given, strict=True):
            document.embedding = vector.tolist()
        store.write_documents(documents)

        @component
        class SharedTextEmbedder:
            """supportbot's embedder as a Haystack text embedder."""

            @component.output_types(embedding=list[float])
            def run(self, text: str) -> dict[str, Any]:
                return {"embedding": [float(x) for x in embedder.encode([text])[0]]}

        pipe.add_component("embed", SharedTextEmbedder())
    pipe.add_component("bm25", InMemoryBM25Retriever(store, top_k=50))
    pipe.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=50))
    pipe.add_component("join", DocumentJoiner(join_mode="reciprocal_rank_fusion"))
    pipe.connect("embed.embedding", "dense.query_embedding")
    pipe.connect("bm25", "join")
    pipe.connect("dense", "join")
    pipe.warm_up()

    def search(q: str) -> list[str]:
        found = pipe.run({"embed": {"text": q}, "bm25": {"query": q}})["join"]["documents"]
        return fold([d.meta["doc_id"] for d in found])

    return search
