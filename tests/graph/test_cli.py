"""``supportbot chat`` and ``supportbot guard scope`` through the Typer app (in-process, sharing the caches)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graph.service import ChatService
from supportbot.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from supportbot.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_chat_json(bundled_index: Path, service: ChatService) -> None:  # service: the caches are warm
    result = runner.invoke(app, ["chat", "¿Puedo pagar con PayPal?", "--index", str(bundled_index), "--json",
                                 "--session", "cli-1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {"answer", "lang", "mode", "route", "sources", "guardrails", "latency_ms"} <= set(document)
    assert document["route"] == "answered" and document["lang"] == "es" and document["session_id"] == "cli-1"


def test_chat_interactive_keeps_memory(bundled_index: Path, service: ChatService) -> None:
    result = runner.invoke(app, ["chat", "--index", str(bundled_index), "--json"],
                           input="How do I return an item?\nand how long does it take?\n\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 2 and turns[1]["guardrails"]["followup"]["resolved"]
    assert turns[0]["session_id"] == turns[1]["session_id"]


@pytest.mark.parametrize("command", ["/quit", "/exit", " QUIT ", "exit", "salir", "/salir"])
def test_chat_interactive_ends_on_quit(bundled_index: Path, service: ChatService, command: str) -> None:
    # "/quit" was sent to the agent as a question; what follows it must not be
    result = runner.invoke(app, ["chat", "--index", str(bundled_index), "--json"],
                           input=f"How do I return an item?\n{command}\nand how long does it take?\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1


def test_chat_interactive_says_how_to_end_it(bundled_index: Path, service: ChatService) -> None:
    result = runner.invoke(app, ["chat", "--index", str(bundled_index)], input="/quit\n")
    assert result.exit_code == 0 and "/quit (or quit, exit, salir)" in result.stderr, result.output
    assert "/quit" in runner.invoke(app, ["chat", "--help"]).output


def test_chat_bad_input(bundled_index: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["chat", "hi", "--index", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    finetune = runner.invoke(app, ["chat", "hi", "--index", str(bundled_index), "--mode", "finetune"])
    assert finetune.exit_code == 1 and "language-model generator" in finetune.output
    mode = runner.invoke(app, ["chat", "hi", "--index", str(bundled_index), "--mode", "magic"])
    assert mode.exit_code == 1 and "mode must be" in mode.output
    model = runner.invoke(app, ["chat", "hi", "--index", str(bundled_index), "--model", str(tmp_path / "m")])
    assert model.exit_code == 1 and "does not exist" in model.output
    # a session id the API could not address (its transcript, its next turn) was accepted and stored
    session = runner.invoke(app, ["chat", "hi", "--index", str(bundled_index), "--session", "mi sesión/1"])
    assert session.exit_code == 2 and "--session must be 1-64 letters" in session.output


@pytest.mark.parametrize("case", ["missing", "empty", "file"])
def test_chat_without_an_index_names_the_folder_and_the_command_that_builds_it(tmp_path: Path, case: str) -> None:
    # `chat --index my-shop` told an operator to ingest the demo store (`kb ingest data/kb --index my-shop`) into
    # the folder they named for their own articles; an empty folder said "cannot start the agent: ...; build one
    # with `supportbot kb ingest`", without the folder to build it in; a file gave the same message.
    index = tmp_path / "my-shop"
    if case == "empty":
        index.mkdir()
    elif case == "file":
        index.write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["chat", "hi", "--index", str(index)])
    assert result.exit_code == 1, result.output
    what = {"missing": f"index {index} does not exist", "empty": f"index folder {index} holds no index",
            "file": f"--index {index} is a file, not an index folder"}[case]  # fmt: skip
    assert result.output.startswith(f"error: {what}"), result.output
    assert f"`supportbot kb ingest PATH... --index {index}`" in result.output, result.output
    assert "data/kb" not in result.output and "cannot start the agent" not in result.output
    if case == "file":
        assert index.read_text(encoding="utf-8") == "mine"
    else:
        assert not index.exists() or not any(index.iterdir())


def test_chat_without_the_default_index_offers_the_demo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No --index: <home>/index is read, and there building the demo store is a fair suggestion, beside your own.
    from retrieval.bundled import bundled_path
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SUPPORTBOT_INDEX_DIR", raising=False)
    get_settings.cache_clear()
    result = runner.invoke(app, ["chat", "hi"])
    index = tmp_path / "home" / "index"
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: index {index} does not exist (no such index folder); it is the default")
    assert f"`supportbot kb ingest PATH... --index {index}`" in result.output
    demo = "data/kb" if Path("data/kb").is_dir() else str(bundled_path("kb"))  # the checkout's, or the wheel's
    assert f"`supportbot kb ingest {demo} --index {index}`" in result.output and "--index DIR" in result.output


@pytest.mark.parametrize("message", ["", "   ", "\u200b\x00"])
def test_chat_refuses_a_blank_message_as_the_api_does(bundled_index: Path, message: str) -> None:
    # The API answers 422 'message is blank'; the command answered with a greeting and exited 0.
    result = runner.invoke(app, ["chat", message, "--index", str(bundled_index), "--json"])
    assert result.exit_code == 2, result.output
    assert "error: MESSAGE is blank" in result.output and result.stdout == "" and "Traceback" not in result.output


def test_chat_interactive_does_not_send_a_line_of_invisible_characters(
    bundled_index: Path, service: ChatService
) -> None:
    result = runner.invoke(app, ["chat", "--index", str(bundled_index), "--json"],
                           input="\u200b\u200d\nHow do I return an item?\n\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1 and "the message is blank" in result.stderr


def test_chat_interactive_says_a_line_that_is_not_utf8_and_goes_on(bundled_index: Path, service: ChatService) -> None:
    # A Latin-1 line on a strict UTF-8 stdin (an en_US.UTF-8 terminal) ended the session with a traceback
    # (UnicodeDecodeError in input()); a C locale's surrogates were already refused line by line
    result = runner.invoke(app, ["chat", "--index", str(bundled_index), "--json"],
                           input="caf\u00e9 refund\nHow do I return an item?\n\n".encode("latin-1"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "error: 'caf\\xe9 refund' is not UTF-8 text" in result.stderr
    [answer] = [json.loads(line) for line in result.stdout.splitlines()]
    assert answer["route"] == "answered"


def test_guard_scope(bundled_index: Path, tmp_path: Path, service: ChatService) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_text(
        '{"id": "a", "text": "how do I cancel my order?"}\n{"id": "b", "text": "best pizza recipe with pineapple"}\n'
        '{"id": "c", "text": "¿cuánto cuesta el envío exprés?"}\n{"id": "d", "text": "what\'s your phone number"}\n'
        '{"id": "e", "text": "Zara sent me the wrong size, how do I exchange it?"}\n'
        '{"id": "f", "text": "explain for my economics homework why shops give loyalty points"}\n'
    )
    result = runner.invoke(app, ["guard", "scope", "--index", str(bundled_index), "--input", str(texts)])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["a"]["in_scope"] and not rows["b"]["in_scope"] and rows["c"]["in_scope"]
    assert 0 <= rows["b"]["score"] < rows["a"]["score"] <= 1
    assert set(rows["a"]) == {"id", "in_scope", "score"}  # the contract; the rules below only when they apply
    assert rows["d"]["in_scope"] and rows["d"]["business"] is True  # every rule the graph applies
    assert not rows["e"]["in_scope"] and rows["e"]["other_company"] == "Zara"
    assert not rows["f"]["in_scope"] and rows["f"]["general_task"] is True


def test_guard_scope_reads_the_index_chat_reads_without_index(
    bundled_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guard scope` required --index while kb search and chat default to <home>/index (a KB author's QA pass)."""
    from supportbot.settings import get_settings

    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": "a", "text": "how do I cancel my order?"}\n')
    monkeypatch.setenv("SUPPORTBOT_INDEX_DIR", str(bundled_index))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["guard", "scope", "--input", str(texts)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["in_scope"] is True


def test_guard_scope_bad_input(bundled_index: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "ok"}\nnot json\n')
    result = runner.invoke(app, ["guard", "scope", "--index", str(bundled_index), "--input", str(bad)])
    assert result.exit_code == 1 and "bad.jsonl:2" in result.output
    result = runner.invoke(app, ["guard", "scope", "--index", str(bundled_index), "--input", str(tmp_path / "x")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = runner.invoke(app, ["guard", "scope", "--index", str(tmp_path), "--input", str(bad)])
    assert result.exit_code == 1
    # an empty file (or one of blank lines) is an error as in every other command, not a silent success (a QA pass)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    for command in (["guard", "scope", "--index", str(bundled_index)], ["guard", "input"]):
        result = runner.invoke(app, [*command, "--input", str(empty)])
        assert result.exit_code == 1 and "empty.jsonl" in result.output and "no messages" in result.output


def test_guard_scope_reads_the_customer_questions_as_the_graph_does(
    bundled_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUPPORTBOT_SCOPE_QUESTIONS reaches `guard scope` too; a bad file is named, never a traceback."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": "a", "text": "how do I cancel my order?"}\n')
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"text": "where is my parcel"}\n{"lang": "en"}\n')
    monkeypatch.setenv("SUPPORTBOT_SCOPE_QUESTIONS", str(questions))
    result = runner.invoke(app, ["guard", "scope", "--index", str(bundled_index), "--input", str(texts)])
    assert result.exit_code == 1 and "questions.jsonl:2: expected an object" in result.output
    assert "Traceback" not in result.output


def test_chat_lists_sources_by_the_numbers_the_answer_cites(capsys: pytest.CaptureFixture[str]) -> None:
    # The extractive answer cites passages by their retrieval rank ("[1]", "[4]"); the sources printed under it
    # were numbered 1, 2, ... so "[4]" pointed at nothing (an operator's help centre, 2026-12-06).
    from supportbot.cli.chat import _turn

    class Service:
        def chat(self, message: str, session_id: str, lang: str | None) -> dict[str, object]:
            sources = [{"title": "Tarifas de móvil", "doc_id": "tarifas", "citation": 1},
                       {"title": "Líneas adicionales", "doc_id": "lineas", "citation": 4}]  # fmt: skip
            return {"answer": "Tarifa M: 15 €/mes. [1] La multiSIM cuesta 2 €/mes. [4]", "sources": sources,
                    "route": "answered", "lang": "es", "latency_ms": 12.0}  # fmt: skip

    _turn(Service(), "¿Cuánto cuesta la tarifa M?", "s", None, as_json=False)
    err = capsys.readouterr().err
    assert "[1] Tarifas de móvil (tarifas)" in err and "[4] Líneas adicionales (lineas)" in err
    assert "[2]" not in err
