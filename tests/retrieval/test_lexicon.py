"""The es<->en term lexicon: learning from parallel text, the file format, and cross-language search."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from retrieval.config import RetrievalConfig
from retrieval.ingest import ingest
from retrieval.lexicon import BUNDLED_LEXICON, Lexicon, LexiconError, build_lexicon, content_terms
from retrieval.search import KnowledgeBase

PAIRS = [
    ("The card was declined.", "La tarjeta fue rechazada."),
    ("Pay with a card.", "Paga con tarjeta."),
    ("My card expired.", "Mi tarjeta caducó."),
    ("Where is my refund?", "¿Dónde está mi reembolso?"),
    ("The refund was sent.", "El reembolso fue enviado."),
    ("A refund for the card.", "Un reembolso para la tarjeta."),
]


def test_ibm1_learns_word_translations_in_both_directions() -> None:
    lexicon = build_lexicon(PAIRS, iterations=8)
    [tarjeta] = content_terms("tarjeta", "es")
    [refund] = content_terms("refund", "en")
    assert lexicon.translate([tarjeta], "es", top=1, min_prob=0.0) == content_terms("card", "en")
    assert lexicon.translate([refund], "en", top=1, min_prob=0.0) == content_terms("reembolso", "es")
    assert lexicon.translate([tarjeta], "es", top=1, min_prob=1.01) == []  # nothing is that probable


def test_save_and_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    lexicon = build_lexicon(PAIRS, iterations=3)
    path = tmp_path / "lex.tsv.gz"
    lexicon.save(path)
    assert Lexicon.load(path).table == lexicon.table
    bad = tmp_path / "bad.tsv.gz"
    with gzip.open(bad, "wt") as handle:
        handle.write("fr\tcarte\tcard\t0.9\n")
    with pytest.raises(LexiconError, match=r"bad.tsv.gz:1"):
        Lexicon.load(bad)
    with pytest.raises(LexiconError, match="cannot read"):
        Lexicon.load(tmp_path / "missing.tsv.gz")


def test_the_shipped_lexicon_knows_support_vocabulary() -> None:
    lexicon = Lexicon.load(BUNDLED_LEXICON)
    for es, en in [("factura", "invoice"), ("contraseña", "password"), ("tarjeta", "card")]:
        assert content_terms(en, "en")[0] in lexicon.translate(content_terms(es, "es"), "es", 3, 0.05), es


def test_a_spanish_question_finds_the_english_only_article(small_kb: Path, tmp_path: Path) -> None:
    english = tmp_path / "en.jsonl"
    english.write_text("".join(line + "\n" for line in small_kb.read_text().splitlines() if '"lang": "en"' in line))
    index = tmp_path / "en-idx"
    ingest([english], index)
    query = "¿Puedo descargar la factura de mi compra?"
    with_lexicon = KnowledgeBase.open(index)
    assert with_lexicon.translations(query, "es")  # English index, Spanish question: broad expansion
    assert with_lexicon.search(query, k=1)[0].doc_id == "get-invoice-en"
    without = KnowledgeBase.open(index, config=RetrievalConfig(lexicon=""))
    assert without.translations(query, "es") == []
