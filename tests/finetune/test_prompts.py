"""Passage focusing in the generator prompt (finetune.prompts.focus), shared by RAFT training and serving."""

from __future__ import annotations

from finetune.prompts import FOCUSED_PASSAGE_CHARS, focus, rag_messages

LONG = (
    "Nimbus Market sells electronics, fashion and home goods across Spain. "
    "Our warehouses are in Madrid and Valencia, and most parcels leave the same day. "
    "Gift wrapping is available for most items at checkout for 3 EUR. "
    "Returns are free within 30 days of delivery through any pickup point. "
    "Refunds reach the original payment method within 5 business days of the return being scanned. "
    "Marketplace sellers have their own return policies, shown on the product page. "
    "Large items such as furniture are collected at home on a day you choose."
)


def test_focus_keeps_the_sentences_about_the_question_in_passage_order() -> None:
    text = focus(LONG, "How long does a refund take after I return something?", "en")
    assert len(text) <= FOCUSED_PASSAGE_CHARS + 2
    assert "Refunds reach the original payment method within 5 business days" in text
    assert "Returns are free within 30 days" in text
    assert text.index("Returns are free") < text.index("Refunds reach")  # passage order, not score order
    assert "…" in text  # skipped sentences are marked


def test_focus_leaves_short_passages_alone_and_opens_long_ones_without_overlap() -> None:
    assert focus("Returns are free.", "refund?", "en") == "Returns are free."
    opening = focus(LONG, "zzz qqq", "en")  # nothing in common: the passage's opening sentences
    assert opening.startswith("Nimbus Market sells electronics")


def test_training_and_serving_prompts_show_the_same_focused_passages() -> None:
    passages = [{"title": "Returns", "text": LONG, "lang": "en"}]
    system = rag_messages("When do I get my refund?", passages, "en")[0]["content"]
    assert focus(LONG, "When do I get my refund?", "en") in system
    assert "Large items such as furniture" not in system


def test_passage_block_is_what_the_prompt_shows_and_empty_without_passages() -> None:
    from finetune.prompts import passage_block, plain_messages, rag_messages

    passages = [{"title": "Returns", "text": "You can return items within 30 days."}]
    for lang in ("en", "es"):
        block = passage_block(rag_messages("Can I return it?", passages, lang))
        assert block.startswith("[1] Returns") and block.endswith("within 30 days.")
        assert passage_block(plain_messages("Can I return it?", lang)) == ""
        assert passage_block(rag_messages("Can I return it?", [], lang)) == ""


def test_a_draft_follows_the_passages_and_is_not_one_of_them() -> None:
    """The extractive draft (``data prepare --raft-draft``) comes after the passages under its own header, in the
    prompt's language; :func:`passage_block` (what the copy bias counts as passage text) stays the passages."""
    from finetune.prompts import DRAFT_HEADER, passage_block

    passages = [{"title": "Returns", "text": "You can return items within 30 days."}]
    for lang in ("en", "es"):
        messages = rag_messages("Can I return it?", passages, lang, draft="You can return items within 30 days. [1]")
        system = messages[0]["content"]
        assert system.endswith(DRAFT_HEADER[lang] + "\nYou can return items within 30 days. [1]")
        assert system.index("[1] Returns") < system.index(DRAFT_HEADER[lang])
        assert passage_block(messages).endswith("within 30 days.")
        assert rag_messages("Can I return it?", passages, lang, draft="") == rag_messages("Can I return it?", passages,
                                                                                          lang)  # fmt: skip
