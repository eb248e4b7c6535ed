"""The scope rail on the Elasticsearch backend: fitted from the articles Elasticsearch serves (not silently off),
cached per content, refitted after an ingest changes them. Runs against a real server when SUPPORTBOT_ES_URL is
set; skipped otherwise (no fake server)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.scope import ScopeModel, es_articles, scope_for
from tests.graph.conftest import HOME

ES_URL = os.environ.get("SUPPORTBOT_ES_URL")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ES_URL, reason="SUPPORTBOT_ES_URL not set: no Elasticsearch server to test against"),
]

GYM = [
    ("membership-fees", "Membership fees", "The monthly membership costs 35 EUR. Students pay 25 EUR. You can "
     "freeze your membership for up to two months a year."),
    ("opening-hours", "Opening hours", "The gym opens from 6:00 to 23:00 on weekdays and from 8:00 to 21:00 at "
     "weekends. Classes need a booking in the app."),
    ("personal-training", "Personal training", "A personal training session lasts 60 minutes and costs 40 EUR. "
     "Trainers build a plan for weight loss, strength or rehabilitation."),
]  # fmt: skip


@pytest.fixture()
def es_index(tmp_path: Path) -> Iterator[str]:
    from retrieval.es_backend import es_drop, es_ingest

    name = f"supportbot-scope-test-{uuid.uuid4().hex[:8]}"
    docs = tmp_path / "gym.jsonl"
    docs.write_text("\n".join(json.dumps({"id": i, "title": t, "text": x, "lang": "en"}) for i, t, x in GYM))
    es_ingest([docs], str(ES_URL), name, cache_dir=HOME)
    yield name
    es_drop(str(ES_URL), name)


def test_the_scope_rail_is_fitted_from_the_articles_in_elasticsearch(es_index: str, tmp_path: Path) -> None:
    from retrieval.es_backend import EsKnowledgeBase, es_ingest

    kb = EsKnowledgeBase.open(str(ES_URL), es_index, cache_dir=HOME)
    assert [a.id for a in es_articles(kb)] == sorted(i for i, _, _ in GYM)
    model = scope_for(kb, es_index, tmp_path)
    assert isinstance(model, ScopeModel) and model.meta["articles"] == 3
    inside, outside = "how much is a personal training session?", "what's the capital of Peru?"
    vectors = kb.embedder.encode([inside, outside])
    assert model.score(vectors[0], inside, "en") > model.threshold("en") > model.score(vectors[1], outside, "en")
    cached = list(tmp_path.glob("scope/es/*/scope-*.npz"))
    assert len(cached) == 1
    more = tmp_path / "more.jsonl"
    more.write_text(
        json.dumps({"id": "sauna", "title": "Sauna", "text": "The sauna is open until 22:00.", "lang": "en"})
    )
    es_ingest([more], str(ES_URL), es_index, cache_dir=HOME)
    again = scope_for(kb, es_index, tmp_path)  # the content changed: refitted, the stale model removed
    assert again.meta["articles"] == 4 and list(tmp_path.glob("scope/es/*/scope-*.npz")) != cached
