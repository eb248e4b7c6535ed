"""retrieval.language.detect_language: Spanish with English loanwords is Spanish (the function words decide)."""

from __future__ import annotations

import pytest

from retrieval.language import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # written for this test; lingua gives the Spanish ones to English (0.57-0.76) for their loanwords
        ("¿me mandas el link del tracking?", "es"),
        ("¿hay parking en el centro de Chamberí?", "es"),
        ("¡el login de la app no va!", "es"),
        ("el email de confirmación no me llega", "es"),
        ("can I pay with Bizum? I don't have tarjeta", "en"),
        ("¡Hola! do you ship to Spain?", "en"),
        ("where is my pedido, it was due on lunes", "en"),
    ],
)
def test_function_words_decide_over_loanwords(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_without_a_clear_vote_the_model_decides() -> None:
    assert detect_language("reembolso") == "es" and detect_language("refund") == "en"
    assert detect_language("human", default="es") == "es"  # one word: the session's language, as before
