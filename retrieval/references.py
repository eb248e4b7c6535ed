"""Other articles' titles inside a chunk: references, which retrieval indexes the chunk without.

Help centres link their articles to each other ("If it arrived broken, see My item arrived damaged"); in the bundled
store 162 of 253 chunks name another article's title. Those words are about the other article, and they made the
chunk a match for questions about it: "where is my package" found *Items missing from my package* by its sentence
"If the whole parcel never reached you, see Tracking says delivered but I don't have my package instead". The dense
vectors and the BM25 text of a chunk leave such titles out; the chunk's text, as shown and quoted, keeps them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

_WORD = re.compile(r"\w+")
MIN_REFERENCE_WORDS = 3  # a shorter title ("Returns") is a word of any text, not a reference to its article


class References:
    """The titles of a knowledge base's articles, to take out of the text other articles' chunks are indexed by:
    "If the whole parcel never reached you, see Tracking says delivered but I don't have my package" is about
    *that* article, and its title's words made this chunk the best match for "where is my package". A title counts
    as written (case included: a capitalised title inside a sentence is a reference, the same words in lower case
    are the sentence's own) and as whole words."""

    def __init__(self, titles: Iterable[str]) -> None:
        # by first two words: (title, where its first word starts in it: "¿Puedo cambiar mi pedido?" starts with "¿");
        # two, not one: thousands of titles open with "How", and a chunk's every "How" looked at each of them
        self.by_start: dict[tuple[str, str], list[tuple[str, int]]] = {}
        kept = {t.strip() for t in titles if len(t.split()) >= MIN_REFERENCE_WORDS}
        for title in sorted(kept, key=len, reverse=True):
            found = list(itertools.islice(_WORD.finditer(title), 2))
            if len(found) == 2:
                key = (found[0].group(0), found[1].group(0))
                self.by_start.setdefault(key, []).append((title, found[0].start()))

    def strip(self, text: str, own: str) -> str:
        """``text`` without the titles it names, except ``own`` (its article's)."""
        if not self.by_start:
            return text
        own = own.strip()
        parts, end = [], 0
        found = list(_WORD.finditer(text))
        for word, after in itertools.pairwise(found):
            for title, offset in self.by_start.get((word.group(0), after.group(0)), ()):
                start = word.start() - offset
                stop = start + len(title)
                if start < end:
                    continue
                if title != own and text.startswith(title, start) and not text[stop : stop + 1].isalnum():
                    parts.append(text[end:start])
                    end = stop
                    break
        return "".join(parts) + text[end:] if parts else text


def embed_text(title: str, text: str, references: References | None = None) -> str:
    """The text a chunk is embedded as: its article's title, then the chunk (other articles' titles taken out)."""
    # The title carries the topic; prefixing it makes short chunks findable by what the article is about.
    if references is not None:
        text = references.strip(text, title)
    return f"{title}\n{text}" if title else text
