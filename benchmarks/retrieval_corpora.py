"""Dev corpora unlike the demo store, built from ``../shared/datasets`` for the retrieval benchmark (not shipped).

Each corpus is a knowledge base (articles written as JSONL, ingested with the real pipeline) and queries with gold
article ids. Only development material is read: stsb_multi_mt *dev*, SGD *dev*, the ABCD guidelines and sample
dialogues, and a seeded sample of Bitext (one file, no splits). Sizes are kept small so that the whole benchmark
runs in a few minutes on 2 cores.

| corpus | articles | queries |
|---|---|---|
| stsb (bilingual) | sentence2 of every dev row, en + es twins | sentence1 of rows scored >= 4, en and es |
| stsb-xling | sentence2, one language only | sentence1 in the other language (cross-language) |
| stsb-partly | sentence2: a third in both languages, a third only es, a third only en | sentence1, en and es (1) |

(1) gold: the article in the query's language, else the other language's; ``stsb-partly xling`` holds the queries
whose article exists only in the other language.
| bitext | 15 responses per intent (long) | instructions of other rows; gold = every article of that intent |
| abcd | the 55 guideline subflows (long) | every customer turn of the sample dialogues, with the turns before it |
| sgd | one short article per (domain, intent) of the dev schema | user turns after the first, with the turns before |

Multi-turn queries carry ``turns``: ``[{"role": "user"|"assistant", "text"}]`` ending with the turn being
answered; ``query`` is that last turn alone.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Corpus:
    """One dev corpus: articles to index and queries with gold article ids."""

    name: str
    articles: list[dict[str, Any]]  # {id, title, text, lang, translation_of?}
    queries: list[dict[str, Any]]  # {id, lang, query, gold_ids, turns?}
    note: str = ""
    langs: list[str] = field(default_factory=list)  # languages of the indexed articles


def _open(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _first(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder / name} (or .gz) not found")


def stsb(datasets: Path, min_score: float = 4.0) -> list[Corpus]:
    """stsb_multi_mt dev: bilingual paraphrase retrieval and both cross-language directions."""
    rows = {}
    for lang in ("en", "es"):
        with _open(_first(datasets / "stsb_multi_mt", f"stsb-{lang}-dev.csv")) as handle:
            rows[lang] = list(csv.reader(handle))
    articles: dict[str, list[dict[str, Any]]] = {"en": [], "es": []}
    seen: dict[str, dict[str, str]] = {"en": {}, "es": {}}  # sentence2 text -> article id (repeats share one)
    gold: dict[str, dict[int, str]] = {"en": {}, "es": {}}
    for i, (en, es) in enumerate(zip(rows["en"], rows["es"], strict=True)):
        ids = {lang: f"stsb-{i}-{lang}" for lang in ("en", "es")}
        for lang, row in (("en", en), ("es", es)):
            text = row[1].strip()
            if text in seen[lang]:
                gold[lang][i] = seen[lang][text]
                continue
            seen[lang][text] = ids[lang]
            gold[lang][i] = ids[lang]
            other = "es" if lang == "en" else "en"
            articles[lang].append(
                {"id": ids[lang], "title": "", "text": text, "lang": lang, "translation_of": ids[other]}
            )
    known = {a["id"] for lang in articles for a in articles[lang]}
    for lang in articles:  # a twin dropped as a repeat is not a translation target
        for a in articles[lang]:
            if a["translation_of"] not in known:
                a.pop("translation_of")
    queries: dict[str, list[dict[str, Any]]] = {"en": [], "es": []}
    cross: dict[str, list[dict[str, Any]]] = {"en": [], "es": []}  # gold in the other language
    for i, (en, es) in enumerate(zip(rows["en"], rows["es"], strict=True)):
        if float(en[2]) < min_score or en[0].strip() == en[1].strip():
            continue
        for lang, other, row in (("en", "es", en), ("es", "en", es)):
            query = {"id": f"stsb-q{i}-{lang}", "lang": lang, "query": row[0]}
            queries[lang].append({**query, "gold_ids": [gold[lang][i]]})
            cross[lang].append({**query, "gold_ids": [gold[other][i]]})
    note = f"stsb_multi_mt dev; queries: sentence1 of rows scored >= {min_score}"
    return [
        Corpus("stsb", articles["en"] + articles["es"], queries["en"] + queries["es"], note, ["en", "es"]),
        Corpus("stsb-xling es->en", articles["en"], cross["es"], note + "; English-only index", ["en"]),
        Corpus("stsb-xling en->es", articles["es"], cross["en"], note + "; Spanish-only index", ["es"]),
    ]


def partly_translated(corpus: Corpus) -> list[Corpus]:
    """A partly translated knowledge base from a bilingual corpus of linked twins (ids ``<row>-en`` / ``<row>-es``):
    a third of the rows keep both languages, a third only Spanish, a third only English (by a hash of the row).
    Each query's gold is its article in the query's language, else the other language's. Two corpora over the
    same articles: the queries whose article exists in their language, and those whose article exists only in
    the other language (what the English embedder's dense list cannot find)."""

    def dropped(article_id: str) -> bool:
        row, lang = article_id.rsplit("-", 1)
        third = int(hashlib.sha256(row.encode()).hexdigest(), 16) % 3
        return (third, lang) in ((1, "en"), (2, "es"))

    articles = [dict(a) for a in corpus.articles if not dropped(a["id"])]
    kept = {a["id"] for a in articles}
    for a in articles:
        if a.get("translation_of") not in kept:
            a.pop("translation_of", None)
    same, xling = [], []
    for q in corpus.queries:
        other = [g.rsplit("-", 1)[0] + ("-en" if g.endswith("-es") else "-es") for g in q["gold_ids"]]
        gold = [g if g in kept else twin for g, twin in zip(q["gold_ids"], other, strict=True)]
        gold = [g for g in gold if g in kept]
        (same if set(gold) & set(q["gold_ids"]) else xling).append({**q, "gold_ids": gold})
    note = corpus.note + "; partly translated (a third of the rows in both languages, a third in each alone)"
    return [
        Corpus(f"{corpus.name}-partly", articles, same, note, ["en", "es"]),
        Corpus(f"{corpus.name}-partly xling", articles, xling, f"{note}; its article only in the other", ["en", "es"]),
    ]


def bitext(datasets: Path, per_intent: int = 15, queries_per_intent: int = 8, seed: int = 0) -> Corpus:
    """Bitext: responses as articles; an instruction's gold is every article of its intent."""
    with _open(_first(datasets / "bitext_cs", "Bitext_Sample_Customer_Support_Training_Dataset.csv")) as handle:
        rows = list(csv.DictReader(handle))
    by_intent: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_intent.setdefault(row["intent"], []).append(row)
    rng = random.Random(seed)
    articles, queries = [], []
    for intent in sorted(by_intent):
        items = by_intent[intent][:]
        rng.shuffle(items)
        docs, asks = items[:per_intent], items[per_intent : per_intent + queries_per_intent]
        ids = [f"bitext-{intent}-{n}" for n in range(len(docs))]
        articles += [
            {"id": i, "title": "", "text": d["response"], "lang": "en"} for i, d in zip(ids, docs, strict=True)
        ]
        queries += [
            {"id": f"bitext-q-{intent}-{n}", "lang": "en", "query": a["instruction"], "gold_ids": ids}
            for n, a in enumerate(asks)
        ]
    note = f"Bitext (one file, seeded sample {seed}): {per_intent} responses per intent as articles"
    return Corpus("bitext", articles, queries, note, ["en"])


def _words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def abcd(datasets: Path) -> Corpus:
    """ABCD: guideline subflows as articles; each customer turn of the sample dialogues as a query."""
    folder = datasets / "abcd"
    guidelines = json.loads(_open(_first(folder, "guidelines.json")).read())
    ontology = json.loads(_open(_first(folder, "ontology.json")).read())
    flows = ontology["intents"]["flows"]
    articles = []
    for flow_name, flow in guidelines.items():
        flow_key = next(f for f in flows if _words(f) == flow_name.lower().replace("-", " "))
        keys = ontology["intents"]["subflows"][flow_key]
        for key, (sub_name, sub) in zip(keys, flow["subflows"].items(), strict=True):
            steps = [sub.get("instructions", "")] if isinstance(sub.get("instructions"), str) else []
            for action in sub.get("actions", []):
                steps.append(" ".join([action.get("text", ""), *action.get("subtext", [])]))
            text = f"{flow_name}: {flow['description']}.\n\n" + "\n\n".join(s for s in steps if s.strip())
            articles.append({"id": f"abcd-{flow_key}-{key}", "title": sub_name, "text": text, "lang": "en"})
    ids = {a["id"] for a in articles}
    dialogues = json.loads(_open(_first(folder, "abcd_sample.json")).read())
    queries = []
    for dialogue in dialogues:
        scenario = dialogue["scenario"]
        subflow = re.sub(r"_\d+$", "", scenario["subflow"])  # "timing_4" is a variant of "timing"
        gold = f"abcd-{scenario['flow']}-{subflow}"
        assert gold in ids, gold
        turns: list[dict[str, str]] = []
        for speaker, text in dialogue["original"]:
            if speaker == "action":
                continue
            turns.append({"role": "user" if speaker == "customer" else "assistant", "text": text})
            if speaker == "customer":
                n = len(queries)
                queries.append(
                    {"id": f"abcd-q{n}", "lang": "en", "query": text, "gold_ids": [gold], "turns": list(turns)}
                )
    return Corpus(
        "abcd", articles, queries, "ABCD guidelines; the 3 sample dialogues (the rest is not shipped)", ["en"]
    )


def sgd(datasets: Path, max_queries: int = 300, seed: int = 0) -> Corpus:
    """SGD dev: one article per (domain, intent); user turns after the first as multi-turn queries."""
    folder = datasets / "sgd_banking" / "dev"
    schema = json.loads(_open(_first(folder, "schema.json")).read())
    texts: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for service in schema:
        domain = service["service_name"].split("_")[0]
        for intent in service["intents"]:
            doc_id = f"sgd-{domain}-{intent['name']}"
            words = re.sub(r"(?<!^)([A-Z])", r" \1", intent["name"]).lower()  # "CheckBalance" -> "check balance"
            titles[doc_id] = f"{domain}: {words}"
            texts.setdefault(doc_id, [])
            for line in (service["description"], intent["description"]):
                if line not in texts[doc_id]:
                    texts[doc_id].append(line)
    articles = [{"id": i, "title": titles[i], "text": ". ".join(t) + ".", "lang": "en"} for i, t in texts.items()]
    candidates = []
    for path in sorted(folder.glob("dialogues_*.json*")):
        for dialogue in json.loads(_open(path).read()):
            turns: list[dict[str, str]] = []
            for turn in dialogue["turns"]:
                turns.append({"role": "user" if turn["speaker"] == "USER" else "assistant", "text": turn["utterance"]})
                if turn["speaker"] != "USER" or len(turns) < 3:
                    continue
                active = [
                    f"sgd-{f['service'].split('_')[0]}-{f['state']['active_intent']}"
                    for f in turn["frames"]
                    if f.get("state", {}).get("active_intent", "NONE") != "NONE"
                ]
                if len(active) == 1 and active[0] in texts:
                    candidates.append((dialogue["dialogue_id"], len(turns), list(turns), active[0]))
    rng = random.Random(seed)
    picked = sorted(rng.sample(candidates, min(max_queries, len(candidates))), key=lambda c: (c[0], c[1]))
    queries = [
        {"id": f"sgd-{d}-{n}", "lang": "en", "query": turns[-1]["text"], "gold_ids": [gold], "turns": turns}
        for d, n, turns, gold in picked
    ]
    note = f"SGD dev schema + dialogues; {len(queries)} of {len(candidates)} user turns (3rd turn on), seed {seed}"
    return Corpus("sgd", articles, queries, note, ["en"])


def load_corpora(datasets: Path) -> list[Corpus]:
    """Every dev corpus (raises FileNotFoundError when a dataset is missing)."""
    bilingual = stsb(datasets)
    return [*bilingual, *partly_translated(bilingual[0]), bitext(datasets), abcd(datasets), sgd(datasets)]


def write_articles(corpus: Corpus, folder: Path) -> Path:
    """The corpus's articles as a JSONL knowledge-base file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kb.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for article in corpus.articles:
            handle.write(json.dumps(article, ensure_ascii=False) + "\n")
    return path
