"""Leave-one-domain-out check of the scope rail: knowledge bases it was never tuned on, their real customers'
queries, and CLINC150 val out-of-scope queries.

``python benchmarks/scope_domains.py [--shared ../shared/datasets] [--domains demo,abcd,banking,hotel] [--misses N]
[--other-val 800] [--prior] [--own-questions]`` builds an index of each knowledge base (under
``<home>/scope_bench/``), fits the scope rail on it exactly as the graph does (``graph.scope.fit_scope``: the
articles, their template questions, the shipped conversations that match its domain and the shipped out-of-scope
examples) and prints, per domain and language, the in-scope false refusals and the out-of-scope recall (small talk
counted as the graph routes it: answered in kind before the scope rail). ``--prior`` also prints the support-prior
experiment (``benchmarks/scope_prior.py``), fitted per held-out domain without that domain's sources.
``--own-questions`` also fits the banking and hotel rails with the deployment's own customer questions
(``SUPPORTBOT_SCOPE_QUESTIONS``, as an operator would from past tickets): 500 Banking77 train queries not among the
1,000 evaluated, and a seeded half of the NLU++ hotels queries (the other half is then the hotel's in-scope set for
both fits), printed as "banking + own questions" beside the first fit on the same sets; that rail is no longer
blind to its domain's customers. Skips (exit 0, a message) when the shared datasets are absent. Only development
material is read: CLINC150 **val**, Banking77 **train**, NLU++, Bitext, the ABCD guidelines and sample dialogues,
the demo store's **dev** eval records.

- demo: the shipped Nimbus Market store (``data/kb``, en + es); in scope: the ``data/eval`` dev queries and
  in-scope borderline records (en, es) and 400 Bitext instructions not in the shipped conversations.
- abcd: the 55 ABCD guideline subflows as articles (an online clothing store's agent manual); in scope: 400 Bitext
  instructions and the sample dialogues' customer turns.
- banking: ``benchmarks/data/banking_faq.jsonl`` (38 articles written from Banking77's and NLU++'s banking
  categories); in scope: 1,000 Banking77 train queries and the NLU++ banking queries with a banking intent.
- hotel: ``benchmarks/data/hotel_faq.jsonl`` (15 articles written from NLU++'s hotel intents, English only); in
  scope: the NLU++ hotels queries with a hotel intent, and 20 Spanish hotel requests written for this check
  (``benchmarks/data/hotel_es_dev.jsonl``, with 14 Spanish off-topic messages, none with a word Jaccard above 0.5 to
  a shipped out-of-scope example), and a held-out second file written the same way
  (``benchmarks/data/hotel_es_val.jsonl``: 22 hotel requests, 16 off-topic; no line above 0.5 to the dev file, the
  shipped out-of-scope examples or ``data/eval/out_of_scope.jsonl``), never used to choose anything.

For every domain also: questions about the business itself (its phone, hours, address: in scope) and look-alikes
about other places and people (out of scope), ``benchmarks/data/business_basics_val.jsonl``: 84 + 42 messages, en
and es, written for this check by another author than ``data/scope/business_questions.jsonl`` and never fitted on.

Held out, for every domain (out of scope): ``benchmarks/data/scope_ood_val.jsonl`` (``written_ood_val``: 293 es,
93 en off-topic messages, half of them in a store's own words) and ``benchmarks/data/business_lookalikes_val.jsonl``
(``near_miss_val``: 77 es, 74 en look-alikes of questions about the business), by a third author blind to every set
here; written as training data and measured as such once (docs/graph.md, "A second batch of written examples").

A fourth author's store-chat messages, ``benchmarks/data/scope_val_2.jsonl`` (``store_val2_out``: 200 es, 100 en
off-topic, a third or more in shop words; ``store_val2_in``, demo store only: 150 es, 70 en customers of an online
electronics, home and fashion shop), written 2026-12-07 blind to the whole repository and never looked at line by
line: the data batches written that day had briefs that quoted misses of ``written_ood_val`` and
``business_basics``, so those sets no longer judge them.

Out of scope, for every domain: CLINC150 ``oos_val`` (100, the issue's set) and the ``val`` queries of the intents
outside that domain (intents a store, a bank or a hotel may serve left out for that domain; a seeded sample of
``--other-val``, the same texts for every domain); for the demo store also the hand-written out-of-scope dev records
(en, es). What the rail itself never sees: any query of these sets. The shipped conversations are Bitext (en) and
Nimbus (es) store conversations: the demo store's and ABCD's domain, not banking's or a hotel's (the rail keeps
them only where they match).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # retrieval_corpora (after the packages: benchmarks/graph.py)

import numpy as np  # noqa: E402
from scope_prior import CLINC_BANKING, CLINC_HOTEL, CLINC_STORE_OR_BOT, nlupp_queries  # noqa: E402

Rows = list[tuple[str, str]]
HOLD_OUT = {"demo": "store", "abcd": "store", "banking": "banking", "hotel": "hotel"}
SERVED = {"demo": CLINC_STORE_OR_BOT, "abcd": CLINC_STORE_OR_BOT, "banking": CLINC_STORE_OR_BOT | CLINC_BANKING,
          "hotel": CLINC_STORE_OR_BOT | CLINC_HOTEL}  # fmt: skip


@dataclass
class Domain:
    """A held-out knowledge base (JSONL article records) and its queries."""

    name: str
    articles: list[dict[str, Any]]
    inside: dict[str, Rows] = field(default_factory=dict)  # set name -> (text, lang)
    outside: dict[str, Rows] = field(default_factory=dict)
    dialogues: list[list[str]] = field(default_factory=list)  # customer turns, replayed through the graph in order
    questions: Rows = field(default_factory=list)  # the deployment's own customer questions (--own-questions)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _bitext(shared: Path, n: int, seed: int) -> Rows:
    from scope_prior import _csv

    from graph.scope import bundled_examples

    shipped = {t for t, _ in bundled_examples()[0]}
    rows = [
        r["instruction"] for r in _csv(shared / "bitext_cs" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz")
    ]
    rows = sorted({t for t in rows if t not in shipped})
    return [(t, "en") for t in random.Random(seed).sample(rows, min(n, len(rows)))]


def load_domains(
    shared: Path, names: list[str], seed: int = 0, other_val: int = 0, own_questions: bool = False
) -> list[Domain]:
    """The held-out domains named in ``names`` (see the module docstring)."""
    with gzip.open(shared / "clinc150" / "clinc150_train_val.json.gz") as handle:
        clinc = json.loads(handle.read())
    out = []
    for name in names:
        match name:
            case "demo":
                from retrieval.documents import load_documents

                docs = load_documents([ROOT / "data" / "kb"])
                domain = Domain(name, [{"id": d.id, "title": d.title or "", "text": d.text, "lang": d.lang or "en"}
                                       for d in docs])  # fmt: skip
                for r in _jsonl(ROOT / "data" / "eval" / "retrieval.jsonl"):
                    if r["split"] == "dev":
                        domain.inside.setdefault(f"eval_dev_{r['lang']}", []).append((r["query"], r["lang"]))
                for r in _jsonl(ROOT / "data" / "eval" / "out_of_scope.jsonl"):
                    if r["split"] == "dev":
                        where = domain.inside if r["in_scope"] else domain.outside
                        key = f"{'eval' if r['in_scope'] else 'written'}_dev_{r['lang']}"
                        where.setdefault(key, []).append((r["text"], r["lang"]))
                domain.inside["bitext"] = _bitext(shared, 400, seed)
            case "abcd":
                from retrieval_corpora import abcd

                corpus = abcd(shared)
                domain = Domain(name, corpus.articles)
                domain.inside["bitext"] = _bitext(shared, 400, seed + 1)
                domain.inside["abcd_customer_turns"] = [(q["query"], "en") for q in corpus.queries]
                previous = 0
                for q in corpus.queries:  # each query carries the turns before it: a shorter history starts one
                    if not domain.dialogues or len(q["turns"]) <= previous:
                        domain.dialogues.append([])
                    domain.dialogues[-1].append(q["query"])
                    previous = len(q["turns"])
            case "banking":
                import csv

                domain = Domain(name, _jsonl(ROOT / "benchmarks" / "data" / "banking_faq.jsonl"))
                with open(shared / "banking77" / "train.csv", encoding="utf-8") as handle:
                    rows = [r["text"] for r in csv.DictReader(handle)]
                evaluated = random.Random(seed).sample(rows, 1000)
                domain.inside["banking77_train"] = [(t, "en") for t in evaluated]
                if own_questions:
                    pool = sorted(set(rows) - set(evaluated))
                    domain.questions = [(t, "en") for t in random.Random(seed + 5).sample(pool, 500)]
                domain.inside["nlupp_banking"] = [(t, "en") for t in nlupp_queries(shared, "banking")]
            case "hotel":
                domain = Domain(name, _jsonl(ROOT / "benchmarks" / "data" / "hotel_faq.jsonl"))
                hotels = [(t, "en") for t in nlupp_queries(shared, "hotels")]
                if own_questions:  # a seeded half is the hotel's own questions, the other half its in-scope set
                    order = random.Random(seed + 5).sample(range(len(hotels)), len(hotels))
                    domain.questions = [hotels[i] for i in sorted(order[: len(hotels) // 2])]
                    hotels = [hotels[i] for i in sorted(order[len(hotels) // 2 :])]
                domain.inside["nlupp_hotels" + ("_other_half" if own_questions else "")] = hotels
                # Spanish customers of the English-only FAQ, and Spanish off-topic messages: written for this check
                # (dev: looked at while choosing; val: held out, its aggregate only)
                for part, prefix in (("dev", "written_es_"), ("val", "val_es_")):
                    for r in _jsonl(ROOT / "benchmarks" / "data" / f"hotel_es_{part}.jsonl"):
                        where = domain.inside if r["in_scope"] else domain.outside
                        where.setdefault(prefix + ("hotel" if r["in_scope"] else "off_topic"), []).append(
                            (r["text"], "es")
                        )
            case _:
                raise SystemExit(f"unknown domain {name!r}: use demo, abcd, banking, hotel")
        # questions about the business itself (its phone, hours, address) and look-alikes about other places and
        # people: written for this check by another author than data/scope/business_questions.jsonl, never fitted on
        for r in _jsonl(ROOT / "benchmarks" / "data" / "business_basics_val.jsonl"):
            where = domain.inside if r["in_scope"] else domain.outside
            where.setdefault("business_basics" if r["in_scope"] else "business_near_miss", []).append(
                (r["text"], r["lang"])
            )
        # a third author's off-topic messages (300 es, 100 en; half use shop words: homework on VAT, SQL over an
        # orders table, other carriers' parcels) and look-alikes of business questions, blind to every set here;
        # written as training data, and fitted on they cost more than they gave (docs/graph.md, "A second batch of
        # written examples")
        for file, label in (("scope_ood_val", "written_ood_val"), ("business_lookalikes_val", "near_miss_val")):
            for r in _jsonl(ROOT / "benchmarks" / "data" / f"{file}.jsonl"):
                domain.outside.setdefault(label, []).append((r["text"], r["lang"]))
        # a fourth author's store-chat messages, written blind to everything in the repository after the
        # 2026-12-07 data batches (whose brief had been written after reading the misses of the sets above):
        # off-topic ones for every domain, the in-scope ones for the demo store (an online electronics, home and
        # fashion shop, as the author was told)
        for r in _jsonl(ROOT / "benchmarks" / "data" / "scope_val_2.jsonl"):
            if r["label"] == "out":
                domain.outside.setdefault("store_val2_out", []).append((r["text"], r["lang"]))
            elif name == "demo":
                domain.inside.setdefault("store_val2_in", []).append((r["text"], r["lang"]))
        domain.outside["clinc_oos_val"] = [(t, "en") for t, _ in clinc["oos_val"]]
        other = [(t, "en") for t, i in clinc["val"] if i not in SERVED[name]]
        if 0 < other_val < len(other):  # a seeded sample: the same texts for every domain's set
            other = random.Random(2).sample(other, other_val)
        domain.outside["clinc_other_val"] = other
        out.append(domain)
    return out


def index_folder(domain: Domain, home: Path, embedder: Any) -> Path:
    """The domain's index under ``home/scope_bench/``, built once per article set."""
    import hashlib

    from retrieval.ingest import ingest
    from retrieval.store import live_version

    blob = "\n".join(json.dumps(a, sort_keys=True) for a in domain.articles)
    folder = home / "scope_bench" / f"{domain.name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"
    if live_version(folder) is None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder.parent / f"{domain.name}.jsonl").write_text(blob + "\n", encoding="utf-8")
        ingest([folder.parent / f"{domain.name}.jsonl"], folder, embedder=embedder, cache_dir=home)
    return folder


def build_index(domain: Domain, home: Path, embedder: Any) -> Any:
    """The domain's index (:func:`index_folder`), loaded."""
    from retrieval.store import read_version

    return read_version(index_folder(domain, home, embedder), with_search=False)


def replay_rows(domains: list[Domain], home: Path, misses: int = 0) -> list[tuple[str, str, str, str, int, float]]:
    """The dialogues of a domain sent turn by turn through the chat graph (rag, extractive; one session each):
    the share of customer turns routed out of scope or refused. The graph resolves follow-ups ("Crystal Minh"
    after a question about a refund) and answers small talk before the scope rail sees them."""
    import tempfile

    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.service import ChatService
    from retrieval.embeddings import load_embedder

    rows = []
    for domain in [d for d in domains if d.dialogues]:
        folder = index_folder(domain, home, load_embedder(cache_dir=home))
        with tempfile.TemporaryDirectory(prefix="scope-replay-") as work:
            service = ChatService(GraphConfig(index_dir=folder, checkpoint_db=Path(work) / CHECKPOINT_FILE,
                                              store_db=Path(work) / STORE_FILE, cache_dir=home))  # fmt: skip
            turns = [(turn, f"{domain.name}-{i}") for i, dialogue in enumerate(domain.dialogues) for turn in dialogue]
            routes = [service.chat(turn, session_id=session)["route"] for turn, session in turns]
        declined = [r not in ("out_of_scope", "refused") for r in routes]
        wrong = [
            (route, turn)
            for (turn, _), route in zip(turns, routes, strict=True)
            if route in ("out_of_scope", "refused")
        ]
        for route, turn in wrong[:misses]:
            print(f"  miss {domain.name} dialogues through the graph (in): {route} {turn}", flush=True)
        rows.append(
            (domain.name, "en", "in", f"{domain.name}_dialogues_through_the_graph", len(routes), _rate(declined))
        )
    return rows


def _rate(flags: list[bool]) -> float:
    return 1 - sum(flags) / len(flags)


def rail_rows(domains: list[Domain], home: Path, misses: int = 0) -> list[tuple[str, str, str, str, int, float]]:
    """(domain, lang, in|out, set, n, share refused) of the scope rail fitted on each domain's index; ``misses``:
    print up to this many misrouted messages of each set (refused in-scope ones, accepted out-of-scope ones)."""
    from graph.nodes.check_scope import anchor, gibberish, respeller, scope_verdict
    from graph.rails.acts import escalation, small_talk
    from graph.rails.fit import cached_encode
    from graph.scope import fit_scope
    from retrieval.conversation import without_asides
    from retrieval.embeddings import load_embedder
    from retrieval.search import KnowledgeBase

    embedder = load_embedder(cache_dir=home)
    encode = cached_encode(embedder.encode, embedder.name.replace("/", "_"), home / "scope" / "bench")

    def embed(text: str) -> Any:
        return encode([text])[0]

    rows = []
    fits = [(d, d.name, ()) for d in domains] + [(d, f"{d.name} + own questions", d.questions)
                                                 for d in domains if d.questions]  # fmt: skip
    for domain, label, questions in fits:
        started = time.perf_counter()
        data = build_index(domain, home, embedder)
        model = fit_scope(data, encode, cache=home / "scope" / embedder.name.replace("/", "_"),
                          customer_questions=questions)  # fmt: skip
        kb = KnowledgeBase.open(index_folder(domain, home, embedder), home)  # its speller
        print(f"{label}: fitted in {time.perf_counter() - started:.0f} s, thresholds {model.thresholds}", flush=True)
        for kind, sets in (("in", domain.inside), ("out", domain.outside)):
            for set_name, items in sets.items():
                # as the graph reads a message: without the asides that open it ("also,", "por cierto,")
                texts, langs = [without_asides(t) for t, _ in items], [lang for _, lang in items]
                vectors = encode(texts)
                probs = model.probabilities(vectors, texts, langs)
                decided = model.decide(vectors, texts, langs)
                # As the graph routes: small talk ("great, thanks") is answered in kind and a request for a person
                # ("quiero hablar con una persona real") handed off by the input rails before the scope rail runs:
                # not a refusal of a customer, not an answer to an off-topic question.
                routed = [bool(small_talk(t)) or escalation(t)["handoff"] for t in texts]
                accepted = [(kind == "in") if routed[i] else
                            bool(d) and not (gibberish(t) and model.coverage(t, lang) == 0.0)
                            for i, (t, lang, d) in enumerate(zip(texts, langs, decided, strict=True))
                            ]  # fmt: skip

                # ... and a refused message is in scope when one article uses all its words, or is read again with
                # its typos fixed (graph.nodes.check_scope.anchor, respeller)
                for i, (t, lang) in enumerate(zip(texts, langs, strict=True)):
                    if not accepted[i] and not routed[i]:
                        respell = respeller(kb, embed, lang)
                        verdict = scope_verdict(model, vectors[i], t, lang, None, respell, anchor(kb, lang), embed)
                        accepted[i] = verdict["in_scope"]
                wrong = [(float(p), t) for t, p, a in zip(texts, probs, accepted, strict=True) if a != (kind == "in")]
                for p, t in sorted(wrong, reverse=kind == "out")[:misses]:
                    print(f"  miss {label} {set_name} ({kind}): {p:.3f} {t}", flush=True)
                for lang in sorted(set(langs)):
                    mine = [a for a, x in zip(accepted, langs, strict=True) if x == lang]
                    rows.append((label, lang, kind, set_name, len(mine), _rate(mine)))
    return rows


def prior_rows(domains: list[Domain], shared: Path, home: Path) -> list[tuple[str, str, int, float, float]]:
    """(domain, set, n, AUC against ``oos_val``, false refusals at 0.90 ``oos_val`` recall) of the support prior
    fitted without the domain's sources: the threshold is set on the evaluation set itself, its best case."""
    from scope_prior import all_sources, fit_support, training_rows
    from sklearn.metrics import roc_auc_score

    from graph.rails.classifier import use_encode
    from graph.rails.fit import cached_encode

    use = cached_encode(use_encode, "use", home / "scope" / "bench")
    sources, out = all_sources(shared), []
    for domain in domains:
        texts, labels, _ = training_rows(sources, leave_out=[HOLD_OUT[domain.name]])
        prior = fit_support(texts, labels, use(texts))
        off = prior.decision_function(use([t for t, _ in domain.outside["clinc_oos_val"]]))
        cut = float(np.quantile(off, 0.90))
        for set_name, items in domain.inside.items():
            scores = prior.decision_function(use([t for t, _ in items]))
            auc = roc_auc_score([1] * len(scores) + [0] * len(off), np.concatenate([scores, off]))
            out.append((domain.name, set_name, len(items), float(auc), float(np.mean(scores < cut))))
    return out


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--domains", default="demo,abcd,banking,hotel")
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot")
    parser.add_argument("--other-val", type=int, default=800, help="Sample of CLINC150 other-domain val (0: all).")
    parser.add_argument("--prior", action="store_true", help="Also measure the support prior (scope_prior.py).")
    parser.add_argument("--misses", type=int, default=0, help="Print up to N misrouted messages of each set.")
    parser.add_argument(
        "--own-questions", action="store_true", help="Also fit banking and hotel with their own customers' questions."
    )
    args = parser.parse_args()
    if not (args.shared / "clinc150").is_dir():
        print(f"skipped: {args.shared} (../shared/datasets) is not here")
        return
    domains = load_domains(args.shared, args.domains.split(","), other_val=args.other_val,
                           own_questions=args.own_questions)  # fmt: skip
    rows = rail_rows(domains, args.home, args.misses) + replay_rows(domains, args.home, args.misses)
    print("\n| domain | lang | set | n | false refusals | out-of-scope recall |")
    print("|---|---|---|---:|---:|---:|")
    for name, lang, kind, set_name, n, value in rows:
        cells = (f"{value:.1%}", "") if kind == "in" else ("", f"{value:.3f}")
        print(f"| {name} | {lang} | {set_name} | {n} | {cells[0]} | {cells[1]} |")
    if args.prior:
        print("\n| held-out domain | in-scope set | n | prior AUC vs oos_val | refused at 0.90 oos_val recall |")
        print("|---|---|---:|---:|---:|")
        for name, set_name, n, auc, refused in prior_rows(domains, args.shared, args.home):
            print(f"| {name} | {set_name} | {n} | {auc:.3f} | {refused:.1%} |")


if __name__ == "__main__":
    main()
