"""`supportbot data prepare` end to end: output contract, RAFT examples over a real index, atomic writes, CLI
errors, and the Done-means check that no planted PII survives into any output file."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from finetune.prepare import PrepareConfig, prepare
from finetune.prepare.raft import GroundedQuestion, build_examples, quote
from finetune.prompts import passage_text, rag_messages
from supportbot.cli import app
from supportbot.settings import get_settings
from tests.conftest import DATA, read_jsonl
from tests.finetune.test_pii import BATTERY, _leaks

runner = CliRunner()
TOPICS = ("place-order", "cancel-order", "track-order", "how-to-return", "refund-policy", "contact-customer-service",
          "payment-methods", "recover-password", "get-invoice", "delivery-options")  # fmt: skip


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Ten topics of data/kb in both languages, and a real FAISS + BM25 index of them (built once)."""
    from retrieval.ingest import ingest

    folder = tmp_path_factory.mktemp("small-kb")
    articles = folder / "articles.jsonl"
    rows = [r for lang in ("en", "es") for r in read_jsonl(DATA / "kb" / f"articles.{lang}.jsonl")
            if r["id"].rsplit("-", 1)[0] in TOPICS]  # fmt: skip
    assert len(rows) == 2 * len(TOPICS)
    articles.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ingest([articles], folder / "index")
    return articles, folder / "index"


def _chat(rid: str, lang: str, turns: list[str], **meta: Any) -> dict[str, Any]:
    roles = ["user", "assistant"] * len(turns)
    return {"id": rid, "lang": lang, "source": "test", "meta": meta,
            "messages": [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]}  # fmt: skip


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


REPLIES = {
    "es": ["Gracias, ya lo estoy revisando con el equipo.", "Perfecto, en unos minutos te confirmo el cambio.",
           "Entendido, abro una incidencia ahora mismo.", "De acuerdo, lo anoto en tu ficha de cliente."],
    "en": ["Thanks, I'm checking that with the team now.", "Got it, I'll confirm the change in a few minutes.",
           "Understood, I'm opening a ticket for you right away.", "Okay, I've added that to your customer file."],
}  # fmt: skip


def _battery_conversations() -> list[dict[str, Any]]:
    """Every battery value in a user turn; a third also repeats it in the assistant turn and carries a gold id."""
    records = []
    for n, (lang, template, value) in enumerate(BATTERY):
        reply = REPLIES[lang][n % 4]
        if n % 3 == 0:
            reply += f" (ref: {value})"
        meta = {"gold_ids": [f"contact-customer-service-{lang}"], "intent": "contact"} if n % 3 == 0 else {}
        records.append(_chat(f"pii-{n:03d}", lang, [template.format(value), reply], **meta))
    return records


def _clean_conversations() -> list[dict[str, Any]]:
    """Clean support text (knowledge-base paragraphs as answers) that redaction must leave alone."""
    records = []
    for lang in ("en", "es"):
        for row in read_jsonl(DATA / "kb" / f"articles.{lang}.jsonl")[:30]:
            paragraphs = [p for p in row["text"].split("\n\n") if len(p.split()) > 8][:2]
            records.append(_chat(f"clean-{row['id']}", lang, [f"{row['title']}?", *paragraphs[:1]]))
    return records


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, small_kb: tuple[Path, Path]) -> tuple[Path, dict[str, Any]]:
    """One `data prepare` CLI run over the PII battery and clean text, with RAFT against the small index."""
    folder = tmp_path_factory.mktemp("prepare-run")
    source = _write_jsonl(folder / "chats.jsonl", _battery_conversations() + _clean_conversations())
    articles, index = small_kb
    out = folder / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(index),
                                 "--kb", str(articles), "--train", "0.6", "--val", "0.2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_output_follows_the_contract(prepared: tuple[Path, dict[str, Any]]) -> None:
    out, summary = prepared
    expected = {f"{s}.jsonl" for s in ("train", "val", "test")} | {f"raft_{s}.jsonl" for s in ("train", "val", "test")}
    expected |= {"data_card.md", "data_card.json", "manifest.json"}
    assert expected <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "plots").iterdir()} == {"turns_per_conversation.png", "chars_per_conversation.png"}
    assert (out / "plots" / "turns_per_conversation.png").read_bytes()[:4] == b"\x89PNG"
    records = [r for s in ("train", "val", "test") for r in read_jsonl(out / f"{s}.jsonl")]
    assert len(records) == summary["conversations"] == sum(summary["splits"].values())
    for record in records:
        assert set(record) == {"id", "lang", "messages", "source", "meta"} and record["lang"] in ("es", "en")
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant" and "group" in record["meta"]
        assert all(a != b for a, b in itertools.pairwise(roles[1:]))
    card = json.loads((out / "data_card.json").read_text(encoding="utf-8"))
    assert card["conversations"] == len(records) and card["pii_per_type"] and card["examples_before_after_cleaning"]
    assert set(card["per_language"]) == {"es", "en"} and "## PII redacted" in (out / "data_card.md").read_text()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["seed"] == 13 and "train.jsonl" in manifest["outputs"]
    assert not list(out.parent.glob(".out.*"))


def test_no_battery_pii_survives_in_any_output_file(prepared: tuple[Path, dict[str, Any]]) -> None:
    out, summary = prepared
    battery_ids = {f"pii-{n:03d}" for n in range(len(BATTERY))}
    kept = {r["id"] for s in ("train", "val", "test") for r in read_jsonl(out / f"{s}.jsonl")}
    assert len(battery_ids & kept) >= 0.95 * len(BATTERY)  # the battery really went through (not dropped)
    assert summary["raft_details"]["questions"]["conversation"] >= 30  # and into RAFT examples
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json", ".md")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    # JSON escapes newlines and quotes: compare against the decoded form too.
    decoded = text.replace("\\n", "\n").replace('\\"', '"')
    leaks = {value: _leaks(value, decoded) for _, _, value in BATTERY}
    assert {v: found for v, found in leaks.items() if found} == {}


def test_clean_text_keeps_its_tokens(prepared: tuple[Path, dict[str, Any]]) -> None:
    out, _ = prepared
    sources = {r["id"]: r for r in _clean_conversations()}
    outputs = {r["id"]: r for s in ("train", "val", "test") for r in read_jsonl(out / f"{s}.jsonl")}
    for lang in ("en", "es"):
        kept = total = 0
        for rid, record in sources.items():
            if record["lang"] != lang or rid not in outputs:
                continue
            tokens = Counter(t for m in outputs[rid]["messages"][1:] for t in m["content"].split())
            for token in (t for m in record["messages"] for t in m["content"].split()):
                total += 1
                if tokens[token] > 0:
                    kept, tokens[token] = kept + 1, tokens[token] - 1
        assert total > 500 and kept / total >= 0.98, (lang, kept, total)


def test_raft_examples_cite_the_oracle_in_the_shared_prompt(prepared: tuple[Path, dict[str, Any]]) -> None:
    out, summary = prepared
    examples = [e for s in ("train", "val", "test") for e in read_jsonl(out / f"raft_{s}.jsonl")]
    assert len(examples) == sum(summary["raft"].values()) > 40
    for example in examples:
        ids = [p["doc_id"] for p in example["passages"]]
        assert example["messages"][:-1] == rag_messages(example["question"], example["passages"], example["lang"])
        assert example["messages"][-1] == {"role": "assistant", "content": example["answer"]}
        if example["oracle_present"]:
            assert example["answer"].endswith(f"[{ids.index(example['oracle_doc_id']) + 1}]")
        else:
            assert example["oracle_doc_id"] not in ids and not re.search(r"\[\d\]$", example["answer"])
        assert len(ids) == 4 and all(p["doc_id"].endswith(example["lang"]) for p in example["passages"])


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_raft_oracle_fraction_is_exact_per_split(small_kb: tuple[Path, Path], fraction: float) -> None:
    from retrieval.backends import open_knowledge_base

    kb = open_knowledge_base("faiss", small_kb[1])
    questions = [GroundedQuestion(f"q{i}", "en", q, "", f"{t}-en", "train" if i < 8 else "test", "kb")
                 for i, (q, t) in enumerate([("How do I cancel my order?", "cancel-order"),
                                             ("Where is my parcel?", "track-order")] * 6)]  # fmt: skip
    config = PrepareConfig(raft_oracle_fraction=fraction, raft_k=3, raft_no_oracle_answer="abstain")
    examples, _ = build_examples(questions, kb, config)
    for split, n in (("train", 8), ("test", 4)):
        present = [e for e in examples if e["split"] == split and e["oracle_present"]]
        assert len(present) == round(fraction * n)
    for example in examples:
        if not example["oracle_present"]:
            assert example["answer"].startswith("I couldn't find this")


def test_quote_picks_the_oracle_sentences_closest_to_the_answer() -> None:
    text = "Orders ship in two days. Returns are free for 30 days. … Refunds take five working days. Keep the receipt."
    assert quote(text, "Returns are free within 30 days.") == "Returns are free for 30 days."
    # two consecutive sentences when both carry the answer, never across a focus gap ("…")
    assert quote(text, "The refund takes five working days; keep your receipt.") == (
        "Refunds take five working days. Keep the receipt."
    )
    assert quote("", "anything") == "anything"


def test_quote_answers_copy_the_prompt_and_cite_the_oracle(small_kb: tuple[Path, Path]) -> None:
    from retrieval.backends import open_knowledge_base

    kb = open_knowledge_base("faiss", small_kb[1])
    questions = [GroundedQuestion("q0", "en", "How long does a refund take?", "Refunds usually take a few days.",
                                  "refund-policy-en", "train", "conversation"),
                 GroundedQuestion("q1", "es", "¿Cómo cancelo mi pedido?", "Puedes cancelarlo desde Mis pedidos.",
                                  "cancel-order-es", "train", "conversation")]  # fmt: skip
    examples, _ = build_examples(questions, kb, PrepareConfig(raft_oracle_fraction=1.0, raft_k=3, raft_answer="quote"))
    for example, q in zip(examples, questions, strict=True):
        oracle = next(p for p in example["passages"] if p["doc_id"] == q.oracle_doc_id)
        cited = example["answer"].rsplit(" [", 1)[0]
        assert cited != q.answer and cited in passage_text(oracle, question=q.question, lang=q.lang)
        assert example["answer"].endswith(f"[{example['passages'].index(oracle) + 1}]")
    with pytest.raises(ValueError, match="raft_answer"):
        PrepareConfig(raft_answer="paraphrase")


def test_draft_prompts_show_the_extractive_answer_over_their_passages(small_kb: tuple[Path, Path]) -> None:
    """`data prepare --raft-draft`: each RAFT prompt shows, after its passages, the extractive generator's answer
    over exactly those passages (each passage carries its language, as the graph's do); without it, no draft."""
    from finetune.prompts import DRAFT_HEADER
    from graph.generators.extractive import drafter
    from retrieval.backends import open_knowledge_base

    kb = open_knowledge_base("faiss", small_kb[1])
    draft = drafter(kb)
    questions = [GroundedQuestion("q0", "en", "How long does a refund take?", "Refunds usually take a few days.",
                                  "refund-policy-en", "train", "conversation"),
                 GroundedQuestion("q1", "es", "¿Cómo cancelo mi pedido?", "Puedes cancelarlo desde Mis pedidos.",
                                  "cancel-order-es", "train", "conversation")]  # fmt: skip
    config = PrepareConfig(raft_oracle_fraction=1.0, raft_k=3, raft_draft=True)
    examples, _ = build_examples(questions, kb, config, draft=draft)
    for example, q in zip(examples, questions, strict=True):
        assert {p["lang"] for p in example["passages"]} <= {"en", "es"}
        expected = draft(q.question, example["passages"], q.lang)
        assert expected and example["draft"] == expected
        assert example["messages"][0]["content"].endswith(DRAFT_HEADER[q.lang] + "\n" + expected)
        assert example["messages"][-1] == {"role": "assistant", "content": example["answer"]}
    plain, _ = build_examples(questions, kb, PrepareConfig(raft_oracle_fraction=1.0, raft_k=3), draft=draft)
    assert all("draft" not in e and DRAFT_HEADER[e["lang"]] not in e["messages"][0]["content"] for e in plain)


def test_raft_draft_is_recorded_for_training_and_needs_a_drafter(tmp_path: Path, small_kb: tuple[Path, Path]) -> None:
    """The CLI passes the graph's extractive generator; the manifest records the setting, which the trained model's
    descriptor carries (``drafts``) so that the hybrid turn shows it drafts too. Called without a drafter,
    ``prepare`` says so instead of writing prompts without one."""
    from finetune.chat_format import data_drafts
    from finetune.prepare import PrepareError
    from finetune.prompts import DRAFT_HEADER

    articles, index = small_kb
    source = _write_jsonl(tmp_path / "chats.jsonl", [
        _chat(f"en-{n}", "en", [q, "Sure, here is how that works for your order."], gold_ids=["refund-policy-en"])
        for n, q in enumerate(["How long does my refund take to arrive?", "When will I see the money back?",
                               "Is the refund sent to my card or to PayPal?", "Can I get my refund faster?"])
    ])  # fmt: skip
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(index), "--kb",
                                 str(articles), "--raft-draft", "--raft-k", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    raft = [r for s in ("train", "val", "test") for r in read_jsonl(out / f"raft_{s}.jsonl")]
    assert raft and all(DRAFT_HEADER[r["lang"]] in r["messages"][0]["content"] for r in raft)
    assert data_drafts(out) and not data_drafts(tmp_path)
    with pytest.raises(PrepareError, match="drafter"):
        prepare([source], tmp_path / "again", PrepareConfig(raft_draft=True), models_dir=get_settings().home /
                "models" / "spacy", index=index)  # fmt: skip
    assert not (tmp_path / "again").exists()


def test_a_failure_while_writing_leaves_the_previous_output(tmp_path: Path) -> None:
    source = _write_jsonl(tmp_path / "c.jsonl", [_chat("a", "en", ["Where is my parcel from last week?",
                                                                   "It ships within two working days."])])  # fmt: skip
    out = tmp_path / "out"
    models = get_settings().home / "models" / "spacy"
    config = PrepareConfig(raft=False)
    prepare([source], out, config, models_dir=models)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def explode(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        prepare([source], out, config, models_dir=models, progress=explode)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "out"]  # no temp folder left beside it
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        prepare([source], fresh, config, models_dir=models, progress=explode)
    assert not fresh.exists()


def test_locale_tags_name_the_language(tmp_path: Path) -> None:
    """Help desks export a ticket's language as a locale ("es-ES", "en_US", "EN"): each was 'another language' and
    dropped (239 of 450 tickets of an operator's export); a blank tag is detected, a French one still drops."""
    tickets = [
        ("a", "es-ES", "Hola, quiero devolver las zapatillas que compré la semana pasada.", "Tienes 30 días."),
        ("b", "es_MX", "¿Cuánto tarda en llegar un envío a Canarias desde la tienda?", "Unos cinco días laborables."),
        ("c", "en-US", "Hello, I would like to change the delivery address of my order.", "Edit it in My account."),
        ("d", "EN", "Why was my card charged twice for the same purchase yesterday?", "We refunded the duplicate."),
        ("e", "", "Buenas, no me llega el correo para cambiar la contraseña de la cuenta.", "Mira en spam."),
        ("f", "fr", "Can I pay with a gift card and a credit card together?", "Yes, at checkout you can combine both."),
    ]  # fmt: skip
    source = _write_jsonl(tmp_path / "c.jsonl", [_chat(rid, tag, [q, a]) for rid, tag, q, a in tickets])
    config = PrepareConfig(raft=False, train_fraction=0.5, val_fraction=0.25)
    summary = prepare([source], tmp_path / "out", config, models_dir=get_settings().home / "models" / "spacy")
    kept = {r["id"]: r["lang"] for s in ("train", "val", "test") for r in read_jsonl(tmp_path / "out" / f"{s}.jsonl")}
    assert kept == {"a": "es", "b": "es", "c": "en", "d": "en", "e": "es"}
    assert summary["dropped"]["unsupported_language"] == 1


def test_a_conversation_id_that_holds_personal_data_is_replaced(tmp_path: Path) -> None:
    """A help desk may key its export by the customer's e-mail or phone: the id was written as it was into the splits,
    ``meta.group``, the data card and the manifest (a DPO QA pass, 2026-12-07: "lucia.fr@gmail.com" in train.jsonl
    and data_card.md with every turn redacted). Such an id becomes ``<source>-id<n>`` (a copy of one id keeps its
    ``meta.group`` with the other); an id without personal data stays."""
    tickets = [
        ("lucia.fr@gmail.com", "Hola, quiero devolver las zapatillas que compré la semana pasada.", "Tienes 30 días."),
        ("lucia.fr@gmail.com", "¿Cuánto tarda en llegar un envío a Canarias desde la tienda?", "Unos cinco días."),
        ("+34 612 345 678", "Buenas, no me llega el correo para cambiar la contraseña de la cuenta.", "Mira en spam."),
        ("ticket-7", "Hello, I would like to change the delivery address of my order.", "Edit it in My account."),
    ]  # fmt: skip
    source = _write_jsonl(tmp_path / "c.jsonl", [_chat(rid, "", [q, a]) for rid, q, a in tickets])
    config = PrepareConfig(raft=False, train_fraction=0.5, val_fraction=0.25)
    prepare([source], tmp_path / "out", config, models_dir=get_settings().home / "models" / "spacy")
    records = [r for s in ("train", "val", "test") for r in read_jsonl(tmp_path / "out" / f"{s}.jsonl")]
    assert len(records) == 4 and len({r["id"] for r in records}) == 4
    assert "ticket-7" in {r["id"] for r in records}
    groups = {r["meta"]["group"] for r in records if r["messages"][1]["content"].startswith(("Hola", "¿Cuánto"))}
    assert len(groups) == 1, groups
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*") if p.is_file() and p.suffix != ".png"
    )
    assert "lucia" not in text and "612 345 678" not in text and "612345678" not in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello there", "notes.txt: unknown format"),
        ("bad.jsonl", b'{"id": "a", "messages": [{"role": "user", "content": "hi there you"}]}\n{oops\n',
         "bad.jsonl:2: invalid JSON"),
        ("empty.jsonl", b'{"id": "a", "messages": [{"role": "user", "content": "hi there you"}]}\n'
         b'{"id": "b", "messages": []}\n', "empty.jsonl:2: empty conversation"),
    ],
)  # fmt: skip
def test_cli_bad_input_names_it_and_writes_nothing(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    source, out = tmp_path / name, tmp_path / "out"
    source.write_bytes(content)
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--no-raft"])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("empty", [False, True])
def test_cli_a_named_index_that_holds_none_without_kb_is_an_error(tmp_path: Path, empty: bool) -> None:
    # `data prepare --index .supportbot/shop-idx` (a typo for the operator's shop-index, no --kb) built the demo
    # store (data/kb) into that folder and made every RAFT example and knowledge-base question from it, silently.
    index, out = tmp_path / "shop-idx", tmp_path / "out"
    if empty:
        index.mkdir()
    chat = _chat("a", "en", ["Where is my parcel from last week?", "It ships within two working days."])
    source = _write_jsonl(tmp_path / "chats.jsonl", [chat])
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(index)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: --index {index} holds no index"), result.output
    assert f"supportbot kb ingest PATH... --index {index}" in result.output and "--kb PATH" in result.output
    assert not out.exists() and (not index.exists() or not any(index.iterdir()))


def test_cli_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    chat = _chat("a", "en", ["Where is my parcel from last week?", "It ships within two working days."])
    source = _write_jsonl(tmp_path / "mine" / "conv.jsonl", [chat])
    (tmp_path / "mine" / "notes.txt").write_text("my notes", encoding="utf-8")
    mine = source.parent
    for extra in ([], ["--overwrite"]):  # the folder holds the input: replacing it would delete the input
        result = runner.invoke(app, ["data", "prepare", str(mine), "--out", str(mine), "--no-raft", *extra])
        assert result.exit_code == 1 and "holds the input" in result.output, result.output
    (tmp_path / "a_file").write_text("mine", encoding="utf-8")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("my notes", encoding="utf-8")
    latin1 = tmp_path / "eval.jsonl"
    latin1.write_bytes('{"question": "¿Dónde está mi pedido?"}\n'.encode("latin-1"))
    for args, message in [
        (["--out", str(tmp_path / "other")], "not empty, and not an earlier `supportbot data prepare` output"),
        (["--out", str(tmp_path / "a_file")], "a_file is a file, not a folder"),
        (["--out", str(tmp_path / "a_file" / "o")], "a_file is a file, not a folder"),
        (["--out", str(tmp_path / "o"), "--kb", str(tmp_path / "nowhere")], "nowhere: no such file or folder"),
        (["--out", str(tmp_path / "o"), "--exclude-eval", str(latin1)], "eval.jsonl: not UTF-8 text"),
    ]:
        result = runner.invoke(app, ["data", "prepare", str(source), "--no-raft", *args])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert sorted(p.name for p in mine.iterdir()) == ["conv.jsonl", "notes.txt"]
    assert (tmp_path / "other" / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "eval.jsonl", "mine", "other"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("replace me", encoding="utf-8")
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--no-raft", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (out / "notes.txt").exists() and (out / "manifest.json").is_file()
    # off a terminal (this runner's stderr, a CI log, nohup) each finished stage is printed: it was silent until done
    assert "  clean: 1/1" in result.stderr and "  redact: 1/1" in result.stderr, result.stderr
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--no-raft"])
    assert result.exit_code == 0, result.output  # its own earlier output: replaced without --overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "eval.jsonl", "mine", "other", "out"]


def test_cli_rejects_bad_settings(tmp_path: Path) -> None:
    source = _write_jsonl(tmp_path / "c.jsonl", [_chat("a", "en", ["Where is my parcel?", "It ships soon, really."])])
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(tmp_path / "o"), "--train", "0.95"])
    assert result.exit_code == 2 and "must not exceed" in result.output
    for flag, value in (("--max-turns", "0"), ("--raft-k", "0"), ("--raft-p", "2"), ("--raft-no-oracle", "maybe")):
        result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(tmp_path / "o"), flag, value])
        assert result.exit_code == 2 and f"error: {flag} " in result.output and value in result.output, result.output
    assert not (tmp_path / "o").exists()


def _bitext_with_store_slots(path: Path) -> Path:
    from tests.finetune.test_prepare import write_bitext

    asks = [
        "how can I talk to a person about my last order",
        "I want to speak with customer service today please",
        "what are your opening hours for the support team",
        "where do I find the website to check my invoice",
        "I need help with a payment that failed yesterday",
        "can somebody call me back about a damaged parcel",
    ]
    return write_bitext(path, [
        {"instruction": ask, "intent": "contact_customer_service", "category": "CONTACT",
         "response": f"Thanks for contacting {{{{Company Name}}}}. Call {{{{Customer Support Phone Number}}}} "
                     f"during {{{{Customer Support Hours}}}} or visit {{{{Website URL}}}} (case {n})."}
        for n, ask in enumerate(asks)
    ])  # fmt: skip


def test_company_names_every_system_turn_and_fills_the_store_slots(tmp_path: Path, small_kb: tuple[Path, Path]) -> None:
    """`data prepare --company` prepares another company's data: its name in every system turn (chat and RAFT) and
    Bitext's company slot, the given store facts in the other slots, phrases true of any company where a fact is
    not given, and never the demo store's phone, address or name; training reads the company back from the
    manifest and keeps those system turns."""
    from finetune.chat_format import data_company, load_split
    from finetune.prompts import system_prompt

    source = _bitext_with_store_slots(tmp_path / "bitext.csv")
    spanish = _write_jsonl(tmp_path / "es.jsonl", [
        _chat(f"es-{n}", "es", [q, "Claro, te lo explico ahora mismo con todo detalle."])
        for n, q in enumerate(["¿Cómo cancelo el pedido que hice ayer por la tarde?",
                               "¿Cuánto tarda en llegar un reembolso a la tarjeta?",
                               "No encuentro la factura de mi última compra en la web"])
    ])  # fmt: skip
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"phone": "+1 555 0100"}), encoding="utf-8")
    articles, index = small_kb
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), str(spanish), "--out", str(out), "--index",
                                 str(index), "--kb", str(articles), "--company", "Acme Outdoor", "--store-facts",
                                 str(facts), "--train", "0.6", "--val", "0.2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [r for s in ("train", "val", "test") for r in read_jsonl(out / f"{s}.jsonl")]
    raft = [r for s in ("train", "val", "test") for r in read_jsonl(out / f"raft_{s}.jsonl")]
    assert {r["lang"] for r in records} == {"en", "es"} and raft
    for record in records:
        assert record["messages"][0] == {"role": "system", "content": system_prompt(record["lang"], "Acme Outdoor")}
    for example in raft:
        assert example["messages"][0]["content"].startswith(system_prompt(example["lang"], "Acme Outdoor") + "\n\n")
    answers = " ".join(m["content"] for r in records for m in r["messages"] if m["role"] == "assistant")
    assert "contacting Acme Outdoor" in answers and "+1 555 0100" in answers
    assert "our website" in answers and "our opening hours" in answers  # facts not given: no invented ones
    text = "".join((out / f"{s}.jsonl").read_text(encoding="utf-8") for s in ("train", "val", "test"))
    assert "Nimbus" not in text and "+34 910 555 010" not in text and "nimbus.example" not in text
    assert data_company(out) == "Acme Outdoor"
    for lang, messages in load_split(out, "train", use_raft=True, company=data_company(out)):
        assert messages[0]["content"].startswith(system_prompt(lang, "Acme Outdoor"))


@pytest.mark.parametrize(
    ("args", "facts", "code", "message"),
    [
        (["--company", ""], None, 2, "company must be a name of 1-80 printable characters"),
        (["--company", "Acme\nOutdoor"], None, 2, "company must be a name of 1-80 printable characters"),
        ([], "{oops", 1, "invalid JSON"),
        ([], '["+1 555 0100"]', 1, "expected an object of non-empty strings"),
        ([], '{"fax": "+1 555 0199"}', 2, "unknown: fax"),
    ],
)
def test_cli_rejects_a_bad_company_or_store_facts(
    tmp_path: Path, args: list[str], facts: str | None, code: int, message: str
) -> None:
    source = _write_jsonl(tmp_path / "c.jsonl", [_chat("a", "en", ["Where is my parcel?", "It ships soon, really."])])
    if facts is not None:
        (tmp_path / "facts.json").write_text(facts, encoding="utf-8")
        args = [*args, "--store-facts", str(tmp_path / "facts.json")]
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(tmp_path / "o"), "--no-raft", *args])
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output and not (tmp_path / "o").exists()


# --- an operator's own knowledge base (a QA pass as a phone-repair shop's operator) ------------------------------

REPAIR_SHOP = [
    {"id": "screen-repair-en", "lang": "en", "title": "Screen repair",
     "text": "We replace cracked screens for iPhone, Samsung Galaxy and Xiaomi phones. Most screen repairs take 45 "
             "minutes in store. Every screen repair carries a 6-month warranty."},
    {"id": "screen-repair-es", "lang": "es", "title": "Reparación de pantalla", "translation_of": "screen-repair-en",
     "text": "Cambiamos pantallas rotas de iPhone, Samsung Galaxy y Xiaomi. La mayoría de reparaciones de pantalla "
             "tardan 45 minutos en tienda. Toda reparación de pantalla tiene 6 meses de garantía."},
    {"id": "battery-en", "lang": "en", "title": "Battery replacement",
     "text": "If your phone shuts down at 20 percent, the battery is worn. We replace batteries in 30 minutes for 65 "
             "EUR on most models, and recycle the old battery for free."},
    {"id": "battery-es", "lang": "es", "title": "Cambio de batería", "translation_of": "battery-en",
     "text": "Si tu móvil se apaga al 20 por ciento, la batería está gastada. Cambiamos la batería en 30 minutos por "
             "65 EUR en la mayoría de modelos y reciclamos la vieja gratis."},
    {"id": "water-damage-en", "lang": "en", "title": "Water damage",
     "text": "If your phone fell into water, switch it off and do not charge it. Bring it to a shop within 48 hours: "
             "the diagnosis is free and takes 24 hours."},
    {"id": "water-damage-es", "lang": "es", "title": "Daños por agua", "translation_of": "water-damage-en",
     "text": "Si tu móvil se ha mojado, apágalo y no lo cargues. Tráelo a una tienda en menos de 48 horas: el "
             "diagnóstico es gratuito y tarda 24 horas."},
]  # fmt: skip
REPAIR_CHATS = [
    _chat("r1", "en", ["How much is a new battery for my phone?", "A new battery costs 65 EUR on most models."]),
    _chat("r2", "es", ["¿Cuánto tarda cambiar la pantalla?", "La mayoría de cambios de pantalla tardan 45 minutos."]),
    _chat("r3", "en", ["My phone fell in the sink, what now?", "Switch it off, do not charge it and bring it to us."]),
    _chat("r4", "es", ["¿La pantalla tiene garantía?", "Sí, toda reparación de pantalla tiene 6 meses de garantía."]),
]  # fmt: skip


@pytest.fixture(scope="module")
def repair_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A phone-repair shop's own six articles (en/es) and an index of them, as `kb ingest` builds it."""
    from retrieval.ingest import ingest

    folder = tmp_path_factory.mktemp("repair-shop")
    articles = _write_jsonl(folder / "articles.jsonl", REPAIR_SHOP)
    ingest([articles], folder / "index")
    return articles, folder / "index"


def _raft_examples(out: Path) -> list[dict[str, Any]]:
    return [e for s in ("train", "val", "test") for e in read_jsonl(out / f"raft_{s}.jsonl")]


def test_an_own_index_without_kb_makes_questions_about_its_own_articles(
    tmp_path: Path, repair_shop: tuple[Path, Path]
) -> None:
    """`--index` of an operator's own knowledge base and no `--kb`: the RAFT questions and held-out articles are
    that index's articles. Until 2026-12-07 they were the demo store's (./data/kb): 261 of 265 questions dropped as
    `oracle_not_in_index`, the other 4 (ids both stores use) a demo title asked over the shop's own answer, and
    `--holdout-articles` of the shop's own ids refused as 'not in the knowledge base'."""
    source = _write_jsonl(tmp_path / "chats.jsonl", REPAIR_CHATS)
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(repair_shop[1]),
                                 "--raft-k", "2", "--holdout-articles", "water-damage-en", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    raft = json.loads(result.stdout)["raft_details"]
    assert raft["holdout_articles"] == ["water-damage-en", "water-damage-es"]
    assert raft["oracle_not_in_index"] == 0 and raft["questions"]["kb"] + raft["eval_leaks_dropped"] == 8
    examples = _raft_examples(out)
    kept = {"screen-repair-en", "screen-repair-es", "battery-en", "battery-es"}
    assert len(examples) == raft["questions"]["kb"] and {e["oracle_doc_id"] for e in examples} <= kept
    assert all(p["doc_id"] in kept for e in examples for p in e["passages"])


def test_the_default_index_follows_the_kb_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_kb: tuple[Path, Path], repair_shop: tuple[Path, Path]
) -> None:
    """No `--index`: `<home>/prepare-index` is built from `--kb`, and rebuilt when a later run names other articles.
    Until 2026-12-07 it was built once and kept: a run with the shop's `--kb` after one with the demo store's
    retrieved the demo store's passages and dropped the shop's questions as `oracle_not_in_index`."""
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        source = _write_jsonl(tmp_path / "chats.jsonl", REPAIR_CHATS)
        versions = []
        for n, articles in enumerate((small_kb[0], repair_shop[0], repair_shop[0])):
            out = tmp_path / f"out-{n}"
            result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--kb", str(articles),
                                         "--raft-k", "2", "--json"])  # fmt: skip
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["raft_details"]["oracle_not_in_index"] == 0
            ids = {r["id"] for r in read_jsonl(articles)}
            examples = _raft_examples(out)
            assert examples and all(p["doc_id"] in ids for e in examples for p in e["passages"])
            versions.append((tmp_path / "home" / "prepare-index" / "CURRENT").read_text(encoding="utf-8"))
        assert versions[0] != versions[1] == versions[2]  # the same articles again: the index is not rebuilt
    finally:
        get_settings.cache_clear()


def test_kb_questions_from_articles_without_a_title_or_a_language(tmp_path: Path) -> None:
    """Title and lang are optional in an article (JSONL, an HTML page with no <h1> or <title>). Until 2026-12-07 an
    untitled article with a lang stopped `data prepare` with a traceback (IndexError in `kb_questions`), and an
    article with no lang made no question at all (it was left out, where `kb ingest` detects its language)."""
    articles = _write_jsonl(tmp_path / "articles.jsonl", [
        {"id": "cases-es", "title": "Fundas para el móvil",
         "text": "Vendemos fundas para todos los modelos de iPhone y Samsung desde 9,90 euros en todas las tiendas."},
        {"id": "cases-en", "lang": "en",
         "text": "We sell cases for every iPhone and Samsung model from 9.90 euros in all our shops."},
        {"id": "glass-en", "lang": "en", "title": "Screen protectors",
         "text": "We fit tempered-glass screen protectors for 15 euros while you wait, in about ten minutes."},
    ])  # fmt: skip
    source = _write_jsonl(tmp_path / "chats.jsonl", REPAIR_CHATS)
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(tmp_path / "idx"),
                                 "--kb", str(articles), "--raft-k", "2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    questions = {e["oracle_doc_id"]: e for e in _raft_examples(out)}
    assert sorted(questions) == ["cases-es", "glass-en"]
    assert questions["cases-es"]["lang"] == "es" and questions["cases-es"]["question"].startswith("¿")


def test_the_contacts_the_knowledge_base_publishes_are_not_redacted(tmp_path: Path) -> None:
    """A QA pass as a phone-repair chain's operator (2026-12-07): the chain's own phone, given in its articles, was
    redacted to "<PHONE_2>" in its agents' answers, so a model tuned on them would answer "call us on <PHONE_2>".
    The customer's own number and e-mail are still redacted."""
    articles = _write_jsonl(tmp_path / "articles.jsonl", [
        {"id": "contact-en", "lang": "en", "title": "Contact us",
         "text": "Call us on 910 555 123 from 9:00 to 20:00, or write to hola@reparaya.example: we reply in a day."},
        *REPAIR_SHOP,
    ])  # fmt: skip
    chats = [_chat("c1", "en", ["Can I call you? My number is 612 345 678, or mail me at ana.ruiz@gmail.com",
                                "Of course: call us on 910 555 123 or write to hola@reparaya.example."]),
             *REPAIR_CHATS]  # fmt: skip
    source = _write_jsonl(tmp_path / "chats.jsonl", chats)
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "prepare", str(source), "--out", str(out), "--index", str(tmp_path / "idx"),
                                 "--kb", str(articles), "--no-raft", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [r for s in ("train", "val", "test") for r in read_jsonl(out / f"{s}.jsonl")]
    joined = "\n".join(m["content"] for r in records for m in r["messages"])
    assert "910 555 123" in joined and "hola@reparaya.example" in joined, joined
    assert "612 345 678" not in joined and "ana.ruiz@gmail.com" not in joined, joined
