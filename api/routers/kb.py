"""``/v1/kb``: search and read articles and the knowledge gaps (agents); add, update and delete articles (admins).

A write goes through :class:`api.runtime.Runtime`, which serializes writes and makes both this search and the chat
service use the new index version before the response is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import AdminKey, AgentKey, ReadyRuntime
from api.errors import validation_failure
from api.models import DOC_ID, Document, GapList, IndexReport, IngestRequest, SearchResponse, error_responses

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])
DocId = Annotated[str, Path(pattern=DOC_ID, description="Article id.")]
# Fields of a stored article that only matter inside the index (``source`` is a server path).
_INTERNAL = ("source",)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(403, 422, *codes)


@router.get("/search", response_model=SearchResponse, responses=_errors(), summary="Search the knowledge base")
def search(
    key: AgentKey,
    runtime: ReadyRuntime,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="The query.")],
    k: Annotated[int, Query(ge=1, le=50, description="Number of articles.")] = 5,
    lang: Annotated[str | None, Query(pattern="^(es|en)$", description="Only articles in this language.")] = None,
    tag: Annotated[list[str] | None, Query(max_length=20, description="Only articles with one of these tags.")] = None,
) -> dict[str, Any]:
    """Hybrid (dense + BM25) search, the same as ``supportbot kb search``."""
    found = runtime.knowledge_base.search(q, k, lang=lang, tags=tag or None)
    return {"query": q, "results": [result.to_dict() for result in found]}


@router.get("/gaps", response_model=GapList, responses=_errors(), summary="Questions the bot could not answer")
def knowledge_gaps(
    key: AgentKey, runtime: ReadyRuntime, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """Redacted questions without a supported answer, most frequent first."""
    return {"gaps": runtime.support_store.knowledge_gaps(limit=limit)}


@router.get("/documents/{doc_id}", response_model=Document, responses=_errors(404), summary="Read an article")
def read_document(doc_id: DocId, key: AgentKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """The stored article ``doc_id`` (title, language, text, url, tags, translation)."""
    document = runtime.knowledge_base.document(doc_id)
    if document is None:
        raise HTTPException(404, f"no article {doc_id}")
    return {name: value for name, value in document.items() if name not in _INTERNAL}


@router.post(
    "/documents",
    status_code=201,
    response_model=IndexReport,
    responses=_errors(400, 409, 413),
    summary="Add or update articles",
)
def ingest_documents(body: IngestRequest, key: AdminKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Ingest the articles (new ids are added, known ids updated); the report includes the dedup clusters."""
    seen: set[str] = set()
    for n, document in enumerate(body.documents):
        if document.id in seen:
            raise validation_failure(["body", "documents", n, "id"], f"document id {document.id} appears more than "
                                     "once in this request: each id may appear once")  # fmt: skip
        seen.add(document.id)
    records = [document.model_dump(exclude_none=True) for document in body.documents]
    from retrieval.documents import LoadError

    try:
        report = runtime.ingest_documents(records)
    except LoadError as exc:  # e.g. a text that is empty once cleaned; line n of the batch is documents[n - 1]
        loc: list[str | int] = ["body", "documents", *([exc.line - 1] if exc.line else [])]
        raise validation_failure(loc, exc.reason) from exc
    except ValueError as exc:  # the index refuses the write (e.g. it was built with another embedder)
        raise HTTPException(409, f"ingest failed: {exc}") from exc
    # A request is a batch, not the help centre: its kept_articles would list every other article (a CLI ingest of
    # the help centre's folder names them, as articles its files no longer have); indexed.kept counts them.
    report.pop("kept_articles", None)
    return report


@router.delete("/documents/{doc_id}", response_model=IndexReport, responses=_errors(404), summary="Delete an article")
def delete_document(doc_id: DocId, key: AdminKey, runtime: ReadyRuntime) -> dict[str, Any]:
    """Remove the article ``doc_id`` and its chunks from the index."""
    if runtime.knowledge_base.document(doc_id) is None:
        raise HTTPException(404, f"no article {doc_id}")
    try:
        return runtime.delete_document(doc_id)
    except ValueError as exc:  # deleted concurrently
        raise HTTPException(404, str(exc)) from exc
