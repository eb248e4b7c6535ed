"""Suite scoring on hand-made turns: consistency, edge cases, bias pairs, scope and QA rows."""

from __future__ import annotations

from typing import Any

import pytest

from evaluation import scoring
from evaluation.kpis import aggregate

ANSWER = "You can return any item within 30 days of delivery."
SOURCE = {"doc_id": "return-policy-en", "text": "You can return any item within 30 days of delivery."}


def turn(suite: str, id: str, lang: str = "en", mode: str = "rag", **fields: Any) -> dict[str, Any]:
    base = {"suite": suite, "id": id, "lang": lang, "mode": mode, "message": "q", "answer": ANSWER,
            "route": "answered", "sources": [SOURCE], "latency_ms": 10.0, "node_latency_ms": {}, "tokens_generated": 0,
            "error": None, "meta": {}}  # fmt: skip
    base.update(fields)
    return base


def kpis(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {name: per["rag"]["all"].value for name, per in aggregate(rows, n_resamples=100).items()}


def test_qa_scores_perfect_and_zero(embedder: Any) -> None:
    good = turn("qa", "q1", meta={"reference": ANSWER, "gold_ids": ["return-policy-en"]})
    bad = turn("qa", "q2", answer="", route="refused", sources=[], meta={"reference": ANSWER, "gold_ids": ["x-en"]})
    values = {name: per["rag"] for name, per in aggregate(scoring.score_qa([good], embedder), n_resamples=100).items()}
    for name in ("rouge_l", "chrf", "groundedness", "context_recall", "language_match"):
        assert values[name]["en"].value == pytest.approx(1.0), name
    assert values["handoff_rate"]["en"].value == 0.0 and values["false_refusal_rate"]["en"].value == 0.0
    zero = kpis(scoring.score_qa([bad], embedder))
    for name in ("rouge_l", "chrf", "embedding_similarity", "context_recall", "language_match"):
        assert zero[name] == 0.0, name
    assert zero["false_refusal_rate"] == 1.0
    assert "groundedness" not in zero  # only answered turns are checked for support
    assert good["scores"]["rouge_l"] == 1.0


def test_scope_rows_give_precision_recall_and_false_refusals() -> None:
    turns = [
        turn("scope", "o1", route="out_of_scope", meta={"in_scope": False}),
        turn("scope", "o2", route="answered", meta={"in_scope": False}),
        turn("scope", "i1", route="refused", meta={"in_scope": True}),
        turn("scope", "i2", route="answered", meta={"in_scope": True}),
    ]
    values = kpis(scoring.score_scope(turns))
    assert values["oos_precision"] == 0.5 and values["oos_recall"] == 0.5 and values["oos_f1"] == 0.5
    assert values["false_refusal_rate"] == 0.5


def test_operational_rows_skip_errors() -> None:
    turns = [turn("qa", "a", latency_ms=10.0, tokens_generated=4), turn("qa", "b", latency_ms=30.0, tokens_generated=8),
             turn("qa", "c", error="boom", latency_ms=999.0)]  # fmt: skip
    values = kpis(scoring.score_operational(turns))
    assert values["latency_p50_ms"] == 20.0 and values["tokens_generated"] == 6.0


def test_consistency_identical_answers_score_one_and_disjoint_sources_zero(embedder: Any) -> None:
    same = [turn("consistency", f"cons-en-01#{i}", meta={"group": "cons-en-01", "paraphrase": i}) for i in range(3)]
    same += [turn("consistency", f"cons-es-01#{i}", lang="es", sources=[{"doc_id": "return-policy-es"}],
                  meta={"group": "cons-es-01", "paraphrase": i}) for i in range(3)]  # fmt: skip
    values = kpis(scoring.score_consistency(same, embedder))
    assert values["consistency_sources"] == 1.0
    assert values["consistency_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert values["crosslingual_sources"] == 1.0  # return-policy-en and -es are the same topic
    apart = [turn("consistency", f"cons-en-02#{i}", sources=[{"doc_id": f"doc{i}-en"}], answer="" if i else ANSWER,
                  meta={"group": "cons-en-02", "paraphrase": i}) for i in range(2)]  # fmt: skip
    values = kpis(scoring.score_consistency(apart, embedder))
    assert values["consistency_sources"] == 0.0 and values["consistency_similarity"] == 0.0


def test_edge_cases_count_expected_routes_and_exceptions() -> None:
    turns = [turn("edge", "e1", route="out_of_scope", meta={"expected_route": "out_of_scope"}),
             turn("edge", "e2", route="answered", meta={"expected_route": "refused"}),
             turn("edge", "e3", route="error", error="ValueError: empty", meta={"expected_route": "out_of_scope"}),
             turn("edge", "e4", route="refused", meta={"expected_route": "refused"})]  # fmt: skip
    values = kpis(scoring.score_edge(turns))
    assert values["edge_route_accuracy"] == 0.5
    assert values["edge_error_rate"] == 0.25
    assert kpis(scoring.score_edge(turns[:1]))["edge_route_accuracy"] == 1.0
    assert kpis(scoring.score_edge(turns[1:2]))["edge_route_accuracy"] == 0.0


def test_bias_pairs_parity_similarity_and_refusals(embedder: Any) -> None:
    benign = {"expected_route": "answered"}
    harmful = {"expected_route": "refused"}
    turns = [
        turn("bias", "p1", meta={**benign, "variant": "a"}), turn("bias", "p1", meta={**benign, "variant": "b"}),
        turn("bias", "p2", meta={**benign, "variant": "a"}),
        turn("bias", "p2", route="refused", answer="Sorry.", sources=[], meta={**benign, "variant": "b"}),
        turn("bias", "p3", route="refused", meta={**harmful, "variant": "a"}),
        turn("bias", "p3", route="refused", meta={**harmful, "variant": "b"}),
    ]  # fmt: skip
    values = kpis(scoring.score_bias(turns, embedder))
    assert values["bias_refusal_parity"] == pytest.approx(2 / 3)  # p2 refused only one side
    assert values["bias_false_refusal_rate"] == 0.25  # 1 of 4 benign messages declined
    assert values["bias_harmful_refusal_rate"] == 1.0
    assert values["bias_source_agreement"] == 0.5  # p1 same sources, p2 none in common
    one = kpis(scoring.score_bias(turns[:2], embedder))
    assert one["bias_answer_similarity"] == pytest.approx(1.0, abs=1e-5) and one["bias_refusal_parity"] == 1.0


def test_topic_strips_the_language_suffix() -> None:
    assert scoring.topic("return-policy-en") == "return-policy"
    assert scoring.topic("return-policy-es") == "return-policy"
    assert scoring.topic("return-policy-2023-en") == "return-policy-2023"
    assert scoring.topic("faq") == "faq"


def test_source_agreement_compares_the_cited_articles_not_the_retrieved_ones(embedder: Any) -> None:
    # docs/evaluation.md: paraphrases are compared on "the cited articles", bias pairs on "their sources". Since the
    # turns carry `shown` (every passage retrieved for the generator, for context recall and groundedness), these
    # compared the retrieved lists, which overlap for neighbouring questions whatever article the answer cites.
    shown = [{"doc_id": d} for d in ("return-policy-en", "how-to-return-en", "refund-policy-en")]
    cited = ("return-policy-en", "refund-policy-en")
    group = [turn("consistency", f"cons-en-01#{i}", shown=shown, sources=[{"doc_id": cited[i]}],
                  meta={"group": "cons-en-01", "paraphrase": i}) for i in range(2)]  # fmt: skip
    twins = [turn("consistency", f"cons-es-01#{i}", lang="es", shown=shown, sources=[{"doc_id": "warranty-es"}],
                  meta={"group": "cons-es-01", "paraphrase": i}) for i in range(2)]  # fmt: skip
    values = kpis(scoring.score_consistency(group + twins, embedder))
    assert values["consistency_sources"] == 0.5  # en: return-policy vs refund-policy 0, es: warranty twice 1
    assert values["crosslingual_sources"] == 0.0  # the es answers cite the warranty, the en ones return/refund
    pair = [turn("bias", "p1", shown=shown, sources=[{"doc_id": cited[i]}],
                 meta={"expected_route": "answered", "variant": v}) for i, v in enumerate("ab")]  # fmt: skip
    assert kpis(scoring.score_bias(pair, embedder))["bias_source_agreement"] == 0.0
