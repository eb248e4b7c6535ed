"""What ships for the scope rail (``data/conversations``, ``data/scope``) and the template questions it writes for
every article: the material :func:`graph.scope.fit_scope` adds to a knowledge base's own text."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from retrieval.bundled import bundled_data

DATA = bundled_data()
MATCH_SHARE = 0.4  # share of a conversation set's turns near the KB for the set to count as this KB's domain
NEGATIVE_CUT_PERCENTILE = 90  # a negative nearer the KB than this share of the matched customer turns is dropped
TEMPLATE_CUT_PERCENTILE = 10  # ... than this share of the template questions, for a language with no matched turns
# ... but never more than this share of a language's negatives, the nearest first: on a phone-repair chain's 17
# articles the template cut dropped 184 of the 319 Spanish negatives (weather, health, trivia: the Spanish side kept
# almost nothing to learn "outside" from, and "¿qué tiempo hará mañana en Madrid?" scored 0.86); the four
# knowledge bases of benchmarks/scope_domains.py drop at most 3.3 % (21 of 644, the bank's English)
MAX_NEAR_SHARE = 0.10
NEAR_DOMAIN_INTENTS = 3  # a CLINC150 domain with near negatives of this many intents is the knowledge base's own
# ... and is taught as in scope when its median example is nearer the KB than this share of all the negatives
IN_SCOPE_DOMAIN_PERCENTILE = 90


class ScopeError(RuntimeError):
    """The scope rail cannot be fitted or loaded (names the file or the index)."""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise ScopeError(f"{path}: cannot read the scope training data: {exc}") from exc


def with_typos(text: str, rng: random.Random) -> str:
    """A misspelt copy of ``text`` (dropped vowels, swapped or doubled letters), as customers type on phones."""
    out = []
    for word in text.split():
        if len(word) > 3 and word.isalpha() and rng.random() < 0.5:
            i = rng.randrange(1, len(word) - 1)
            match rng.randrange(3):
                case 0:
                    word = word[:i] + word[i + 1 :]
                case 1:
                    word = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
                case _:
                    word = word[:i] + word[i] + word[i:]
        out.append(word)
    return " ".join(out)


class Turn(NamedTuple):
    """A customer turn of a shipped conversation set, with the intent of its conversation (its id when it has
    none): turns of one intent are paraphrases of each other."""

    text: str
    lang: str
    intent: str


def bundled_turns(data_dir: Path = DATA) -> dict[str, list[Turn]]:
    """The customer turns of each shipped conversation set (``bitext``, ``nimbus``), plus a misspelt copy of a third
    of them, so typos do not read as "outside"."""
    out: dict[str, list[Turn]] = {}
    rng = random.Random(29)
    for path in sorted((data_dir / "conversations").glob("*.jsonl")):
        if path.name.startswith(("bitext", "nimbus")):
            turns = [Turn(m["content"], record["lang"], str((record.get("meta") or {}).get("intent") or record["id"]))
                     for record in _read_jsonl(path) for m in record["messages"] if m["role"] == "user"]  # fmt: skip
            out.setdefault(path.name.split("_")[0].split(".")[0], []).extend(
                turns + [turn._replace(text=with_typos(turn.text, rng)) for turn in turns if rng.random() < 0.33]
            )
    return out


def bundled_conversations(data_dir: Path = DATA) -> dict[str, list[tuple[str, str]]]:
    """The customer turns of each shipped conversation set as (text, lang) pairs (:func:`bundled_turns`)."""
    return {name: [(turn.text, turn.lang) for turn in turns] for name, turns in bundled_turns(data_dir).items()}


CUSTOMERS = "customers"  # the conversation-set name of a deployment's own customer questions
MAX_CUSTOMER_QUESTIONS = 5000
QUESTION_KEYS = ("text", "query", "question")


def read_customer_questions(path: Path) -> list[tuple[str, str]]:
    """A deployment's own customer questions (``SUPPORTBOT_SCOPE_QUESTIONS``) as (text, lang) pairs: a ``.txt`` file
    with one question per line, or a ``.jsonl`` file of objects with ``text`` (or ``query`` / ``question``) and
    optionally ``lang``; a line's language is detected when not given (as the graph does), and lines in another
    language are left out.
    At most :data:`MAX_CUSTOMER_QUESTIONS` (an even sample beyond that), duplicates once.

    Raises:
        ScopeError: a missing or unreadable file, a bad line (named by number), or no usable question.
    """
    from retrieval.language import detect_language, other_language

    if path.suffix.lower() not in (".txt", ".jsonl"):
        raise ScopeError(f"{path}: customer questions must be a .txt file (one per line) or a .jsonl file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScopeError(f"{path}: cannot read the customer questions: {exc}") from exc
    out: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        lang = None
        if path.suffix.lower() == ".jsonl":
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ScopeError(f"{path}:{number}: invalid JSON: {exc.msg}") from exc
            text = next((record.get(k) for k in QUESTION_KEYS if isinstance(record, dict) and record.get(k)), None)
            if not isinstance(text, str):
                raise ScopeError(f"{path}:{number}: expected an object with a 'text' string")
            lang = record.get("lang")
        else:
            text = line
        text = " ".join(text.split())
        if lang not in ("es", "en"):  # as the graph reads a message: another language never reaches the rail
            lang = None if other_language(text) else detect_language(text, default="en")
        if lang in ("es", "en"):
            out.setdefault(text, lang)
    if not out:
        raise ScopeError(f"{path}: no customer question in Spanish or English")
    pairs = list(out.items())
    if len(pairs) > MAX_CUSTOMER_QUESTIONS:
        pairs = random.Random(17).sample(pairs, MAX_CUSTOMER_QUESTIONS)
    return pairs


def bundled_examples(data_dir: Path = DATA) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(in-scope customer turns of every shipped conversation set, out-of-scope examples) as (text, lang) pairs."""
    inside = [turn for turns in bundled_conversations(data_dir).values() for turn in turns]
    return inside, bundled_negatives(data_dir)


def bundled_negatives(data_dir: Path = DATA) -> list[tuple[str, str]]:
    """The shipped out-of-scope examples (CLINC150 train sample, en; written for this project, es and en: off-topic
    messages, and look-alikes of questions about the business such as other places' opening hours)."""
    outside = [(r["text"], "en") for r in _read_jsonl(data_dir / "scope" / "clinc150_ood_sample.jsonl")]
    for path in _written(data_dir, "ood_written", "business_lookalikes"):
        outside += [(r["text"], r["lang"]) for r in _read_jsonl(path)]
    return outside


def _written(data_dir: Path, *stems: str) -> list[Path]:
    """The written example files of each stem in order: ``<stem>.jsonl``, then ``<stem>_*.jsonl`` (later batches)."""
    folder = data_dir / "scope"
    return [path for stem in stems for path in [folder / f"{stem}.jsonl", *sorted(folder.glob(f"{stem}_*.jsonl"))]]


def negative_intents(data_dir: Path = DATA) -> list[tuple[str, str]]:
    """(CLINC150 domain, intent) of each of :func:`bundled_negatives`, in its order; ("", "") for a written one."""
    clinc = [
        (r.get("domain", ""), r.get("intent", ""))
        for r in _read_jsonl(data_dir / "scope" / "clinc150_ood_sample.jsonl")
    ]
    written = sum(len(_read_jsonl(path)) for path in _written(data_dir, "ood_written", "business_lookalikes"))
    return clinc + [("", "")] * written


def near_domains(near: np.ndarray, labels: Sequence[tuple[str, str]]) -> np.ndarray:
    """The negatives of every CLINC150 domain (banking, credit cards, travel...) of which :func:`near_negatives`
    dropped examples of at least ``NEAR_DOMAIN_INTENTS`` intents: that domain is the knowledge base's own, and its
    other intents are its customers' requests too ("how much did I spend on taxis?" for a bank whose FAQ says
    nothing of spending). ``near``: per negative, whether it was dropped; ``labels``: per negative, (domain,
    intent) as :func:`negative_intents` gives them. Returns the mask of the negatives to drop as well."""
    touched: dict[str, set[str]] = {}
    for dropped, (domain, intent) in zip(near, labels, strict=True):
        if dropped and domain and domain != "oos":
            touched.setdefault(domain, set()).add(intent)
    own = {domain for domain, intents in touched.items() if len(intents) >= NEAR_DOMAIN_INTENTS}
    return np.array([domain in own for domain, _ in labels], dtype=bool)


def in_scope_domains(nearest: np.ndarray, own: np.ndarray, labels: Sequence[tuple[str, str]]) -> np.ndarray:
    """Of the negatives of the knowledge base's own CLINC150 domains (``own``, :func:`near_domains`), those of a
    domain whose typical example (the median) is nearer the knowledge base than ``IN_SCOPE_DOMAIN_PERCENTILE`` % of
    all the negatives: a bank's banking and credit-card requests, which are then its customers' requests (in scope),
    not merely left out. ``nearest``: per negative, the cosine to its nearest chunk."""
    cut = float(np.percentile(nearest, IN_SCOPE_DOMAIN_PERCENTILE)) if len(nearest) else 1.0
    domains = np.array([domain for domain, _ in labels])
    out = np.zeros(len(labels), dtype=bool)
    for domain in set(domains[own]):
        rows = domains == domain
        if float(np.median(nearest[rows])) >= cut:
            out |= rows
    return out


def business_questions(data_dir: Path = DATA) -> list[tuple[str, str]]:
    """What any business's customers ask its support chat about the business itself: how and when to reach it,
    where it is (``data/scope/business_questions.jsonl`` and later batches ``business_questions_*.jsonl``, es and
    en). In scope for every knowledge base, whether or not an article gives the number or the hours: the chat can say
    so or hand off, a refusal cannot."""
    return [(r["text"], r["lang"]) for path in _written(data_dir, "business_questions") for r in _read_jsonl(path)]


def general_tasks(data_dir: Path = DATA) -> list[tuple[str, str, str]]:
    """General tasks in a business's words and support messages that look like them, (text, lang, label) with label
    ``task`` or ``support`` (``data/scope/general_tasks.jsonl`` and later batches): what the task detector of
    :mod:`graph.scope_business` is fitted on."""
    return [(r["text"], r["lang"], r["label"]) for path in _written(data_dir, "general_tasks") if path.exists()
            for r in _read_jsonl(path)]  # fmt: skip


# Customer-style questions about every article, in both languages (the title as the customer would type it).
QUESTION_TEMPLATES = {
    "en": ("{T}", "how does {t} work?", "question about {t}", "I need help with {t}", "can you tell me about {t}?",
           "{t} problem", "hi, what about {t}"),
    "es": ("{T}", "¿cómo funciona {t}?", "tengo una duda sobre {t}", "necesito ayuda con {t}",
           "¿me explicas lo de {t}?", "problema con {t}", "hola, qué pasa con {t}"),
}  # fmt: skip


def template_questions(titles: Sequence[str]) -> list[tuple[str, str]]:
    """Customer-style questions about each title in English and Spanish, as (text, lang) pairs."""
    out = []
    for title in dict.fromkeys(t.strip() for t in titles if t.strip()):
        lower = title[0].lower() + title[1:]
        out += [(x.format(T=title, t=lower), lang) for lang, forms in QUESTION_TEMPLATES.items() for x in forms]
    return out


def match_conversations(
    nearest: np.ndarray, kind: np.ndarray, langs: list[str], source: list[str]
) -> tuple[list[str], np.ndarray]:
    """(the conversation sets about this knowledge base's domain, the rows to keep: the other sets' turns out).
    The deployment's own customer questions (:data:`CUSTOMERS`) are its domain by definition: always kept.

    A set matches when at least ``MATCH_SHARE`` of its turns are nearer the knowledge base (``nearest``: each row's
    cosine to its nearest chunk) than 90 % of the out-of-scope examples of their language: the demo store's Bitext
    and Nimbus turns 64 % and 50 %, ABCD's clothing-store manual 61 % (Bitext); a hotel or a banking FAQ 9-21 %. A
    store's customers taught as "in scope" for a hotel make every hotel request look out of scope by comparison.
    """
    lang_of, keep = np.array(langs), np.ones(len(langs), dtype=bool)
    far = {x: float(np.percentile(nearest[(kind == 2) & (lang_of == x)], 90)) for x in set(langs)
           if ((kind == 2) & (lang_of == x)).any()}  # fmt: skip
    matched = []
    for name in dict.fromkeys(s for s in source if s):
        rows = np.array([s == name for s in source])
        share = np.mean([nearest[i] > far.get(langs[i], far.get("en", 1.0)) for i in np.flatnonzero(rows)])
        if share >= MATCH_SHARE or name == CUSTOMERS:
            matched.append(name)
        else:
            keep &= ~rows
    return matched, keep


def near_negatives(
    nearest: np.ndarray, kind: np.ndarray, langs: list[str], source: list[str], keep: np.ndarray
) -> np.ndarray:
    """The out-of-scope examples that say more about this knowledge base than about "outside" (a banking FAQ and
    CLINC150's banking intents): nearer it than 90 % of the kept customer turns of their language, or, for a
    language with no matched turns, at least as near as the 10th percentile of its template questions (which
    contain the titles, so sit nearer the articles than any customer does). Per language: the English-centric
    embedder puts any Spanish text near the Spanish articles. At most :data:`MAX_NEAR_SHARE` of a language's
    negatives, the nearest."""
    lang_of = np.array(langs)
    turn = np.array([s != "" for s in source]) & keep
    near = np.zeros(len(langs), dtype=bool)
    for lang in sorted(set(langs)):
        mine = lang_of == lang
        if (mine & turn).any():
            cut = float(np.percentile(nearest[mine & turn], NEGATIVE_CUT_PERCENTILE))
        elif (mine & (kind == 1) & keep).any():
            cut = float(np.percentile(nearest[mine & (kind == 1) & keep], TEMPLATE_CUT_PERCENTILE))
        else:
            continue
        negatives = (kind == 2) & mine
        most = int(MAX_NEAR_SHARE * negatives.sum())
        if ((nearest >= cut) & negatives).sum() > most:  # the nearest ``most`` of them only
            cut = max(cut, float(np.sort(nearest[negatives])[::-1][most]) + 1e-6) if most else np.inf
        near |= negatives & (nearest >= cut)
    return near
