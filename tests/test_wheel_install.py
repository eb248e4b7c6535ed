"""An installed supportbot needs no source tree: build the wheel, install it into a fresh virtualenv, answer a chat.

The fresh virtualenv gets the wheel (``pip install --no-deps``) and, through a ``.pth`` line, this environment's
site-packages for the dependencies (torch and the rest are not installed twice). A directory added by a ``.pth``
line has its own ``.pth`` files ignored, so this checkout's editable install is not importable there; the test
checks that the packages and the bundled data resolve inside the fresh site-packages. ``supportbot kb ingest`` and
``supportbot chat`` then run from a temporary directory with the hub offline: the scope rail fits on the shipped
conversations and scope examples and the input rails load their shipped weights, so a wheel without its package
data fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

PACKAGED = "retrieval/bundled_data/"  # where pyproject.toml puts data/ inside the wheel (retrieval/bundled.py)


def _run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def _shipped_data_files() -> set[str]:
    """The files of data/ that git tracks (every file under data/ when this is not a git checkout)."""
    if shutil.which("git") and (REPO / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "data"], cwd=REPO, capture_output=True, text=True, check=True)
        return {line.removeprefix("data/") for line in listed.stdout.splitlines() if (REPO / line).is_file()}
    return {str(p.relative_to(REPO / "data")) for p in (REPO / "data").rglob("*") if p.is_file()}


def _wheel(tmp_path: Path) -> Path:
    pytest.importorskip("hatchling", reason="the build backend (dev extra: pip install -e '.[dev]')")
    dist = tmp_path / "dist"
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist, REPO]
    _run([sys.executable, "-m", "pip", *build], cwd=tmp_path, env=dict(os.environ))
    (wheel,) = dist.glob("supportbot-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> tuple[Path, Path]:
    """A virtualenv with only the wheel installed and this environment's site-packages for the dependencies."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Installed before the dependencies' .pth line exists, so pip sees no supportbot to replace and never touches
    # this environment's editable install.
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
        cwd=tmp_path,
        env=dict(os.environ),
    )
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, {}).strip())
    (site / "supportbot-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv, site


def test_the_wheel_ships_the_bundled_data(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(_wheel(tmp_path)).namelist())
    missing = sorted(f for f in _shipped_data_files() if PACKAGED + f not in names)
    assert not missing, f"data/ files missing from the wheel: {missing[:10]}"
    for resource in ("finetune/presets/tiny.yaml", "retrieval/resources/lexicon.es-en.tsv.gz"):
        assert resource in names


def test_installed_wheel_answers_a_chat_outside_the_source_tree(tmp_path: Path) -> None:
    venv, site = _fresh_venv(tmp_path, _wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SUPPORTBOT_HOME": str(tmp_path / "home"),
    }
    where = json.loads(
        _run(
            [
                venv / "bin" / "python",
                "-c",
                "import json, graph, retrieval, supportbot, finetune.config as fc, graph.rails.classifier as rc;"
                "from retrieval.bundled import bundled_data;"
                "print(json.dumps([graph.__file__, retrieval.__file__, supportbot.__file__, str(bundled_data()),"
                " fc.BUNDLED_DATA.as_posix(), rc.WEIGHTS.as_posix()]))",
            ],
            elsewhere,
            env,
        )
    )
    for path in where:
        assert Path(path).resolve().is_relative_to(site.resolve()), f"{path} is not from the installed wheel"
    data = Path(where[3])
    assert (data / "scope" / "ood_written.jsonl").is_file() and Path(where[5]).is_file()

    index = tmp_path / "index"
    cli = venv / "bin" / "supportbot"
    ingested = json.loads(
        _run([cli, "kb", "ingest", data / "kb" / "articles.en.jsonl", "--index", index, "--json"], elsewhere, env)
    )
    assert ingested["chunks"] > 0
    turn = json.loads(_run([cli, "chat", "How do I return an item?", "--index", index, "--json"], elsewhere, env))
    assert turn["route"] == "answered", turn
    assert turn["answer"].strip() and turn["sources"]
    assert turn["sources"][0]["doc_id"] == "how-to-return-en"
    assert turn["guardrails"]["scope"]["in_scope"] is True
    assert not list(elsewhere.iterdir()), "the installed CLI wrote into the working directory"
