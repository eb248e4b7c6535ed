"""The command line: every contract group is listed, start-up stays light, usage errors are clear."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
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
    [line] = [line for line in runner.invoke(app, ["--help"]).output.splitlines() if "--version" in line]
    assert "<bool>" not in line  # a plain flag, not shown as taking a value


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def test_every_help_text_reads_without_rst_markup() -> None:
    # Docstrings are help texts: ``rail`` showed as typed (guard input)
    paths = list(_command_paths(typer.main.get_command(app)))
    assert len(paths) > len(GROUPS) and ("guard", "input") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        for marker in ("``", ":func:", ":class:", ":data:"):
            assert marker not in result.output, (path, marker, result.output)
        # a flag takes no value: "--json <bool>" read as if it did (Typer still renders its own --help that way)
        flagged = [line for line in result.output.splitlines() if "<bool>" in line and "--help" not in line]
        assert not flagged, (path, flagged)


def test_train_without_required_options_is_a_usage_error() -> None:
    result = runner.invoke(app, ["train", "--preset", "tiny"])
    assert result.exit_code == 2


def test_missing_required_option_is_a_clear_usage_error() -> None:
    # (`kb search` without --index was the example here; it now reads the default index, as chat does)
    result = runner.invoke(app, ["eval", "retrieval", "--index", "idx"])
    assert result.exit_code == 2
    assert "--queries" in result.output


def test_train_without_data_or_out_says_what_is_missing() -> None:
    result = runner.invoke(app, ["train", "--preset", "tiny", "--data", "somewhere"])
    assert result.exit_code == 2 and result.output.startswith("error: train needs --out DIR")
    assert "Usage" not in result.output  # one line, not the whole help


@pytest.mark.parametrize(
    "args",
    [
        ["kb", "search", "caf\udce9", "--index", "idx"],
        ["kb", "search", "refund", "--tag", "caf\udce9", "--index", "idx"],
        ["kb", "delete", "caf\udce9", "--index", "idx"],
        ["chat", "caf\udce9", "--index", "idx"],
    ],
)
def test_text_that_is_not_utf8_is_a_clear_error(args: list[str]) -> None:
    # A shell passes Latin-1 bytes (printf 'caf\xe9') as lone surrogates: a traceback deep in a tokenizer before.
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "'caf\\xe9' is not UTF-8 text" in result.output, result.output
    assert "Traceback" not in result.output


def test_not_utf8_names_the_undecodable_bytes() -> None:
    from supportbot.cli._common import not_utf8

    assert not_utf8("café ¿qué?") is None
    assert not_utf8("caf\udce9") == "caf\\xe9"


def test_db_url_that_is_not_postgres_is_a_clear_error() -> None:
    result = runner.invoke(app, ["db", "status", "--url", "notaurl"])
    assert result.exit_code == 2 and "--url 'notaurl' is not a PostgreSQL URL" in result.output, result.output


def test_keys_in_an_unusable_data_home_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from supportbot.settings import get_settings

    (tmp_path / "file").write_text("mine", encoding="utf-8")
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "file" / "home"))
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["keys", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "cannot open the key store" in result.output, result.output
    assert "SUPPORTBOT_HOME" in result.output and "Traceback" not in result.output


def test_eval_compare_with_a_missing_model_folder_fails(tmp_path: Path) -> None:
    args = ["--index", str(tmp_path), "--testset", str(tmp_path / "qa.jsonl"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, ["eval", "compare", *args, "--model", str(tmp_path / "nope"), "--modes", "rag"])
    assert result.exit_code == 1 and f"--model {tmp_path / 'nope'}: no such folder" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SUPPORTBOT_MODE", "garbage", "SUPPORTBOT_MODE: Input should be 'rag', 'finetune' or 'hybrid'"),
        ("SUPPORTBOT_HOME", "{file}", "SUPPORTBOT_HOME: data home {file} exists and is not a directory"),
    ],
)
def test_an_invalid_setting_is_a_clear_error(tmp_path: Path, variable: str, value: str, message: str) -> None:
    # A bad SUPPORTBOT_* value failed every command with a pydantic traceback; the value is not echoed (it may be
    # a secret: a database URL with its password, the PII key)
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env[variable] = value.format(file=tmp_path / "file")
    result = subprocess.run([sys.executable, "-m", "supportbot", "keys", "list"], capture_output=True, text=True,
                            env=env, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: {message.format(file=tmp_path / 'file')}\n", result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--older-than", "0"], 2, "--older-than must be a whole number of days from 1 to 36500, got '0'"),
        (["--older-than", "-3"], 2, "--older-than must be a whole number of days from 1 to 36500, got '-3'"),
        (["--older-than", "thirty"], 2, "--older-than must be a whole number of days from 1 to 36500, got 'thirty'"),
        (["--older-than", "1.5"], 2, "--older-than must be a whole number of days from 1 to 36500, got '1.5'"),
        ([], 2, "give --older-than DAYS or set SUPPORTBOT_RETENTION_DAYS"),
        (["--older-than", "30", "--url", "postgresql://nobody@127.0.0.1:1/none"], 1, "cannot connect to the database"),
        (["--older-than", "30", "--url", "notaurl"], 2, "--url 'notaurl' is not a PostgreSQL URL"),
        (["--older-than", "30"], 1, "no supportbot state in the data home"),
    ],
)
def test_db_purge_bad_input_is_a_clear_error(
    args: list[str], code: int, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is deleted and no traceback is shown: a days count below 1 or not a number, no days at all, a database
    that cannot be reached, and a data home with no state (a mistyped SUPPORTBOT_HOME would purge nothing silently)."""
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    for name in ("SUPPORTBOT_DATABASE_URL", "SUPPORTBOT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "purge", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == code and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "home").exists()


def test_db_purge_takes_its_days_from_the_setting(tmp_path: Path) -> None:
    """SUPPORTBOT_RETENTION_DAYS is what `db purge` uses without --older-than; a value below 1 is refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env["SUPPORTBOT_HOME"] = str(tmp_path)
    (tmp_path / "support.sqlite").touch()
    command = [sys.executable, "-m", "supportbot", "db", "purge", "--dry-run", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, env={**env, "SUPPORTBOT_RETENTION_DAYS": "45"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["older_than_days"] == 45
    refused = subprocess.run(command, capture_output=True, text=True, env={**env, "SUPPORTBOT_RETENTION_DAYS": "0"})
    assert refused.returncode == 2 and refused.stderr.startswith("error: SUPPORTBOT_RETENTION_DAYS:"), refused.stderr
