"""The one stemmer of the project (retrieval.text.stem_words): what BM25, the es<->en lexicon and the rails' content
stems share."""

from __future__ import annotations

import pytest

from retrieval.lexical import analyze
from retrieval.lexicon import content_terms
from retrieval.text import content_stems, stem_words


@pytest.mark.parametrize(
    ("question", "article_word"),
    [
        ("¿Enviáis a Canarias?", "envío"),  # vosotros present: Snowball's "-áis" needs its accent
        ("enviais a canarias", "envío"),  # ... also typed without it
        ("¿Aceptáis PayPal?", "aceptamos"),
        ("¿Vendéis portátiles?", "vendemos"),
        ("me envió el pedido", "envío"),  # preterite "-ió"
    ],
)
def test_a_spanish_verb_form_stems_like_the_articles_word(question: str, article_word: str) -> None:
    stem = content_stems(article_word, "es")[0]
    assert stem in content_stems(question, "es")
    assert stem in analyze(question, "es")  # BM25
    assert stem in content_terms(question, "es")  # the lexicon


def test_stems_are_accent_free_and_other_words_keep_their_stem() -> None:
    assert stem_words(["devolución", "devolucion"], "es") == ["devolu", "devolu"]
    # words that merely end in -ais/-eis, and English, are left as Snowball cuts them
    assert stem_words(["seis", "jerseis"], "es") == ["seis", "jers"]
    assert stem_words(["shipping", "ships"], "en") == ["ship", "ship"]
