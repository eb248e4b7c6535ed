"""Leave-one-domain-out check of the scope rail: knowledge bases it was never tuned on, their real customers'
queries, and CLINC150 val out-of-scope queries.

``python benchmarks/scope_domains.py [--shared ../shared/datasets] [--domains demo,abcd,banking,hotel]
[--conversations]`` fits the scope rail (``graph.scope.fit_scope``) from each knowledge base alone and prints, per
domain and language, the in-scope false refusals and the out-of-scope recall. Skips (exit 0, a message) when the
shared datasets are absent. Only development material is read: CLINC150 **val**, Banking77 **train**, NLU++, a
seeded Bitext sample, the ABCD guidelines and sample dialogues, the demo store's **dev** eval records.

- demo: the shipped Nimbus Market store (``data/kb``, en + es); in scope: the ``data/eval`` dev queries (en, es)
  and 400 Bitext instructions not in the shipped sample.
- abcd: the 55 ABCD guideline subflows as articles (an online clothing store's policy manual); in scope: 400
  Bitext instructions and the sample dialogues' customer turns.
- banking: ``benchmarks/data/banking_faq.jsonl``, 38 articles: 28 written from Banking77's 77 categories, 10 from
  NLU++'s banking intents (loans, mortgages, savings...); in scope: 1,000 Banking77 train queries and the NLU++
  banking queries that carry a banking intent.
- hotel: ``benchmarks/data/hotel_faq.jsonl``, 15 articles written from NLU++'s hotel intents; in scope: the NLU++
  hotels queries that carry a hotel intent.

Out of scope, for every domain: CLINC150 ``oos_val`` (100, the issue's set) and the ``val`` queries of the intents
outside that domain (CLINC150 intents a store, a bank or a hotel may serve are left out for that domain); for the
demo store also the hand-written out-of-scope dev records (en, es). By default the rail is fitted with no bundled
conversations at all (``--conversations`` adds those that match the domain, as the shipped rail does), so nothing
of these domains' customers was seen: only their knowledge base.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # retrieval_corpora (after the packages: benchmarks/graph.py)

from graph.scope import Article  # noqa: E402
from graph.scope_eval import AMBIGUOUS_FOR  # noqa: E402

GENERIC_NLUPP = frozenset(  # NLU++ intents any domain shares: a query with only these is not about the domain
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
class Domain:
    """A held-out knowledge base and its queries."""

    name: str
    articles: list[Article]
    inside: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # set name -> (text, lang)
    outside: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _bitext(shared: Path, n: int, seed: int) -> list[tuple[str, str]]:
    shipped = set()
    for record in _jsonl(ROOT / "data" / "conversations" / "bitext_sample.jsonl"):
        shipped |= {m["content"] for m in record["messages"] if m["role"] == "user"}
    path = shared / "bitext_cs" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [r["instruction"] for r in csv.DictReader(handle) if r["instruction"] not in shipped]
    return [(t, "en") for t in random.Random(seed).sample(rows, min(n, len(rows)))]


def _nlupp(shared: Path, domain: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((shared / "nlupp" / "data" / domain).glob("fold*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            if set(record.get("intents", [])) - GENERIC_NLUPP:
                out.append((record["text"], "en"))
    return out


def _clinc(shared: Path, domain: str) -> dict[str, list[tuple[str, str]]]:
    with gzip.open(shared / "clinc150" / "clinc150_train_val.json.gz") as handle:
        data = json.loads(handle.read())
    skip = AMBIGUOUS_FOR[domain]
    return {
        "clinc_oos_val": [(t, "en") for t, _ in data["oos_val"]],
        "clinc_other_val": [(t, "en") for t, intent in data["val"] if intent not in skip],
    }


def _articles(path: Path) -> list[Article]:
    return [Article(r["id"], r["title"], r["text"], r["lang"]) for r in _jsonl(path)]


def load_domains(shared: Path, names: list[str], seed: int = 0) -> list[Domain]:
    """The held-out domains named in ``names`` (see the module docstring)."""
    out = []
    for name in names:
        match name:
            case "demo":
                from retrieval.documents import load_documents

                docs = load_documents([ROOT / "data" / "kb"])
                domain = Domain(name, [Article(d.id, d.title or "", d.text, d.lang or "en") for d in docs])
                for r in _jsonl(ROOT / "data" / "eval" / "retrieval.jsonl"):
                    if r["split"] == "dev":
                        domain.inside.setdefault(f"eval_dev_{r['lang']}", []).append((r["query"], r["lang"]))
                for r in _jsonl(ROOT / "data" / "eval" / "out_of_scope.jsonl"):
                    if r["split"] == "dev":
                        where = domain.inside if r["in_scope"] else domain.outside
                        key = f"eval_dev_{r['lang']}" if r["in_scope"] else f"written_dev_{r['lang']}"
                        where.setdefault(key, []).append((r["text"], r["lang"]))
                domain.inside["bitext"] = _bitext(shared, 400, seed)
            case "abcd":
                from retrieval_corpora import abcd

                corpus = abcd(shared)
                domain = Domain(name, [Article(a["id"], a["title"], a["text"], a["lang"]) for a in corpus.articles])
                domain.inside["bitext"] = _bitext(shared, 400, seed + 1)
                domain.inside["abcd_dialogues"] = [(q["query"], "en") for q in corpus.queries]
            case "banking":
                domain = Domain(name, _articles(ROOT / "benchmarks" / "data" / "banking_faq.jsonl"))
                with open(shared / "banking77" / "train.csv", encoding="utf-8") as handle:
                    rows = [r["text"] for r in csv.DictReader(handle)]
                domain.inside["banking77_train"] = [(t, "en") for t in random.Random(seed).sample(rows, 1000)]
                domain.inside["nlupp_banking"] = _nlupp(shared, "banking")
            case "hotel":
                domain = Domain(name, _articles(ROOT / "benchmarks" / "data" / "hotel_faq.jsonl"))
                domain.inside["nlupp_hotels"] = _nlupp(shared, "hotels")
            case _:
                raise SystemExit(f"unknown domain {name!r}: use demo, abcd, banking, hotel")
        domain.outside |= _clinc(shared, "store" if name in ("demo", "abcd") else name)
        out.append(domain)
    return out


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--domains", default="demo,abcd,banking,hotel")
    parser.add_argument("--conversations", action="store_true", help="Also fit on matching bundled conversations.")
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot")
    args = parser.parse_args()
    if not (args.shared / "clinc150").is_dir():
        print(f"skipped: {args.shared} (../shared/datasets) is not here")
        return
    from graph.nodes.check_scope import gibberish
    from graph.rails.classifier import use_encode
    from graph.scope import encode_cached, fit_scope
    from retrieval.embeddings import load_embedder

    embedder = load_embedder(cache_dir=args.home)
    cache = args.home / "scope" / embedder.name.replace("/", "_")  # embeddings keyed on their texts: reruns are cheap
    domains = load_domains(args.shared, args.domains.split(","))
    # Every distinct query embedded once, in one cached batch per encoder (the CLINC150 sets repeat across domains).
    unique = sorted({t for d in domains for sets in (d.inside, d.outside) for items in sets.values() for t, _ in items})
    row_of = {t: i for i, t in enumerate(unique)}
    all_idx = encode_cached(unique, embedder.encode, cache, "idx")
    all_use = encode_cached(unique, use_encode, cache, "use")
    print(f"embedded {len(unique)} distinct queries", flush=True)
    rows = []
    for domain in domains:
        started = time.perf_counter()
        model = fit_scope(domain.articles, embedder.encode, cache=cache, conversations=args.conversations)
        fit_s = time.perf_counter() - started
        print(f"{domain.name}: fitted in {fit_s:.0f} s {model.meta} thresholds {model.thresholds}", flush=True)
        for kind, sets in (("in", domain.inside), ("out", domain.outside)):
            for set_name, items in sets.items():
                texts, langs = [t for t, _ in items], [lang for _, lang in items]
                at = [row_of[t] for t in texts]
                idx, use = all_idx[at], all_use[at]
                probs = model.probabilities(model.features(idx, use, texts, langs))
                accepted = [
                    p >= model.threshold(lang) and not (gibberish(t) and model.coverage(t, lang) == 0.0)
                    for t, lang, p in zip(texts, langs, probs, strict=True)
                ]
                for lang in sorted(set(langs)):
                    mine = [a for a, x in zip(accepted, langs, strict=True) if x == lang]
                    # in: the share refused (false refusals); out: the share refused (out-of-scope recall)
                    rows.append((domain.name, lang, kind, set_name, len(mine), 1 - sum(mine) / len(mine)))
    print("\n| domain | lang | set | n | false refusals | out-of-scope recall |")
    print("|---|---|---|---:|---:|---:|")
    for name, lang, kind, set_name, n, value in rows:
        cells = (f"{value:.1%}", "") if kind == "in" else ("", f"{value:.3f}")
        print(f"| {name} | {lang} | {set_name} | {n} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
