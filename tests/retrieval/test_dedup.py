"""Exact, near and semantic duplicates; translations are linked, never dropped; the representative rule."""

from __future__ import annotations

import numpy as np

from retrieval.dedup import DedupItem, find_duplicates, jaccard, normalized_hash, shingles

BASE = (
    "You have 30 days from delivery to return most items. Items must be unused and come back with their original "
    "tags and packaging. Returning at a pickup point in mainland Spain is free; home collection costs 4.95 EUR."
)


def test_normalized_hash_ignores_case_accents_punctuation_and_whitespace() -> None:
    assert normalized_hash("Envío  GRATIS!\n") == normalized_hash("envio gratis")
    assert normalized_hash("envio gratis") != normalized_hash("envio de pago")


def test_jaccard_of_shingles() -> None:
    assert jaccard(shingles("a b c d"), shingles("a b c d")) == 1.0
    assert jaccard(shingles("a b c d"), shingles("w x y z")) == 0.0


def test_exact_and_near_duplicates_keep_the_newest() -> None:
    items = [
        DedupItem("new", BASE, "en", "2025-03-01"),
        DedupItem("copy", BASE.upper(), "en", "2024-01-01"),
        DedupItem("old", BASE.replace("30 days", "14 days"), "en", "2023-01-10"),
        DedupItem("other", "Bank transfer is accepted for orders over 100 EUR only.", "en", "2025-01-01"),
    ]
    report = find_duplicates(items)
    kinds = {(p.a, p.b): p.kind for p in report.pairs}
    assert kinds[("copy", "new")] == "exact"
    assert "near" in {kinds.get(("new", "old")), kinds.get(("copy", "old"))}
    assert report.dropped == {"copy": "new", "old": "new"}
    assert all(p.cosine is None for p in report.pairs)  # no vectors given


def test_tie_on_date_keeps_the_most_complete() -> None:
    items = [
        DedupItem("short", BASE, "en", "2025-01-01"),
        DedupItem("long", BASE + " Extra detail.", "en", "2025-01-01"),
    ]
    assert find_duplicates(items, jaccard_threshold=0.5).dropped == {"short": "long"}


def test_the_newest_is_the_latest_moment_whatever_the_form_of_its_date() -> None:
    # As text, "2025-03-01T09:00:00+02:00" (07:00 UTC) sorted after "2025-03-01T08:00:00Z"
    items = [
        DedupItem("madrid", BASE, "en", "2025-03-01T09:00:00+02:00"),
        DedupItem("utc", BASE.upper(), "en", "2025-03-01T08:00:00Z"),
        DedupItem("day", BASE.lower(), "en", "2025-03-01"),
    ]
    assert find_duplicates(items).dropped == {"madrid": "utc", "day": "utc"}


def test_semantic_duplicates_need_vectors_and_report_both_scores() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 8)).astype(np.float32)
    v[1] = v[0] + 0.01 * rng.normal(size=8)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    items = [
        DedupItem("a", "cards paypal bizum accepted", "en", "2025-01-01"),
        DedupItem("b", "you may pay with visa or transfer", "en", "2024-01-01"),
        DedupItem("c", "something else entirely", "en", "2024-01-01"),
    ]
    report = find_duplicates(items, v, cosine_threshold=0.95)
    [pair] = report.pairs
    assert (pair.a, pair.b, pair.kind) == ("a", "b", "semantic")
    assert pair.cosine is not None and pair.cosine > 0.95 and pair.jaccard < 0.2
    assert report.dropped == {"b": "a"}


def test_translations_are_linked_never_dropped_and_languages_never_mix() -> None:
    v = np.ones((3, 4), dtype=np.float32) / 2.0
    items = [
        DedupItem("ret-en", BASE, "en", "2025-01-01", translation_of="ret-es"),
        DedupItem("ret-es", BASE, "es", "2025-01-01", translation_of="ret-en"),
        DedupItem("ret-es-copy", BASE, "en", "2025-01-01"),
    ]
    report = find_duplicates(items, v)
    assert [(p.a, p.b, p.kind) for p in report.pairs] == [("ret-en", "ret-es-copy", "exact")]
    assert report.translations == [{"a": "ret-en", "b": "ret-es", "cosine": 1.0}]
    # equal dates and lengths: the smallest id is kept; the Spanish twin is untouched
    assert report.dropped == {"ret-es-copy": "ret-en"}


def test_a_translation_linked_from_the_later_article_is_reported() -> None:
    """Only one side links (``cancel-en`` -> ``bajas-es``), and the linking article comes after its twin: the pair
    was left out of ``translations`` (only a link to a later article was reported), so a help centre whose English
    ids sort after the Spanish ones saw most of its translations missing from the ingest report."""
    items = [
        DedupItem("bajas-es", "Puedes darte de baja antes del día 20.", "es"),
        DedupItem("cancel-en", "You can cancel before the 20th.", "en", translation_of="bajas-es"),
        DedupItem("enrolment-en", "Enrol in the student portal.", "en", translation_of="matricula-es"),
        DedupItem("matricula-es", "Matricúlate en el portal del alumno.", "es"),
    ]
    report = find_duplicates(items)
    pairs = [(t["a"], t["b"]) for t in report.translations]
    assert pairs == [("bajas-es", "cancel-en"), ("enrolment-en", "matricula-es")]
    assert report.dropped == {}


def test_a_translation_link_to_no_article_or_to_one_of_the_same_language_is_reported() -> None:
    """A Spanish article linked to a misspelt id ("fines-en", no such article) or to another Spanish article (a
    summer-hours page linked to the opening-hours one) was taken silently: the first link did nothing, and the
    second hid the summer page behind its "twin" for English questions and kept the pair from deduplication.
    Both are reported (``broken_links``; the CLI warns), even in an index of one article."""
    items = [
        DedupItem("horario-verano-es", "En verano abrimos de 9 a 14.", "es", translation_of="horarios-es"),
        DedupItem("horarios-es", "Abrimos de lunes a viernes de 8:30 a 21:00.", "es"),
        DedupItem("hours-en", "We open Monday to Friday, 8:30 to 21:00.", "en", translation_of="horarios-es"),
        DedupItem("multas-es", "Las multas se pagan en el mostrador.", "es", translation_of="fines-en"),
    ]
    report = find_duplicates(items)
    assert report.to_dict()["broken_links"] == [
        {"id": "horario-verano-es", "translation_of": "horarios-es", "problem": "is in the same language (es)"},
        {"id": "multas-es", "translation_of": "fines-en", "problem": "names no article"},
    ]
    assert find_duplicates(items[-1:]).broken_links == report.broken_links[-1:]


def test_of_two_equal_duplicates_the_one_a_translation_links_is_kept() -> None:
    """A library's author copied loans.md to a new file by mistake ('loans-copy-en', the same text, no dates): the
    copy was kept, its id sorting first, and 'loans-en', which the Spanish 'prestamo-es' names as its original, was
    dropped, so the pair was no longer folded in search. Among otherwise equal duplicates, one in a translation
    link is kept; newest and longest still come first."""
    text = "Books can be borrowed for 21 days, DVDs for 7 days."
    items = [
        DedupItem("loans-copy-en", text, "en"),
        DedupItem("loans-en", text, "en"),
        DedupItem("prestamo-es", "Los libros se prestan 21 días y los DVD 7 días.", "es", translation_of="loans-en"),
    ]
    assert find_duplicates(items).dropped == {"loans-copy-en": "loans-en"}
    newer = [DedupItem("loans-copy-en", text, "en", "2026-01-01"), *items[1:]]
    assert find_duplicates(newer).dropped == {"loans-en": "loans-copy-en"}
