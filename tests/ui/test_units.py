"""The UI's light parts: config from the environment, the SSE parser, the evaluation-folder reader."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ui.conftest import free_port
from ui.api_client import ApiBackend, parse_sse
from ui.backend import make_backend
from ui.config import UIConfig
from ui.evaluation_run import HOW_TO_RUN, find_latest_run, list_runs, load_run, metric_tables
from ui.protocol import BackendUnavailable


def test_config_reads_supportbot_variables_and_picks_the_backend() -> None:
    config = UIConfig.from_env({"SUPPORTBOT_HOME": "/data", "SUPPORTBOT_API_URL": "http://api:8000/"})
    assert config.home == Path("/data") and config.api_url == "http://api:8000" and config.backend == "api"
    local = UIConfig.from_env({"SUPPORTBOT_HOME": "/data", "SUPPORTBOT_API_URL": ""})
    assert local.backend == "inprocess" and local.resolved_index_dir == Path("/data/index")
    assert local.store_db == Path("/data/support.sqlite")  # the API's store on the same home
    assert UIConfig.from_env(local.to_env()) == local


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("SUPPORTBOT_API_URL", "api:8000", "SUPPORTBOT_API_URL"),
        ("SUPPORTBOT_MODE", "telepathy", "mode"),
        ("SUPPORTBOT_API_TIMEOUT_S", "soon", "SUPPORTBOT_API_TIMEOUT_S"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(name: str, value: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        UIConfig.from_env({name: value})


def test_sse_events_carry_their_type() -> None:
    lines = [
        "event: token",
        'data: {"type": "token", "text": "Hola"}',
        "",
        ": keep-alive comment",
        "event: final",
        'data: {"answer": "Hola", "route": "answered"}',
        "",
    ]
    events = list(parse_sse(iter(lines)))
    assert events == [{"type": "token", "text": "Hola"}, {"answer": "Hola", "route": "answered", "type": "final"}]


def test_api_backend_on_a_closed_port_is_unavailable() -> None:
    backend = make_backend(UIConfig(api_url=f"http://127.0.0.1:{free_port()}", api_timeout_s=2))
    assert isinstance(backend, ApiBackend)
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        backend.health()
    with pytest.raises(BackendUnavailable):
        list(backend.stream("hola", session_id="s1"))
    with pytest.raises(BackendUnavailable):
        backend.search("refund")


def _write_run(folder: Path, value: float) -> Path:
    folder.mkdir(parents=True)
    metrics = {
        "kpis": {"answer_accuracy": {"rag": {"es": {"value": value, "low": 0.5, "high": 0.9, "n": 40}}}},
        "testset": "qa.jsonl",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return folder


def test_the_newest_eval_folder_is_found_and_read(tmp_path: Path) -> None:
    assert find_latest_run(tmp_path / "missing") is None
    assert find_latest_run(tmp_path) is None
    old = _write_run(tmp_path / "eval-old", 0.6)
    new = _write_run(tmp_path / "eval-new", 0.7)
    (tmp_path / "eval-unfinished").mkdir()  # no metrics.json yet: not a run
    past = time.time() - 3600
    os.utime(old / "metrics.json", (past, past))
    assert find_latest_run(tmp_path) == new
    assert find_latest_run(old) == old  # a run folder given directly
    tables = metric_tables(load_run(new).metrics)
    assert tables["kpis"] == [{"": "answer_accuracy", "rag / es": "0.700 [0.500, 0.900]"}]
    assert {"field": "testset", "value": "qa.jsonl"} in tables["run"]
    # The evaluation page offers every run under the data home, newest first, and nothing else.
    nested = _write_run(tmp_path / "compare" / "eval-nested", 0.8)
    assert list_runs(tmp_path) == [nested, new, old]
    assert list_runs(tmp_path / "missing") == [] and list_runs(old) == [old]


def test_the_how_to_run_hint_names_a_model_that_ships() -> None:
    # It named <home>/models/tiny, which no demo install has: the command it printed failed with "no such folder".
    words = HOW_TO_RUN.format(home="/data").split()
    model = Path(words[words.index("--model") + 1])
    assert (REPO / model / "supportbot_model.json").is_file()


def test_a_broken_metrics_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics\.json cannot be read"):
        load_run(tmp_path)
