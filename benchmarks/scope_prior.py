"""A support prior for the scope rail, measured leave-one-domain-out (an experiment: the rail does not use it).

"Is this a customer-support request at all, to any business?": a logistic regression over the message's USE
multilingual v3 vector (``graph.rails.classifier.use_encode``), fitted on customer queries of several support domains
against general off-topic text. ``benchmarks/scope_domains.py --prior`` fits it once per held-out domain **without**
that domain's sources and prints how well it separates the held-out domain's customer queries from CLINC150 val
``oos_val`` (docs/graph.md, "Scope rail: numbers": on its own, and tried as a feature, a rescue path and a veto of
the rail, it did not generalise to an unseen domain, so the shipped rail does not use it).

Sources (tagged with the domain a benchmark holds out):

- support requests: Banking77 train (banking), NLU++ banking and hotels queries that carry a domain intent, CLINC150
  **train** queries of banking and hotel intents, Bitext instructions and ABCD's sample customer turns (store), the
  customer turns of the shipped conversations (store; en, es);
- off-topic: CLINC150 **train** ``oos`` and the train queries of the intents no support desk serves (weather, timers,
  trivia, recipes, small talk...), ``data/scope/clinc150_ood_sample.jsonl``, ``data/scope/ood_written.jsonl``
  (es, en) and STS-B train sentences (es, en).

CLINC150 val (the evaluation set) and test splits are never fitted on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph.scope_eval import AMBIGUOUS_INTENTS
from retrieval.bundled import bundled_data

DATA = bundled_data()
Encode = Callable[[list[str]], np.ndarray]
C = 1.0
PER_SOURCE = 3000  # at most this many rows of one source (Banking77 alone would outweigh the rest)

# CLINC150 intents a support desk of some business serves, or chit-chat with the bot itself: left out of the
# off-topic side (the banking and hotel ones are support requests of those domains).
CLINC_BANKING = frozenset(
    [
        "transfer",
        "transactions",
        "balance",
        "freeze_account",
        "pay_bill",
        "bill_balance",
        "bill_due",
        "interest_rate",
        "routing",
        "min_payment",
        "order_checks",
        "pin_change",
        "report_fraud",
        "account_blocked",
        "spending_history",
        "credit_score",
        "report_lost_card",
        "credit_limit",
        "rewards_balance",
        "new_card",
        "application_status",
        "card_declined",
        "international_fees",
        "apr",
        "redeem_rewards",
        "credit_limit_change",
        "damaged_card",
        "replacement_card_duration",
        "improve_credit_score",
        "expiration_date",
        "exchange_rate",
        "direct_deposit",
    ]
)
CLINC_HOTEL = frozenset(
    [
        "book_hotel",
        "cancel_reservation",
        "confirm_reservation",
        "accept_reservations",
        "restaurant_reservation",
        "how_busy",
        "restaurant_reviews",
    ]
)
# the demo store's served intents and chit-chat with the bot: the scope evaluation's list, its banking ones aside
CLINC_STORE_OR_BOT = AMBIGUOUS_INTENTS - CLINC_BANKING
# NLU++ intents every domain shares: a query with only these ("yes", "thanks", "how much?") says nothing of its domain.
NLUPP_GENERIC = frozenset(
    [
        "affirm",
        "deny",
        "dont_know",
        "acknowledge",
        "greet",
        "end_call",
        "handoff",
        "thank",
        "repeat",
        "how",
        "why",
        "when",
        "how_much",
        "how_long",
        "request_info",
        "change",
        "new",
        "existing",
        "more_higher_after",
        "less_lower_before",
        "cancel_close_leave_freeze",
        "make_open_apply_setup_get_activate",
        "wrong_notworking_notshowing",
        "lost_stolen",
        "limits",
    ]
)


@dataclass
class Source:
    """Rows of one source: ``label`` 1 support request, 0 off-topic; ``domain`` names what a benchmark holds out."""

    name: str
    domain: str
    label: int
    rows: list[tuple[str, str]] = field(default_factory=list)  # (text, lang)


def _csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    return list(csv.DictReader(io.StringIO((gzip.decompress(raw) if path.suffix == ".gz" else raw).decode())))


def shipped_sources(data_dir: Path = DATA) -> list[Source]:
    """What ships in ``data/`` (``graph.scope.bundled_examples``): the shipped conversations' customer turns (store;
    with their misspelt copies) and the off-topic examples."""
    from graph.scope import bundled_examples

    inside, outside = bundled_examples(data_dir)
    return [Source("conversations", "store", 1, inside), Source("shipped_offtopic", "offtopic", 0, outside)]


def nlupp_queries(shared: Path, domain: str) -> list[str]:
    """NLU++ ``domain`` (banking, hotels) queries that carry at least one intent of that domain."""
    out = []
    for path in sorted((shared / "nlupp" / "data" / domain).glob("fold*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            if set(record.get("intents", [])) - NLUPP_GENERIC:
                out.append(record["text"])
    return out


def shared_sources(shared: Path, seed: int = 5) -> list[Source]:
    """The sources read from ``../shared/datasets`` (those present)."""
    rng = random.Random(seed)
    out: list[Source] = []
    if (shared / "banking77" / "train.csv").exists():
        rows = [(r["text"], "en") for r in _csv(shared / "banking77" / "train.csv")]
        out.append(Source("banking77_train", "banking", 1, rows))
    for domain, name in (("banking", "banking"), ("hotels", "hotel")):
        if (shared / "nlupp" / "data" / domain).is_dir():
            out.append(Source(f"nlupp_{domain}", name, 1, [(t, "en") for t in nlupp_queries(shared, domain)]))
    clinc = shared / "clinc150" / "clinc150_train_val.json.gz"
    if clinc.exists():
        data = json.loads(gzip.decompress(clinc.read_bytes()))
        train = data["train"]
        out.append(Source("clinc_train_banking", "banking", 1, [(t, "en") for t, i in train if i in CLINC_BANKING]))
        out.append(Source("clinc_train_hotel", "hotel", 1, [(t, "en") for t, i in train if i in CLINC_HOTEL]))
        support = CLINC_BANKING | CLINC_HOTEL | CLINC_STORE_OR_BOT
        other = [(t, "en") for t, i in train if i not in support] + [(t, "en") for t, _ in data["oos_train"]]
        out.append(Source("clinc_train_offtopic", "offtopic", 0, other))
    bitext = shared / "bitext_cs" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    if bitext.exists():
        out.append(Source("bitext", "store", 1, [(r["instruction"], "en") for r in _csv(bitext)]))
    abcd = shared / "abcd" / "abcd_sample.json"
    if abcd.exists():
        turns = [t for d in json.loads(abcd.read_text()) for s, t in d["original"] if s == "customer"]
        out.append(Source("abcd_customer", "store", 1, [(t, "en") for t in turns]))
    for lang in ("es", "en"):
        path = shared / "stsb_multi_mt" / f"stsb-{lang}-train.csv"
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                lines = sorted({s for row in csv.reader(handle) for s in row[:2]})
            out.append(Source(f"stsb_{lang}_train", "offtopic", 0, [(t, lang) for t in rng.sample(lines, 1500)]))
    return out


def all_sources(shared: Path | None, data_dir: Path = DATA) -> list[Source]:
    """Shipped sources plus those of ``shared`` (when it is a folder)."""
    return shipped_sources(data_dir) + (shared_sources(shared) if shared is not None and shared.is_dir() else [])


def training_rows(sources: Iterable[Source], leave_out: Sequence[str] = (), seed: int = 11
                  ) -> tuple[list[str], np.ndarray, list[str]]:  # fmt: skip
    """(texts, labels, source names) of ``sources`` less the domains in ``leave_out``, each source capped."""
    rng = random.Random(seed)
    texts, labels, names = [], [], []
    for source in sources:
        if source.domain in leave_out:
            continue
        rows = list(dict.fromkeys(t for t, _ in source.rows if t.strip()))
        rows = rng.sample(rows, PER_SOURCE) if len(rows) > PER_SOURCE else rows
        texts += rows
        labels += [source.label] * len(rows)
        names += [source.name] * len(rows)
    return texts, np.array(labels), names


def fit_support(texts: list[str], labels: np.ndarray, vectors: np.ndarray) -> Any:
    """A balanced logistic regression (scikit-learn) on USE vectors (``vectors``: the rows of ``texts``)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(vectors, labels)
