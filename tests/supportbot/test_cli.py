"""The command line: every contract group is listed, start-up stays light, usage errors are clear."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from supportbot.cli import app

runner = CliRunner()
GROUPS = ["kb", "data", "train", "guard", "chat", "eval", "serve", "ui", "demo", "keys"]
HEAVY = ["torch", "transformers", "sentence_transformers", "faiss", "elasticsearch", "presidio_analyzer", "langgraph",
         "streamlit", "mlflow", "spacy"]  # fmt: skip


def test_help_lists_every_command_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in GROUPS:
        assert f" {group} " in result.output, group


def test_help_imports_no_heavy_library() -> None:
    # `supportbot --help` must stay fast: heavy libraries are imported inside the commands that need them.
    code = (
        "import sys, json\n"
        "from supportbot.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("supportbot ")


def test_train_without_required_options_is_a_usage_error() -> None:
    result = runner.invoke(app, ["train", "--preset", "tiny"])
    assert result.exit_code == 2


def test_missing_required_option_is_a_clear_usage_error() -> None:
    result = runner.invoke(app, ["kb", "search", "refund"])
    assert result.exit_code == 2
    assert "--index" in result.output
