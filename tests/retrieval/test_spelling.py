"""Misspelt and accent-less query words matched to the index's words (retrieval.spelling)."""

from __future__ import annotations

from pathlib import Path

from retrieval.lexicon import content_terms
from retrieval.spelling import Speller, sound_key

TEXTS = [
    ("La devolución es gratuita. Quiero saber el reembolso de mi paquete. Tarda 3 días el envío.", "es"),
    ("Llega el código. Puedes hablar con una persona. Cambia la contraseña en tu cuenta.", "es"),
    ("Forgot your password? Track your package. Return it for free. We refund twice.", "en"),
]


def test_typos_find_the_index_words() -> None:
    speller = Speller(TEXTS)
    assert speller.corrections("debolucion gratis?", "es") == ["devolucion"]
    assert speller.corrections("kiero el rembolso del paqete", "es") == ["quiero", "reembolso", "paquete"]
    assert speller.corrections("no me yega el codigo, kiero ablar", "es") == ["llega", "quiero", "hablar"]
    assert speller.corrections("forgot my pasword, where is my pakage", "en") == ["password", "package"]
    assert speller.corrections("how do i retrun it", "en") == ["return"]
    assert speller.corrected("cuanto tarda el enbio", "es") == "cuanto tarda el envio"


def test_known_and_real_words_are_left_alone() -> None:
    speller = Speller(TEXTS, {"es": {content_terms("blanca", "es")[0]}})
    assert speller.corrections("cuánto tarda el envío de la contraseña", "es") == []  # the index has them
    assert speller.corrections("una camiseta blanca", "es") == []  # a real word the index lacks: not "banca"
    assert speller.corrections("ago 2fa 1234", None) == []  # short words and numbers
    # a word of the language's stopword list is a real word: "bueno" is not "buena"
    assert Speller([("una buena idea", "es")]).corrections("un fisio bueno", "es") == []


def test_typos_only_and_real_words_of_either_language() -> None:
    """What the scope rail reads a misspelt message as: typos fixed, no real word turned into the index word of its
    stem ("serie" -> "ser" made "recomiéndame una serie buena" read as a store question), and a real word of the
    other language kept ("function" in a Spanish message is not a typo of "funciona")."""
    texts = [("Puedes devolver tus artículos en 30 días. La web no funciona? Ser cliente tiene ventajas.", "es")]
    real = {"es": {content_terms(w, "es")[0] for w in ("devuelvo", "serie")}}
    real["en"] = {content_terms("function", "en")[0]}
    speller = Speller(texts, real)
    assert speller.fixes("¿Cómo devuelvo un producto?", "es") == {"devuelvo": "devolver"}  # for the search
    assert speller.corrected("¿Cómo devuelvo un producto?", "es", stems=False) == "¿Cómo devuelvo un producto?"
    assert speller.corrected("recomiéndame una serie", "es", stems=False) == "recomiéndame una serie"
    assert speller.corrected("el botón de pago no funsiona", "es", stems=False) == "el botón de pago no funciona"
    assert speller.corrections("error: undefined is not a function", "es") == []


def test_spanish_sound_keys() -> None:
    assert sound_key("kiero") == sound_key("quiero")
    assert sound_key("debolucion") == sound_key("devolucion")
    assert sound_key("rechasado") == sound_key("rechazado")
    assert sound_key("yega") == sound_key("llega") and sound_key("ablar") == sound_key("hablar")
    assert sound_key("coche") != sound_key("cose")


def test_a_stem_changing_verb_is_searched_as_the_index_word_of_its_stem() -> None:
    texts = [("Puedes devolver tus artículos en 30 días. Encontrarás el formulario en tu cuenta.", "es")]
    real = {"es": {content_terms(w, "es")[0] for w in ("devuelvo", "encuentro", "cuesta", "tienda")}}
    speller = Speller(texts, real)  # real words the index lacks: no typo fix, but the stem without "ue"/"ie"
    assert speller.fixes("¿Cómo devuelvo un producto?", "es") == {"devuelvo": "devolver"}
    assert speller.fixes("no encuentro el formulario", "es") == {"encuentro": "encontraras"}
    assert speller.fixes("¿cuánto cuesta? la tienda", "es") == {}  # no "cost..." nor "tend..." word in the index
    assert speller.fixes("how do I return it?", "en") == {}


def test_how_do_i_return_in_spanish_finds_the_returns_articles(bundled_index: Path) -> None:
    from retrieval.search import KnowledgeBase

    kb = KnowledgeBase.open(bundled_index)
    for query in ("¿Cómo devuelvo un producto?", "¿Cómo devuelvo un pedido?"):
        # it got the product-reviews and the order-status articles: Snowball cuts "devuelv" and "devolv" apart
        top = [r.doc_id for r in kb.search(query, k=2)]
        assert {"how-to-return-es", "return-policy-es"} & set(top), (query, top)
