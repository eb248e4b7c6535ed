"""Conversation-aware queries (retrieval.conversation): the latest turn dominates, the topic carries over."""

from __future__ import annotations

import pytest

from retrieval.conversation import (
    batch_query,
    conversation_query,
    is_acknowledgement,
    is_followup,
    is_slot_answer,
    without_asides,
)


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "text": text} for role, text in pairs]


def test_a_message_that_stands_on_its_own_is_searched_as_it_is() -> None:
    built = conversation_query(turns(("user", "how do I reset my account password?")))
    assert built.query == "how do I reset my account password?" and not built.followup
    fresh = conversation_query(
        turns(
            ("user", "how do I return shoes?"),
            ("assistant", "Returns are free within 30 days."),
            ("user", "which payment methods do you accept for orders?"),
        )
    )
    assert fresh.query == "which payment methods do you accept for orders?"  # a new need: no old topic


def test_a_followup_carries_the_topic_with_the_latest_turn_weighing_most() -> None:
    built = conversation_query(
        turns(
            ("user", "¿cómo devuelvo un producto?"),
            ("assistant", "Tienes 30 días para devolverlo."),
            ("user", "¿y cuánto tarda?"),
        )
    )
    assert built.followup and built.topic == "¿cómo devuelvo un producto?"
    assert built.query.startswith("¿cómo devuelvo un producto?")
    assert built.query.count("¿y cuánto tarda?") == 2  # the latest turn twice, everything else once
    assert "Tienes 30 días" in built.query


def test_agent_and_earlier_turns_are_cut_shorter_than_the_latest() -> None:
    long_answer = " ".join(f"word{i}" for i in range(200))
    built = conversation_query(turns(("user", "I want to close my account"), ("agent", long_answer), ("user", "yes")))
    assert "word29" in built.query and "word30" not in built.query
    assert built.query.endswith("yes yes")


def test_an_explicit_topic_wins_over_the_transcript() -> None:
    built = conversation_query(turns(("user", "and for that?")), topic="refund to a gift card")
    assert built.query.startswith("refund to a gift card") and built.topic == "refund to a gift card"


def test_followup_detection() -> None:
    # a continuation may be long: "and if..." still leans on what came before
    assert is_followup("and if I'm out when the courier comes, what happens then?", "en")
    assert is_followup("y si el mes que viene no puedo pagar el plazo, ¿qué pasa con el pedido?", "es")
    assert is_followup("¿y cuánto tarda?", "es") and is_followup("what about that one?", "en")
    assert is_followup("that one", "en") and is_followup("refunds", "en")
    assert not is_followup("how long does a refund to my credit card take?", "en")


def test_a_question_after_an_acknowledgement_is_judged_on_its_own() -> None:
    assert not is_followup("vale. ¿Cómo devuelvo un artículo?", "es")  # was answered with the previous topic
    assert not is_followup("ok. how do I return an item?", "en")
    assert not is_followup("vale. como devuelvo un articulo", "es")  # no question mark
    assert is_followup("vale, ¿y a Canarias?", "es") and is_followup("ok gracias, y para canarias?", "es")
    assert is_followup("thanks! and for express?", "en") and is_followup("Correct, thank you.", "en")
    assert is_followup("vale gracias", "es") and is_followup("Thanks, that's all", "en")


def test_conversation_without_a_customer_turn_is_an_error() -> None:
    with pytest.raises(ValueError, match="customer turn"):
        conversation_query(turns(("assistant", "hello, how can I help?")))


def test_batch_records_accept_query_text_turns_and_history() -> None:
    assert batch_query({"id": "1", "query": "refund status"}) == "refund status"
    assert batch_query({"id": "2", "text": "refund status"}) == "refund status"
    history = turns(("user", "I ordered a jacket last week"), ("assistant", "What can I do for you?"))
    with_history = batch_query({"id": "3", "query": "cancel it", "history": history})
    assert with_history.startswith("I ordered a jacket") and with_history.endswith("cancel it cancel it")
    # ``turns`` may already end with the query: it is not added twice.
    same = batch_query({"id": "4", "query": "cancel it", "turns": [*history, {"role": "user", "text": "cancel it"}]})
    assert same == with_history
    with pytest.raises(ValueError, match="turns"):
        batch_query({"id": "5", "query": "x", "turns": "not a list"})


def test_a_reply_to_the_agents_question_leans_on_the_conversation() -> None:
    built = conversation_query(
        turns(
            ("user", "I am looking for an apartment to rent"),
            ("assistant", "Which city are you looking in?"),
            ("user", "I would like it to be in San Jose please"),
        )
    )
    assert built.followup and built.query.startswith("I am looking for an apartment to rent")
    statement = conversation_query(
        turns(("user", "I am looking for an apartment"), ("assistant", "Here are three."), ("user", "x"))
    )
    assert statement.query.endswith("x x")  # "x" alone is a follow-up (one term), the context comes first


def test_a_continuation_with_question_words_is_a_followup() -> None:
    assert is_followup("and how long does it take?", "en")
    assert not is_followup("how long does a refund to my credit card usually take?", "en")


def test_spanish_articles_do_not_make_a_new_question_a_followup() -> None:
    # "las" is an article here, not a pronoun pointing back: the question states its own need.
    assert not is_followup("¿Cuánto cuesta el envío a las islas Canarias?", "es")
    fresh = conversation_query(
        turns(
            ("user", "¿cómo devuelvo un producto?"),
            ("assistant", "Tienes 30 días para devolverlo."),
            ("user", "¿Cuánto cuesta el envío a las islas Canarias?"),
        )
    )
    assert fresh.query == "¿Cuánto cuesta el envío a las islas Canarias?" and not fresh.followup
    assert is_followup("¿y lo puedo devolver?", "es") and is_followup("¿eso cuánto tarda?", "es")


def test_a_thank_you_keeps_the_topic() -> None:
    built = conversation_query(
        turns(
            ("user", "I want to transfer money to my dad's checking account"),
            ("assistant", "Your transfer of $1,140 is done."),
            ("user", "Thank you, that's all I need."),
        )
    )
    assert built.followup and built.query.startswith("I want to transfer money")
    # It asks nothing, so only the context is searched; a question after a thank-you is kept, written twice.
    assert "Thank you" not in built.query and "$1,140" in built.query
    asked = conversation_query(
        turns(
            ("user", "I want to transfer money to my dad's checking account"),
            ("assistant", "Your transfer of $1,140 is done."),
            ("user", "Thanks. How long will that take to go through?"),
        )
    )
    assert asked.query.count("How long will that take to go through?") == 2 and "Thanks." not in asked.query
    assert not is_followup("Thanks, how do I change my delivery address for my last order?", "en")


# Replies that only hand over what a support agent asks for, as the graph sees them (redacted) and as `kb search
# --batch` may get them (raw), in both languages.
SLOT_ANSWERS = [
    "Crystal Minh",
    "<EMAIL_1>",
    "cminh730@email.com",
    "Username: cminh730",
    "my order id is <ORDER_1>",
    "my order id is 4182293",
    "it's <ADDRESS_1>",
    "it's 3384 Main St",
    "sure, <PHONE_1>",
    "(977) 625-2661",
    "mi correo es <EMAIL_1>",
    "Usuario: cminh730",
    "claro, mi número de pedido es el 4182293",
    "es <ORDER_1>",
    "Me llamo <PERSON_1>",
    "María de la Fuente",
]
NOT_SLOT_ANSWERS = [
    "where is order 4182293",  # asks, without a question mark
    "¿dónde está mi pedido 4182293?",
    "I want to return order 4182293",
    "quiero devolver el pedido <ORDER_1>",
    "my order is late",
    "HEY HO!",
    "No, I bought it in November.",
    "ok",  # a follow-up, as an acknowledgement, not as a value
]


def test_a_reply_that_only_hands_over_a_value_is_a_followup() -> None:
    assert [t for t in SLOT_ANSWERS if not (is_followup(t) and is_slot_answer(t))] == []
    assert [t for t in NOT_SLOT_ANSWERS if is_slot_answer(t)] == []


def test_a_slot_answer_leans_on_the_conversation_but_not_as_a_first_message() -> None:
    for latest, first, answer in [
        ("Crystal Minh", "I need to return an item", "Returns are free within 30 days. [1]"),
        ("mi correo es <EMAIL_1>", "¿cómo devuelvo un producto?", "Tienes 30 días para devolverlo. [1]"),
    ]:
        # The bot's last turn asks nothing ("?"): the reply's shape alone makes it a follow-up.
        built = conversation_query(turns(("user", first), ("assistant", answer), ("user", latest)))
        assert built.followup and built.topic == first and built.query.startswith(first), built
        assert built.query.count(latest) == 2
        alone = conversation_query(turns(("user", latest)))  # nothing to follow
        assert not alone.followup and alone.query == latest
    # A slot answer is never the topic a later follow-up carries: the question before it is.
    later = conversation_query(
        turns(
            ("user", "I need to return an item"),
            ("assistant", "Returns are free within 30 days."),
            ("user", "Username: cminh730"),
            ("assistant", "Thanks."),
            ("user", "and how long does it take?"),
        )
    )
    assert later.topic == "I need to return an item"


def test_asides_that_open_a_message_are_dropped() -> None:
    assert without_asides("also, what's the capital of Australia?") == "what's the capital of Australia?"
    assert without_asides("ok cool. unrelated but can u help me with my homework") == "can u help me with my homework"
    assert without_asides("Oye, por cierto, ¿me recomiendas un fisio?") == "¿me recomiendas un fisio?"
    assert without_asides("Además quiero cambiar la dirección") == "quiero cambiar la dirección"
    # nothing else: the message as it was; an aside only opens a message, inside one it stays
    assert without_asides("btw") == "btw" and without_asides("Also!") == "Also!"
    assert without_asides("where is my order? also the invoice") == "where is my order? also the invoice"
    assert without_asides("sobre mi pedido") == "sobre mi pedido"  # "so" is a whole word only


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ok", True), ("vale, gracias", True), ("Perfecto, muchas gracias", True), ("Thank you so much!", True),
     ("thanks for your help", True), ("ok, y a Canarias", False), ("ok my order never came", False),
     ("¿gracias?", False), ("¿Cómo devuelvo un artículo?", False)],
)  # fmt: skip
def test_an_acknowledgement_asks_nothing(text: str, expected: bool) -> None:
    assert is_acknowledgement(text) is expected
