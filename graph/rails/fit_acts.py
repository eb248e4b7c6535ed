"""Fit the conversational-act model (:mod:`graph.rails.acts`) and load the material it is fitted and judged on.

``python -m graph.rails.fit_acts [--shared ../shared/datasets] [--out data/rails/acts.npz]``

Fitted on ``data/dialogue/train.jsonl`` and ``train_*.jsonl`` (written for this project in four batches: requests for
a person, legal threats, greetings, thanks and closings, goodbyes, questions about the assistant, and hard negatives,
short problem reports among them, es and en) and, from ``--shared`` when present, real customer messages: Banking77
train (even rows) and Bitext instructions (even rows; its ``contact_human_agent``, ``contact_customer_service`` and
``complaint`` intents left out: some of them ask for a person) as ``none``, CLINC150 **train**'s ``greeting``,
``goodbye``, ``thank_you``, ``are_you_a_bot`` and ``what_can_i_ask_you`` as their acts and a sample of its other
intents as ``none`` (its other chit-chat intents left out), the user turns of SGD train dialogues by their annotated
dialogue acts (thanks, goodbyes, and turns that inform, request or state an intent as ``none``), and STS-B train
sentences (es, en) as ``none``. Never fitted on: ``data/dialogue/dev*.jsonl`` (written apart from the training files,
in other words), the odd rows, CLINC150 val, SGD dev, NLU++ and ``data/eval``: ``benchmarks/acts.py`` reports on
those. Each act's threshold is chosen on out-of-fold probabilities (5 folds): the lowest that takes at most
:data:`MAX_REAL` of the real ``none`` messages and at most :data:`MAX_HARD` of the written hard negatives for that act,
among the messages its verdict could be acted on (:func:`graph.rails.acts.acted_on`), and at least
:data:`~graph.rails.fit.MIN_THRESHOLD`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from graph.rails.acts import ACTED_SMALL_TALK, ACTS, WEIGHTS, act_features, acted_on
from graph.rails.classifier import InputRailModel, use_encode
from graph.rails.fit import NGRAM_SCALE, cached_encode, csv_rows, fitted_model, ngram_matrix, read_jsonl
from retrieval.bundled import bundled_data

DATA = bundled_data()
MAX_REAL = 0.001  # out-of-fold share of the real customer messages an act may take
MAX_HARD = 0.01  # ... and of the written hard negatives (a question answered "You're welcome!" is worse than none)
WRITTEN_WEIGHT = 3.0  # a written line counts three times as much as a real message
# CLINC150 intents that are acts of their own, and its other chit-chat intents (left out of fitting)
CLINC_ACTS = {"greeting": "greeting", "goodbye": "goodbye", "thank_you": "thanks", "are_you_a_bot": "identity",
              "what_can_i_ask_you": "identity"}  # fmt: skip
CLINC_LEFT_OUT = frozenset(["yes", "no", "maybe", "repeat", "who_do_you_work_for", "what_is_your_name", "who_made_you",
                            "what_are_your_hobbies", "how_old_are_you", "where_are_you_from", "do_you_have_pets",
                            "meaning_of_life", "tell_joke", "fun_fact", "cancel", "user_name"])  # fmt: skip
BITEXT_LEFT_OUT = frozenset(["contact_human_agent", "contact_customer_service", "complaint"])
BITEXT = Path("bitext_cs") / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"


def written_paths(split: str) -> list[Path]:
    """``data/dialogue/{split}.jsonl`` and then ``data/dialogue/{split}_*.jsonl`` (later batches, by name)."""
    folder = DATA / "dialogue"
    return [folder / f"{split}.jsonl", *sorted(folder.glob(f"{split}_*.jsonl"))]


def written(split: str, paths: list[Path] | None = None) -> list[tuple[str, str, str]]:
    """(text, act, lang) of the written files of ``split`` (or of ``paths``)."""
    return [(r["text"], r["label"], r["lang"]) for path in paths or written_paths(split) for r in read_jsonl(path)]


def real_messages(shared: Path | None, part: str, seed: int = 7) -> dict[str, list[tuple[str, str, str]]]:
    """Real messages by source, as (text, act, lang): ``part="fit"`` or ``"report"`` (disjoint rows; see the module
    docstring)."""
    if shared is None or not shared.is_dir():
        return {}
    rng = random.Random(seed)
    fitting = part == "fit"
    sets: dict[str, list[tuple[str, str, str]]] = {}
    banking = shared / "banking77" / "train.csv"
    if banking.exists():
        rows = [r["text"] for i, r in enumerate(csv_rows(banking)) if i % 2 == (0 if fitting else 1)]
        sets["banking77"] = [(t, "none", "en") for t in rows]
    if (shared / BITEXT).exists():
        rows = [r["instruction"] for i, r in enumerate(csv_rows(shared / BITEXT))
                if i % 2 == (0 if fitting else 1) and r["intent"] not in BITEXT_LEFT_OUT]  # fmt: skip
        sets["bitext"] = [(t, "none", "en") for t in rows]
    clinc = shared / "clinc150" / "clinc150_train_val.json.gz"
    if clinc.exists():
        data = json.loads(gzip.decompress(clinc.read_bytes()))
        pairs = data["train"] if fitting else data["val"]
        sets["clinc150_acts"] = [(t, CLINC_ACTS[i], "en") for t, i in pairs if i in CLINC_ACTS]
        others = [(t, "none", "en") for t, i in pairs if i not in CLINC_ACTS and i not in CLINC_LEFT_OUT]
        sets["clinc150_other"] = rng.sample(others, min(3000, len(others))) if fitting else others
    sgd = shared / "sgd_banking" / ("train" if fitting else "dev")
    if sgd.is_dir():
        sets["sgd_user_turns"] = _sgd_turns(sgd)
    if fitting:
        for lang, k in (("es", 2000), ("en", 1000)):
            path = shared / "stsb_multi_mt" / f"stsb-{lang}-train.csv"
            if path.exists():
                with path.open(encoding="utf-8") as handle:
                    sentences = sorted({s for row in csv.reader(handle) for s in row[:2]})
                sets[f"stsb_{lang}"] = [(t, "none", lang) for t in rng.sample(sentences, min(k, len(sentences)))]
    else:
        nlupp = shared / "nlupp" / "data"
        for domain in ("banking", "hotels"):
            texts = [r["text"] for path in sorted((nlupp / domain).glob("fold*.json"))
                     for r in json.loads(path.read_text(encoding="utf-8")) if r.get("text")]  # fmt: skip
            if texts:
                sets[f"nlupp_{domain}"] = [(t, "none", "en") for t in texts]
    return sets


def _sgd_turns(folder: Path) -> list[tuple[str, str, str]]:
    """The user turns of SGD dialogues whose annotated dialogue acts say what they are: only thanks or a goodbye
    (with a "no" at most: "No, thank you so much.") as ``thanks`` / ``goodbye``; a turn that informs, requests or
    states an intent as ``none`` (short answers among them: "In checking.", "To Amir."). Confirmations and choices
    ("Sounds great.", "Yes that one.") are left out: in a chat without forms they close a conversation, in SGD they
    answer one."""
    rows = []
    for path in sorted(folder.glob("dialogues_*.json.gz")):
        for dialogue in json.loads(gzip.decompress(path.read_bytes())):
            for turn in dialogue["turns"]:
                if turn["speaker"] != "USER":
                    continue
                acts = {action["act"] for frame in turn["frames"] for action in frame["actions"]}
                if acts & {"THANK_YOU", "GOODBYE"} and acts <= {"THANK_YOU", "GOODBYE", "NEGATE"}:
                    rows.append((turn["utterance"], "goodbye" if "GOODBYE" in acts else "thanks", "en"))
                elif acts & {"INFORM", "INFORM_INTENT", "REQUEST", "REQUEST_ALTS"}:
                    rows.append((turn["utterance"], "none", "en"))
    return rows


def fit(rows: list[tuple[str, str, str]], source: list[str], encode: Callable[[list[str]], np.ndarray],
        seed: int = 13, progress: Callable[[str], None] = print) -> InputRailModel:  # fmt: skip
    """Fit the model on ``rows`` ((text, act, lang); ``source`` "written" or a real set's name) and choose each act's
    threshold on out-of-fold probabilities."""
    from scipy.sparse import csr_matrix, hstack

    texts = [t for t, _, _ in rows]
    labels = np.array([ACTS.index(a) for _, a, _ in rows])
    progress(f"embedding {len(texts)} texts")
    X = hstack([csr_matrix(act_features(encode(texts), texts)), NGRAM_SCALE * ngram_matrix(texts)]).tocsr()
    is_written = np.array([s == "written" for s in source])
    weights = np.where(is_written, WRITTEN_WEIGHT, 1.0)
    for k in range(len(ACTS)):  # every act weighs as much in total as any other
        mine = labels == k
        if mine.any():
            weights[mine] *= len(labels) / (len(ACTS) * weights[mine].sum())

    budgets = [((labels == 0) & ~is_written, MAX_REAL), ((labels == 0) & is_written, MAX_HARD)]
    meta = {"encoder": "use", "rows": {s: source.count(s) for s in sorted(set(source))}, "max_real": MAX_REAL,
            "max_hard": MAX_HARD}  # fmt: skip
    acted = {act: np.array([acted_on(act, t) for t in texts]) for act in ACTED_SMALL_TALK}  # the others: every row
    return fitted_model(X, labels, weights, ACTS, budgets, seed, meta, progress, acted)


def fitting_rows(shared: Path | None) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The rows the model is fitted on and the source of each (real messages first, the written file last)."""
    rows, source = [], []
    for name, part in real_messages(shared, "fit").items():
        rows += part
        source += [name] * len(part)
    mine = written("train")
    return rows + mine, source + ["written"] * len(mine)


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=DATA.parent.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--cache-dir", type=Path, default=Path(".supportbot"))
    args = parser.parse_args()
    rows, source = fitting_rows(args.shared)
    model = fit(rows, source, cached_encode(use_encode, "use", args.cache_dir / "rails"))
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "thresholds": model.thresholds, **model.meta}, indent=2))


if __name__ == "__main__":
    main()
