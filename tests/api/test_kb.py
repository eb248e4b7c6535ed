"""Agents search and read the knowledge base; admins add and delete articles and chat sees the new version."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

NEW = {
    "id": "api-gift-wrap-en",
    "title": "Gift wrapping with a hand-written card",
    "lang": "en",
    "tags": ["orders"],
    "text": "Nimbus Market offers zanzibar gift wrapping for 3 euros per order. Choose zanzibar wrapping at "
    "checkout and add a hand-written card with your message; the price of the items is never shown on the slip.",
}


def test_search_returns_ranked_articles_with_filters(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = client.get("/v1/kb/search", params={"q": "refund", "k": 3}, headers=keys["agent"])
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "refund" and 1 <= len(body["results"]) <= 3
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    spanish = client.get("/v1/kb/search", params={"q": "reembolso", "lang": "es"}, headers=keys["agent"]).json()
    assert spanish["results"] and {r["lang"] for r in spanish["results"]} == {"es"}


def test_a_search_with_nothing_to_search_for_finds_nothing(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # As for a query of only spaces (an empty q is a 422): no letter or digit, no articles. '¿?¡!' listed arbitrary
    # articles with non-zero scores.
    for query in ("   ", "¿?¡!", "..."):
        response = client.get("/v1/kb/search", params={"q": query}, headers=keys["agent"])
        assert response.status_code == 200 and response.json()["results"] == [], query
    assert client.get("/v1/kb/search", params={"q": ""}, headers=keys["agent"]).status_code == 422


def test_read_an_article_and_404(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    doc_id = client.get("/v1/kb/search", params={"q": "refund"}, headers=keys["agent"]).json()["results"][0]["doc_id"]
    article = client.get(f"/v1/kb/documents/{doc_id}", headers=keys["agent"])
    assert article.status_code == 200
    assert article.json()["id"] == doc_id and article.json()["text"] and "source" not in article.json()
    missing = client.get("/v1/kb/documents/no-such-article", headers=keys["agent"])
    assert missing.status_code == 404 and "no-such-article" in missing.json()["detail"]


def test_admin_ingest_and_delete_update_search_and_chat(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    admin, agent = keys["admin"], keys["agent"]
    before = client.get("/readyz").json()["index_version"]
    response = client.post("/v1/kb/documents", json={"documents": [NEW]}, headers=admin)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["added"] == 1 and "clusters" in report["dedup"]
    # a request is a batch, not the help centre: every other article would be listed as kept (indexed.kept counts them)
    assert "kept_articles" not in report and report["indexed"]["kept"] > 0
    assert client.get("/readyz").json()["index_version"] == report["index_version"] != before
    # Search and the chat service both see the new version.
    hits = client.get("/v1/kb/search", params={"q": "zanzibar gift wrapping"}, headers=agent).json()["results"]
    assert hits[0]["doc_id"] == NEW["id"]
    answer = client.post("/v1/chat", json={"message": "Do you offer zanzibar gift wrapping?"}, headers=keys["customer"])
    assert NEW["id"] in [s["doc_id"] for s in answer.json()["sources"]]
    # The same article again is unchanged; a duplicate id in one request is refused.
    again = client.post("/v1/kb/documents", json={"documents": [NEW]}, headers=admin).json()
    assert again["unchanged"] == 1 and again["added"] == 0
    twice = client.post("/v1/kb/documents", json={"documents": [NEW, NEW]}, headers=admin)
    assert twice.status_code == 422

    deleted = client.delete(f"/v1/kb/documents/{NEW['id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == [NEW["id"]]
    assert client.get(f"/v1/kb/documents/{NEW['id']}", headers=agent).status_code == 404
    answer = client.post("/v1/chat", json={"message": "Do you offer zanzibar gift wrapping?"}, headers=keys["customer"])
    assert NEW["id"] not in [s["doc_id"] for s in answer.json()["sources"]]
    assert client.delete(f"/v1/kb/documents/{NEW['id']}", headers=admin).status_code == 404


def test_ingest_validation(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    admin = keys["admin"]
    bodies: list[dict[str, Any]] = [
        {"documents": []},
        {"documents": [{"id": "x"}]},
        {"documents": [{"id": "bad id!", "text": "t"}]},
    ]
    for body in bodies:
        assert client.post("/v1/kb/documents", json=body, headers=admin).status_code == 422, body
    # Valid JSON the loader still refuses: the reason names the document, never a server path.
    empty = {"documents": [{"id": "ok-en", "text": "Fine text."}, {"id": "blank-en", "text": "\u0012"}]}
    response = client.post("/v1/kb/documents", json=empty, headers=admin)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "documents", 1] and "empty" in error["msg"] and "/tmp" not in error["msg"]


def test_updated_must_be_an_iso_8601_date(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # "yesterday" and "2025-13-45" were stored (201), then compared as text to decide which duplicate is the newest
    for updated in ("yesterday", "2025-13-45", "15/01/2025"):
        body = {"documents": [{"id": "dated-en", "text": "Returns take 30 days.", "updated": updated}]}
        response = client.post("/v1/kb/documents", json=body, headers=keys["admin"])
        assert response.status_code == 422, (updated, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "documents", 0, "updated"] and "ISO 8601" in error["msg"], error
        assert updated not in error["msg"]  # the rejected input is not echoed
    assert client.get("/v1/kb/documents/dated-en", headers=keys["agent"]).status_code == 404


def test_a_duplicate_id_is_a_422_in_the_validation_shape(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    twice = {"documents": [{"id": "twice-en", "text": "One."}, {"id": "other-en", "text": "Two."},
                           {"id": "twice-en", "text": "Three."}]}  # fmt: skip
    response = client.post("/v1/kb/documents", json=twice, headers=keys["admin"])
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "documents", 2, "id"] and "more than once" in error["msg"]
    assert set(error) == {"loc", "msg", "type"}


def test_knowledge_gaps_list(app: FastAPI, client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    store = app.state.runtime.store  # the graph records gaps while answering; here one is recorded directly
    for _ in range(3):
        store.record_gap("do you sell second-hand pianos?", "en")
    store.record_gap("¿vendéis pianos?", "es")
    response = client.get("/v1/kb/gaps", params={"limit": 5}, headers=keys["agent"])
    assert response.status_code == 200
    gaps = response.json()["gaps"]
    assert gaps[0] == {**gaps[0], "question": "do you sell second-hand pianos?", "lang": "en", "count": 3}
    assert len(client.get("/v1/kb/gaps", params={"limit": 1}, headers=keys["agent"]).json()["gaps"]) == 1


def test_every_id_the_file_loader_accepts_is_an_api_id(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """An article ingested from files keeps its file's name as id (``devolución-regalo.md``) or a namespaced id
    (``faq:wifi``): agents must be able to open it and admins to update or delete it (the API's id pattern was
    narrower than the loader's, so such articles showed up in search and answered 422 everywhere else)."""
    admin, agent = keys["admin"], keys["agent"]
    ids = ("devolución-regalo", "faq:wifi-calling", "x" * 200)
    texts = ("Los regalos de zanzíbar se cambian en tienda con el tique.",  # distinct: none is a duplicate
             "Zanzibar wifi calling works on every plan at no extra cost.",
             "El abono de zanzíbar se pide por correo antes de treinta días.")  # fmt: skip
    # one write for the three: each write makes a new index version, which the API loads (seconds each)
    documents = [{"id": doc_id, "lang": "es", "text": text} for doc_id, text in zip(ids, texts, strict=True)]
    response = client.post("/v1/kb/documents", json={"documents": documents}, headers=admin)
    assert response.status_code == 201, response.text
    for doc_id in ids:
        article = client.get(f"/v1/kb/documents/{doc_id}", headers=agent)
        assert article.status_code == 200, article.text
        assert article.json()["id"] == doc_id
        deleted = client.delete(f"/v1/kb/documents/{doc_id}", headers=admin)
        assert deleted.status_code == 200 and deleted.json()["deleted"] == [doc_id]
    # What neither accepts stays a 422 with the reason, not a lookup.
    for bad in ("a b", "x" * 201, "a/b"):
        body = {"documents": [{"id": bad, "text": "t"}]}
        assert client.post("/v1/kb/documents", json=body, headers=admin).status_code == 422, bad
    assert client.get("/v1/kb/documents/" + "x" * 201, headers=agent).status_code == 422


def test_ingest_takes_the_date_that_picks_a_duplicate(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """Of duplicate articles the newest (``updated``, as in the JSONL files) is kept: the API refused the field as
    unknown, so an admin could not say which of two copies of an article was the current one."""
    admin = keys["admin"]
    text = "Zanzibar gift cards never expire and can be used in any Nimbus Market shop or online."
    documents = [
        {"id": "api-giftcard-new-en", "text": text, "updated": "2026-05-01"},
        {"id": "api-giftcard-old-en", "text": text.replace("online.", "online too."), "updated": "2024-01-15"},
    ]
    response = client.post("/v1/kb/documents", json={"documents": documents}, headers=admin)
    assert response.status_code == 201, response.text
    [cluster] = [c for c in response.json()["dedup"]["clusters"] if c["representative"].startswith("api-giftcard")]
    assert cluster["representative"] == "api-giftcard-new-en" and cluster["duplicates"] == ["api-giftcard-old-en"]
    assert client.get("/v1/kb/documents/api-giftcard-new-en", headers=keys["agent"]).json()["updated"] == "2026-05-01"
    for doc_id in ("api-giftcard-new-en", "api-giftcard-old-en"):
        assert client.delete(f"/v1/kb/documents/{doc_id}", headers=admin).status_code == 200


def test_an_index_version_written_by_another_process_is_served_without_a_restart(
    bundled_index: Path, tmp_path: Path
) -> None:
    """`supportbot kb ingest` on the index folder of a running server (or a replica sharing the folder) writes a new
    version: the server switches search and chat to it by itself (it served the old one until a restart)."""
    import shutil
    import time

    from api.app import create_app
    from api.config import ApiConfig
    from api.keys import KeyStore
    from retrieval.backends import ingest_knowledge_base

    shutil.copytree(bundled_index, tmp_path / "index")
    config = ApiConfig(home=tmp_path, index_dir=tmp_path / "index", rate_limit_per_minute=100_000,
                       rate_limit_per_minute_staff=100_000, cache_dir=Path(os.environ["SUPPORTBOT_HOME"]))  # fmt: skip
    agent = {"Authorization": f"Bearer {KeyStore(config.keys_db).create('agent', 'a')[1]}"}
    with TestClient(create_app(config)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        before = runtime.loaded_version
        found = client.get("/v1/kb/search", params={"q": "zanzibar gift wrapping"}, headers=agent).json()["results"]
        assert before and NEW["id"] not in {r["doc_id"] for r in found}
        (tmp_path / "new.jsonl").write_text(json.dumps(NEW) + "\n", encoding="utf-8")
        report = ingest_knowledge_base(
            "faiss", [tmp_path / "new.jsonl"], tmp_path / "index", cache_dir=Path(os.environ["SUPPORTBOT_HOME"])
        )  # as the CLI does
        assert report["added"] == 1
        deadline = time.monotonic() + 120
        while runtime.loaded_version == before and time.monotonic() < deadline:
            time.sleep(0.5)
        assert runtime.loaded_version != before, "the server kept the old index version"
        hits = client.get("/v1/kb/search", params={"q": "zanzibar gift wrapping"}, headers=agent).json()["results"]
        assert hits and hits[0]["doc_id"] == NEW["id"]
        assert runtime.chat_service.deps.kb.data.documents.get(NEW["id"]) is not None  # chat reads it too
