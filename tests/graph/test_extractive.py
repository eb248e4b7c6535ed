"""The extractive generator: which sentences answer, and what a picked sentence brings so that it stands alone."""

from __future__ import annotations

from graph.generators.base import GenerationRequest
from graph.generators.extractive import ExtractiveGenerator, select
from retrieval.text import sentence_items

DELIVERY = {
    "lang": "en",
    "title": "Delivery times by destination",
    "text": "How long your order takes depends on where it's going. These are the times for standard shipping:\n"
    "- Mainland Spain: 3-5 business days\n- Canary Islands: 7-10 business days\n- Portugal: 4-6 business days\n\n"
    "When does the clock start? Orders placed before 14:00 leave our warehouse the same day. For fees abroad, "
    "see International shipping and customs fees.",
}


def test_list_items_are_told_from_sentences() -> None:
    pieces = sentence_items(DELIVERY["text"])
    assert ("These are the times for standard shipping:", False) in pieces
    assert ("Canary Islands: 7-10 business days", True) in pieces
    # A list that chunking flattened into one line stays one piece, with every item's facts: split into its items,
    # the selector picked single items (benchmarks/conversations.py dev, fact recall 0.374 -> 0.353).
    flat = "Times: - Spain: 3-5 days - Portugal: 4-6 days"
    assert sentence_items(flat) == [(flat, False)]


def test_a_lead_in_brings_its_list_and_an_item_its_lead_in() -> None:
    picked = [s for _, _, s in select("what are the standard shipping times?", [DELIVERY], "en")]
    assert "These are the times for standard shipping:" in picked
    assert {"Mainland Spain: 3-5 business days", "Portugal: 4-6 business days"} <= set(picked)
    item = [s for _, _, s in select("canary islands business days", [DELIVERY], "en")]
    assert item[:2] == ["These are the times for standard shipping:", "Canary Islands: 7-10 business days"]


def test_a_question_brings_its_answer() -> None:
    picked = [s for _, _, s in select("when does the clock start?", [DELIVERY], "en")]
    assert picked == ["When does the clock start?", "Orders placed before 14:00 leave our warehouse the same day."]


def test_a_pointer_to_another_article_is_not_an_answer() -> None:
    """The words of a referenced title ("International shipping and customs fees") do not make its sentence one."""
    picked = [s for _, _, s in select("customs for international shipping?", [DELIVERY], "en")]
    assert not any(s.startswith("For fees abroad") for s in picked)


def test_items_are_joined_as_sentences() -> None:
    text = "Include in your message:\n- what is wrong on the invoice;\n- the correct details."
    request = GenerationRequest(
        question="what is wrong on my invoice", passages=[{"lang": "en", "text": text}], lang="en"
    )
    answer = ExtractiveGenerator().generate(request).answer
    assert ";." not in answer and answer.startswith("Include in your message: what is wrong on the invoice.")
