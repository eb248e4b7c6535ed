"""In-scope evidence for the scope rail, taken from the knowledge base it serves: the articles' titles and
sentences, and customer-style questions generated from every article in both languages.

With no generator configured the questions come from templates: a title or a few consecutive content words of an
article sentence, put in a customer's words ("I have a problem with ...", "¿cómo funciona ...?"). An article in one
language also yields questions with the other language's templates around its own words: customers mix languages,
and the multilingual encoder the rail reads places such a question near the article it came from. The questions are
what the rail's thresholds are calibrated on (held out by article), so they are generated deterministically (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.language import strip_accents
from retrieval.text import STOPWORDS, sentences

TITLE_TEMPLATES = {
    "en": ["{}", "question about {}", "how does {} work?", "can you help me with {}?", "I need information on {}",
           "what can you tell me about {}?"],
    "es": ["{}", "pregunta sobre {}", "¿cómo funciona {}?", "¿me podéis ayudar con {}?",
           "necesito información sobre {}", "¿qué me podéis decir de {}?"],
}  # fmt: skip
PHRASE_TEMPLATES = {
    "en": ["{}?", "how do I {}", "I have a problem with {}", "what about {}?", "help with {} please",
           "is it possible to {}?", "I want to know about {}", "my {} is not working"],
    "es": ["¿{}?", "cómo puedo {}", "tengo un problema con {}", "¿y lo de {}?", "ayuda con {} por favor",
           "¿se puede {}?", "quiero saber sobre {}", "mi {} no funciona"],
}  # fmt: skip


@dataclass(frozen=True)
class Article:
    """What the scope rail needs of an indexed article."""

    id: str
    title: str
    text: str
    lang: str


@dataclass(frozen=True)
class Evidence:
    """One in-scope text from the knowledge base: ``source`` is its row in the KB reference set (its own title or
    sentence, left out of its nearest-KB features when fitting) and ``article`` its article's position."""

    text: str
    lang: str
    article: int
    source: int
    kind: str  # "title", "sentence" or "question"


def kb_sentences(articles: list[Article], max_sentences: int, rng: random.Random) -> list[Evidence]:
    """Every title and up to ``max_sentences`` article sentences (4-40 words), as the KB reference rows."""
    titles = [Evidence(a.title, a.lang, i, i, "title") for i, a in enumerate(articles) if a.title.strip()]
    body = [
        Evidence(s, a.lang, i, -1, "sentence")
        for i, a in enumerate(articles)
        for s in sentences(a.text)
        if 4 <= len(s.split()) <= 40
    ]
    if len(body) > max_sentences:
        body = [body[i] for i in sorted(rng.sample(range(len(body)), max_sentences))]
    rows = titles + body
    return [Evidence(e.text, e.lang, e.article, n, e.kind) for n, e in enumerate(rows)]


def _phrase(sentence: str, rng: random.Random) -> str | None:
    """Two to four consecutive content words of ``sentence`` (original case and accents), or None."""
    tokens = [t.strip(".,;:!?¿¡()\"'«»“”") for t in sentence.split()]
    content = [t for t in tokens if t and strip_accents(t.lower()) not in STOPWORDS and any(c.isalpha() for c in t)]
    if len(content) < 2:
        return None
    size = min(len(content), rng.choice((2, 2, 3)))
    start = rng.randrange(len(content) - size + 1)
    return " ".join(content[start : start + size]).lower()


def generate_questions(
    rows: list[Evidence], per_article: int, langs: Iterable[str] = ("en", "es"), seed: int = 13
) -> list[Evidence]:
    """Template questions about every article of ``rows`` (its title and sentences), ``per_article`` per language.

    Each question keeps ``source``: the title or sentence it was made from.
    """
    rng = random.Random(seed)
    by_article: dict[int, list[Evidence]] = {}
    for row in rows:
        by_article.setdefault(row.article, []).append(row)
    out: list[Evidence] = []
    for article, items in sorted(by_article.items()):
        titles = [r for r in items if r.kind == "title"]
        body = [r for r in items if r.kind == "sentence"]
        for lang in langs:
            made: set[str] = set()
            for attempt in range(per_article * 4):
                if len(made) >= per_article:
                    break
                if titles and (not body or attempt % 3 == 0):
                    row = rng.choice(titles)
                    text = rng.choice(TITLE_TEMPLATES[lang]).format(row.text.strip().rstrip("?.").lower())
                else:
                    row = rng.choice(body)
                    phrase = _phrase(row.text, rng)
                    if phrase is None:
                        continue
                    text = rng.choice(PHRASE_TEMPLATES[lang]).format(phrase)
                if text not in made:
                    made.add(text)
                    out.append(Evidence(text, lang, article, row.source, "question"))
    return out
