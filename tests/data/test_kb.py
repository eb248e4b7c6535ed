"""The bundled bilingual knowledge base: schema, translation links, language parity and fact parity."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

import pytest

from tests.conftest import DATA, read_jsonl

KB = DATA / "kb"
LANGS = ("en", "es")
TAGS = {
    "orders", "cancellation", "shipping", "delivery", "returns", "refunds", "warranty", "payments", "promotions",
    "invoices", "account", "security", "newsletter", "privacy", "contact", "complaints", "products", "business",
    "app", "loyalty", "gift",
}  # fmt: skip
VARIANT_KINDS = {"exact_duplicate", "near_duplicate", "semantic_duplicate", "outdated"}


def articles(lang: str) -> list[dict[str, Any]]:
    return read_jsonl(KB / f"articles.{lang}.jsonl")


@pytest.fixture(scope="module")
def canonical() -> dict[str, dict[str, Any]]:
    return {a["id"]: a for lang in LANGS for a in articles(lang)}


@pytest.fixture(scope="module")
def variants() -> list[dict[str, Any]]:
    return read_jsonl(KB / "variants.jsonl")


def test_at_least_60_articles_per_language_and_counts_match() -> None:
    en, es = articles("en"), articles("es")
    assert len(en) >= 60
    assert len(en) == len(es)


@pytest.mark.parametrize("lang", LANGS)
def test_article_schema(lang: str) -> None:
    for article in articles(lang):
        where = article.get("id", article)
        assert set(article) >= {"id", "lang", "title", "text", "tags", "translation_of", "url", "updated"}, where
        assert article["lang"] == lang, where
        assert article["id"].endswith(f"-{lang}"), where
        assert article["title"].strip() and len(article["text"].split()) >= 80, where
        assert article["tags"] and set(article["tags"]) <= TAGS, where
        date.fromisoformat(article["updated"])
        assert article["url"].startswith("https://nimbus.example/"), where


def test_ids_are_unique_across_the_whole_knowledge_base(variants: list[dict[str, Any]]) -> None:
    ids = [a["id"] for lang in LANGS for a in articles(lang)] + [v["id"] for v in variants]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_every_translation_link_resolves_both_ways(canonical: dict[str, dict[str, Any]]) -> None:
    for article in canonical.values():
        twin = canonical.get(article["translation_of"])
        assert twin is not None, f"{article['id']}: translation_of {article['translation_of']} does not resolve"
        assert twin["lang"] != article["lang"], article["id"]
        assert twin["translation_of"] == article["id"], f"{article['id']} <-> {twin['id']} is not symmetric"
        assert twin["tags"] == article["tags"], article["id"]
        assert twin["updated"] == article["updated"], article["id"]


_DATES = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{1,2} de [a-z]+ de \d{4}|(January|February|March|April|May|June|July|August|September"
    r"|October|November|December) \d{1,2}, \d{4}|\d{1,2} (January|February|March|April|May|June|July|August"
    r"|September|October|November|December) \d{4}"
)


def numbers(text: str) -> set[str]:
    """Figures in a text, with Spanish and English separators made equal (4,95 == 4.95; 1.000 == 1,000)."""
    found = set()
    text = _DATES.sub(" ", text)
    for raw in re.findall(r"\d[\d.,]*\d|\d", text):
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", raw):
            found.add(re.sub(r"[.,]", "", raw))
        else:
            found.add(raw.replace(",", "."))
    return found


def test_twins_state_the_same_figures(canonical: dict[str, dict[str, Any]]) -> None:
    # Checkable facts (days, fees, hours) must not drift between the two languages of an article. The English
    # articles cross-reference neighbouring topics more, so the check is one-way: every figure the Spanish
    # article states is stated by its English twin as well.
    drift = {}
    for article in canonical.values():
        if article["lang"] == "es":
            only_es = numbers(article["text"]) - numbers(canonical[article["translation_of"]]["text"])
            if only_es:
                drift[article["id"]] = sorted(only_es)
    assert drift == {}


def test_variants_document_real_dedup_work(
    variants: list[dict[str, Any]], canonical: dict[str, dict[str, Any]]
) -> None:
    kinds = Counter(v["variant_kind"] for v in variants)
    assert set(kinds) == VARIANT_KINDS
    for variant in variants:
        original = canonical.get(variant["variant_of"])
        assert original is not None, f"{variant['id']}: variant_of {variant['variant_of']} does not resolve"
        assert variant["lang"] == original["lang"], variant["id"]
        if variant["variant_kind"] == "outdated":
            assert date.fromisoformat(variant["updated"]) < date.fromisoformat(original["updated"]), variant["id"]
    assert {v["lang"] for v in variants} == set(LANGS)
