"""Typed configuration of ``supportbot data prepare``: every knob in one place, each with its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.prompts import DEFAULT_COMPANY, company_problem

# The Nimbus Market public contact data (data/kb: contact-customer-service-en) that Bitext's store slots
# ({{Customer Support Phone Number}}, {{Website Name}}, ...) are filled with, so tuned answers state the store's facts.
STORE_VALUES: dict[str, str] = {
    "name": "Nimbus Market",
    "phone": "+34 910 555 010",
    "email": "support@nimbus.example",
    "url": "nimbus.example",
    "hours": "Monday to Friday from 9:00 to 21:00 and on Saturday from 10:00 to 18:00 (Madrid time)",
}
# What a slot says when the store's fact is not given (another company's data prepared without --store-facts): a
# phrase that stays true for any company, never the demo store's number or address.
GENERIC_STORE_VALUES: dict[str, str] = {
    "phone": "our customer service phone line",
    "email": "our support email address",
    "url": "our website",
    "hours": "our opening hours",
}
STORE_FACTS = ("phone", "email", "url", "hours")  # what --store-facts may give (the name is the company)
SGD_BANKING_SERVICES = ("Banks_1", "Banks_2", "Payment_1")


class PrepareError(ValueError):
    """Bad input or settings for data preparation; the message names the input (file, file:line)."""


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of one data-preparation run."""

    train_fraction: float = field(default=0.8, metadata={"help": "share of conversation clusters in train"})
    val_fraction: float = field(default=0.1, metadata={"help": "share in val (test gets the rest)"})
    seed: int = field(default=13, metadata={"help": "seed of split assignment and RAFT sampling"})
    min_turn_words: int = field(default=2, metadata={"help": "turns with fewer words are dropped"})
    other_language_min_words: int = field(
        default=4, metadata={"help": "turns at least this long are checked for a language other than es/en"}
    )
    max_messages: int = field(default=20, metadata={"help": "user+assistant turns kept per conversation (cap)"})
    max_turn_chars: int = field(default=4000, metadata={"help": "longest turn kept, in characters (cut at a word)"})
    dedup_jaccard: float = field(
        default=0.7, metadata={"help": "MinHash-Jaccard from which a conversation is a near-duplicate (dropped)"}
    )
    split_jaccard: float = field(
        default=0.5, metadata={"help": "MinHash-Jaccard from which two conversations must share a split"}
    )
    leak_jaccard: float = field(
        default=0.7, metadata={"help": "Jaccard from which a user turn counts as an evaluation question (leak)"}
    )
    minhash_perm: int = field(default=128, metadata={"help": "MinHash permutations"})
    sgd_services: tuple[str, ...] = field(
        default=SGD_BANKING_SERVICES, metadata={"help": "SGD dialogues using one of these services; empty = all"}
    )
    company: str = field(
        default=DEFAULT_COMPANY,
        metadata={"help": "the company the system prompts name and Bitext's company-name slots become"},
    )
    store_values: dict[str, str] | None = field(
        default=None,
        metadata={
            "help": "store facts that fill Bitext's store slots (phone, email, url, hours; name: the company); "
            "None: the demo store's for the demo store, phrases true of any company for another"
        },
    )
    raft: bool = field(default=True, metadata={"help": "write RAFT examples (needs a knowledge-base index)"})
    raft_k: int = field(default=4, metadata={"help": "passages per RAFT example (the retriever's top-k)"})
    raft_oracle_fraction: float = field(
        default=0.8, metadata={"help": "P: share of RAFT examples whose passages include the oracle"}
    )
    raft_no_oracle_answer: str = field(
        default="reference",
        metadata={"help": "answer without the oracle: 'reference' (RAFT: the answer, uncited) or 'abstain'"},
    )
    raft_answer: str = field(
        default="reference",
        metadata={
            "help": "answer with the oracle: 'reference' (the conversation's or QA row's answer, cited) or 'quote' "
            "(the one or two consecutive sentences of the oracle passage, as the prompt shows it, closest to that "
            "answer by chrF, cited)"
        },
    )
    raft_draft: bool = field(
        default=False,
        metadata={
            "help": "show each RAFT prompt the extractive generator's answer over its passages (the draft a model "
            "trained so reads in the hybrid mode; needs the drafter the supportbot CLI passes)"
        },
    )
    raft_kb_questions: int = field(
        default=2, metadata={"help": "questions generated per knowledge-base article (0 = only conversations)"}
    )
    eval_files: tuple[Path, ...] = field(
        default=(), metadata={"help": "evaluation JSONL files whose questions must not appear in the output"}
    )
    raft_questions: tuple[Path, ...] = field(
        default=(),
        metadata={
            "help": "QA JSONL files (id, lang, question, reference, gold_ids, split) whose dev rows become RAFT "
            "questions (train/val); their test rows are never used and stay out of the output like eval_files"
        },
    )
    holdout_articles: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "article ids (and their translations) the model must never see: no RAFT question about them, "
            "never a passage, no conversation naming them (for the unseen-knowledge check)"
        },
    )
    card_examples: int = field(default=5, metadata={"help": "before/after cleaning examples in the data card"})

    def __post_init__(self) -> None:
        if not (0 < self.train_fraction < 1 and 0 <= self.val_fraction < 1):
            raise PrepareError(
                f"--train (train_fraction) must be in (0, 1) and --val (val_fraction) in [0, 1), got "
                f"{self.train_fraction} and {self.val_fraction}"
            )
        if self.train_fraction + self.val_fraction > 1:
            raise PrepareError(
                f"--train + --val (train_fraction + val_fraction) must not exceed 1, got {self.train_fraction} + "
                f"{self.val_fraction}"
            )
        if not 0 <= self.raft_oracle_fraction <= 1:
            raise PrepareError(f"--raft-p (raft_oracle_fraction) must be in [0, 1], got {self.raft_oracle_fraction}")
        if self.raft_no_oracle_answer not in ("reference", "abstain"):
            raise PrepareError(
                f"--raft-no-oracle (raft_no_oracle_answer) must be 'reference' or 'abstain', got "
                f"{self.raft_no_oracle_answer!r}"
            )
        if self.raft_answer not in ("reference", "quote"):
            raise PrepareError(f"--raft-answer (raft_answer) must be 'reference' or 'quote', got {self.raft_answer!r}")
        if problem := company_problem(self.company):
            raise PrepareError(problem)
        unknown = set(self.store_values or {}) - set(STORE_FACTS)
        if unknown:
            raise PrepareError(
                f"store facts must be among {', '.join(STORE_FACTS)}; unknown: {', '.join(sorted(unknown))}"
            )
        if self.raft_k < 1:
            raise PrepareError(f"--raft-k (raft_k) must be at least 1, got {self.raft_k}")
        if self.max_messages < 2:
            raise PrepareError(f"--max-turns (max_messages) must be at least 2, got {self.max_messages}")
        if self.min_turn_words < 0 or self.max_turn_chars < 100:
            raise PrepareError("min_turn_words >= 0 and max_turn_chars >= 100 required")
        if not 0 < self.split_jaccard <= self.dedup_jaccard <= 1 or not 0 < self.leak_jaccard <= 1:
            raise PrepareError("thresholds must satisfy 0 < split_jaccard <= dedup_jaccard <= 1, leak in (0, 1]")

    def store(self) -> dict[str, str]:
        """The facts Bitext's store slots are filled with: the given ones, else the demo store's when preparing for
        it, else phrases true of any company; the name is always :attr:`company`."""
        base = STORE_VALUES if self.company == DEFAULT_COMPANY else GENERIC_STORE_VALUES
        return {**base, **(self.store_values or {}), "name": self.company}

    @property
    def test_fraction(self) -> float:
        """The share of clusters left for test."""
        return round(1 - self.train_fraction - self.val_fraction, 6)


@dataclass
class Prepared:
    """What one run computed before anything is written: the split files, the manifest and the data card."""

    records: list[dict[str, Any]]  # redacted chat records, each with meta.split
    splits: dict[str, str]  # conversation id -> train | val | test
    raft_examples: list[dict[str, Any]]
    summary: dict[str, Any]  # the manifest's counts
    examples: list[dict[str, Any]]  # conversations before and after cleaning, for the card
    config: PrepareConfig
