"""Replicas with their own index folders share one knowledge base through the state database (api.index_sync): an
article an admin adds or deletes on one replica is found, or no longer found, on the other."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.index_sync import KEEP, IndexSync
from retrieval.store import IndexFault, install_version, live_version, pack_version, read_version
from tests.postgres import pg_url  # noqa: F401

ARTICLE = {
    "id": "sync-engraving-en",
    "title": "Laser engraving on metal bottles",
    "lang": "en",
    "text": "Nimbus Market engraves quokka-shaped logos on metal bottles for 4 euros. Choose quokka engraving at "
    "checkout; engraved bottles cannot be returned unless they arrive damaged.",
}


def _copy(index: Path, home: Path) -> Path:
    shutil.copytree(index, home / "index")
    return home / "index"


# --- packing and installing a version (no database) -------------------------------------------------------------


def test_a_packed_version_installs_as_the_live_version_of_another_folder(bundled_index: Path, tmp_path: Path) -> None:
    name, archive = pack_version(bundled_index)
    target = tmp_path / "elsewhere" / "index"
    install_version(target, name, archive)
    assert live_version(target) == target / name
    mine, theirs = read_version(bundled_index, with_search=False), read_version(target, with_search=False)
    assert mine.chunk_ids == theirs.chunk_ids and (mine.vectors == theirs.vectors).all()
    assert install_version(target, name, archive) == target / name  # already live: nothing to do


def test_a_bad_archive_or_name_is_refused_and_the_live_version_stays(bundled_index: Path, tmp_path: Path) -> None:
    target = _copy(bundled_index, tmp_path)
    live = live_version(target)
    escape = io.BytesIO()
    with tarfile.open(fileobj=escape, mode="w") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    bad = [("v-20260101T000000-aaaaaaaa", b"not a tar"), ("v-20260101T000000-bbbbbbbb", escape.getvalue()),
           ("../v-1", pack_version(bundled_index)[1])]  # fmt: skip
    for name, archive in bad:
        with pytest.raises(IndexFault):
            install_version(target, name, archive)
    assert live_version(target) == live and not (tmp_path / "outside.txt").exists()
    assert not [p for p in target.iterdir() if p.name.startswith(".staging-")]


# --- two replicas on one PostgreSQL database ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replicas(
    pg_url: str,  # noqa: F811
    api_config: ApiConfig,
    chat_service: Any,  # first: leaves the scope rail fitted for the bundled index beside it, copied with it
    bundled_index: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[TestClient]]:
    """Two apps, each with its own data home and its own copy of the bundled index, on one database."""
    from graph.service import ChatService

    clients = []
    with contextlib.ExitStack() as stack:
        for number in (1, 2):
            home = tmp_path_factory.mktemp(f"replica-{number}")
            index = _copy(bundled_index, home)
            config = dataclasses.replace(api_config, home=home, index_dir=index, database_url=pg_url)
            app = create_app(config, service=ChatService(config.graph_config()))
            clients.append(stack.enter_context(TestClient(app)))
        yield clients


def _admin(client: TestClient) -> dict[str, str]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {runtime.keys.create('admin', 'sync-admin')[1]}"}


def _followed(client: TestClient, version: str) -> None:
    """Wait for ``client``'s replica to serve ``version`` (its follower thread looks every 2 s; /readyz names the
    version served)."""
    deadline = time.monotonic() + 60
    while (served := client.get("/readyz").json()["index_version"]) != version:
        assert time.monotonic() < deadline, f"the replica still serves {served}, not {version}"
        time.sleep(0.2)


def _hits(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.get("/v1/kb/search", params={"q": "quokka engraving on bottles"}, headers=headers)
    return [r["doc_id"] for r in response.json()["results"]]


def test_an_article_written_on_one_replica_is_found_on_the_other(replicas: list[TestClient], tmp_path: Path) -> None:
    one, two = replicas
    admin_one, admin_two = _admin(one), _admin(two)
    assert ARTICLE["id"] not in _hits(two, admin_two)

    added = one.post("/v1/kb/documents", json={"documents": [ARTICLE]}, headers=admin_one)
    assert added.status_code == 201, added.text
    _followed(two, added.json()["index_version"])
    assert _hits(two, admin_two)[0] == ARTICLE["id"]

    # The other way round: a delete on replica 2 starts from the version replica 1 published, and reaches it.
    deleted = two.delete(f"/v1/kb/documents/{ARTICLE['id']}", headers=admin_two)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == [ARTICLE["id"]]
    _followed(one, deleted.json()["index_version"])
    assert ARTICLE["id"] not in _hits(one, admin_one)
    assert one.get(f"/v1/kb/documents/{ARTICLE['id']}", headers=admin_one).status_code == 404

    # A new replica with an empty folder starts from the newest published version; old ones are pruned.
    runtime = one.app.state.runtime  # type: ignore[attr-defined]
    fresh = IndexSync(runtime.keys.db, tmp_path / "index")
    fresh.align()
    assert fresh.local() == deleted.json()["index_version"] == fresh.latest()
    assert ARTICLE["id"] not in read_version(tmp_path / "index", with_search=False).documents
    rows = runtime.keys.db.query("SELECT version FROM index_versions WHERE name = ?", ("index",))
    assert len(rows) == KEEP


def test_serve_starts_a_new_replica_with_an_empty_folder_from_the_published_version(
    bundled_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs promise a new replica with an empty folder takes the newest published version; `supportbot serve`
    refused it first ('no knowledge-base index at ...: build it with supportbot kb ingest')."""
    import socket

    from typer.testing import CliRunner

    from graph.db import open_database
    from supportbot.cli import app
    from supportbot.settings import get_settings
    from tests.postgres import create_database, drop_database

    url = create_database("sbnewreplica")  # skips without PostgreSQL
    try:
        IndexSync(open_database(url, tmp_path / "unused"), _copy(bundled_index, tmp_path / "first")).publish()
        results = []
        for folder in ("index", "other-index"):  # the published one's name; a name nothing was published under
            monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "new"))
            monkeypatch.setenv("SUPPORTBOT_INDEX_DIR", str(tmp_path / "new" / folder))
            monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", url)
            with socket.socket() as taken:  # serve stops at the port check, before anything loads
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                get_settings.cache_clear()
                try:
                    results.append(CliRunner().invoke(app, ["serve", "--port", str(taken.getsockname()[1])]))
                finally:
                    get_settings.cache_clear()
        published, unknown = results
        assert published.exit_code == 1 and "is already in use" in published.output, published.output
        assert unknown.exit_code == 1 and "no knowledge-base index at" in unknown.output, unknown.output
        assert "and no version of it ('other-index') is published in the database" in unknown.output
    finally:
        drop_database(url)
