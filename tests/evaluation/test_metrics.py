"""Every KPI on small inputs with known values, including a case scoring 0 and one scoring 1."""

from __future__ import annotations

import math
from typing import Any

import pytest

from evaluation import metrics as m

PASSAGE = "You can return any item within 30 days of delivery. Refunds reach your card in 5 business days."


def test_rouge_l_known_values() -> None:
    assert m.rouge_l("the cat sat", "the cat sat") == 1.0
    assert m.rouge_l("dog", "the cat sat") == 0.0
    assert m.rouge_l("", "the cat sat") == 0.0
    # LCS 2 of 2 answer words and 3 reference words: P=1, R=2/3, F1=0.8
    assert m.rouge_l("the cat", "the cat sat") == pytest.approx(0.8)


def test_rouge_l_is_accent_and_case_insensitive_for_spanish() -> None:
    assert m.rouge_l("Devolución en 30 DÍAS", "devolucion en 30 dias") == 1.0
    # rouge-score's default tokenizer would split "devolución" into "devoluci" + "n"; ours keeps one word
    assert m.rouge_l("devolución", "devolución rápida") == pytest.approx(2 * 0.5 / 1.5)


def test_chrf_known_values() -> None:
    assert m.chrf("the cat sat", "the cat sat") == 1.0
    assert m.chrf("xyz", "abc") == 0.0
    assert m.chrf("", "abc") == 0.0
    assert 0.0 < m.chrf("returns within 30 days", "return within 30 days") < 1.0


def test_embedding_similarity_known_values(embedder: Any) -> None:
    same, empty, unrelated, related = m.embedding_similarity(
        ["You can return items within 30 days.", "", "The weather in Paris is sunny.",
         "Returns are accepted for 30 days."],
        ["You can return items within 30 days.", "anything", "You can return items within 30 days.",
         "You can return items within 30 days."],
        embedder,
    )  # fmt: skip
    assert same == pytest.approx(1.0, abs=1e-5)
    assert empty == 0.0
    assert 0.0 <= unrelated < related < same


def test_embedding_similarity_needs_aligned_lists(embedder: Any) -> None:
    with pytest.raises(ValueError, match="1 answers but 2 references"):
        m.embedding_similarity(["a"], ["a", "b"], embedder)


def test_groundedness_known_values() -> None:
    assert m.groundedness("You can return any item within 30 days of delivery [1].", [PASSAGE]) == 1.0
    assert m.groundedness("We also sell rockets to Mars.", [PASSAGE]) == 0.0
    half = "You have 30 days to return an item. We also sell rockets to Mars."
    assert m.groundedness(half, [PASSAGE]) == 0.5
    # a wrong figure makes a sentence unsupported even though every word matches
    assert m.groundedness("You can return any item within 60 days of delivery.", [PASSAGE]) == 0.0
    assert m.groundedness("You can return any item within 30 days.", []) == 0.0
    assert m.groundedness("", [PASSAGE]) == 0.0


def test_groundedness_in_spanish_uses_spanish_stemming() -> None:
    passage = "Puedes devolver cualquier artículo en un plazo de 30 días desde la entrega."
    assert m.groundedness("Tienes 30 días para devolver los artículos.", [passage], "es") == 1.0
    assert m.groundedness("Regalamos cohetes a Marte.", [passage], "es") == 0.0


def test_groundedness_counts_negations_both_ways() -> None:
    free_en = "Returns are free within 30 days of delivery."
    not_free_en = "Returns are not free after 30 days of delivery."
    assert m.groundedness("Returns are free within 30 days.", [free_en]) == 1.0
    assert m.groundedness("Returns are not free within 30 days.", [free_en]) == 0.0
    assert m.groundedness("Returns are never free within 30 days.", [free_en]) == 0.0
    assert m.groundedness("Returns are free after 30 days.", [not_free_en]) == 0.0
    assert m.groundedness("Returns aren't free after 30 days.", [not_free_en]) == 1.0
    free_es = "Las devoluciones son gratuitas durante 30 días."
    assert m.groundedness("Las devoluciones son gratuitas durante 30 días.", [free_es], "es") == 1.0
    assert m.groundedness("Las devoluciones no son gratuitas durante 30 días.", [free_es], "es") == 0.0
    assert m.groundedness("Las devoluciones nunca son gratuitas.", [free_es], "es") == 0.0
    not_free_es = "Las devoluciones no son gratuitas fuera de plazo."
    assert m.groundedness("Las devoluciones son gratuitas fuera de plazo.", [not_free_es], "es") == 0.0
    no_fees = "No cobramos gastos de envío ni de devolución."
    assert m.groundedness("No cobramos gastos de devolución.", [no_fees], "es") == 1.0
    assert m.groundedness("Cobramos gastos de devolución.", [no_fees], "es") == 0.0


def test_groundedness_is_the_output_rails_check() -> None:
    from graph.rails.grounding import check_grounded

    answer = "You can return any item within 30 days of delivery. Refunds take 9 weeks. We sell rockets."
    verdict = check_grounded(answer, [{"text": PASSAGE}], "en")
    assert verdict["claims"] == 3 and verdict["supported"] == 1 and not verdict["grounded"]
    assert m.groundedness(answer, [PASSAGE]) == pytest.approx(1 / 3)
    assert m.groundedness(answer, [{"title": "Returns", "text": PASSAGE}]) == pytest.approx(1 / 3)


def test_context_recall_known_values() -> None:
    assert m.context_recall(["a-en", "b-en"], ["a-en"]) == 1.0
    assert m.context_recall(["c-en"], ["a-en"]) == 0.0
    assert m.context_recall(["a-en"], ["a-en", "b-en"]) == 0.5
    assert m.context_recall([], []) == 0.0


def test_language_match_known_values() -> None:
    assert m.language_match("Puedes devolver el pedido en un plazo de 30 días.", "es") == 1.0
    assert m.language_match("You can return the order within 30 days.", "es") == 0.0
    assert m.language_match("", "en") == 0.0


PERFECT = [(True, True), (False, False)]
WRONG = [(True, False), (False, True)]


def test_out_of_scope_precision_recall_f1_known_values() -> None:
    for fn in (m.oos_precision, m.oos_recall, m.oos_f1):
        assert fn(PERFECT) == 1.0
        assert fn(WRONG) == 0.0
    mixed = [(True, True), (True, False), (False, True), (False, False), (True, True)]  # tp 2, fn 1, fp 1
    assert m.oos_precision(mixed) == pytest.approx(2 / 3)
    assert m.oos_recall(mixed) == pytest.approx(2 / 3)
    assert m.oos_f1(mixed) == pytest.approx(2 / 3)
    assert math.isnan(m.oos_precision([(True, False)]))  # nothing declined: precision undefined


def test_false_refusal_and_handoff_rates_known_values() -> None:
    assert m.false_refusal_rate(["answered", "handoff"]) == 0.0
    assert m.false_refusal_rate(["refused", "out_of_scope"]) == 1.0
    assert m.false_refusal_rate(["answered", "refused", "handoff", "out_of_scope"]) == 0.5
    assert m.handoff_rate(["answered", "refused"]) == 0.0
    assert m.handoff_rate(["handoff"]) == 1.0
    assert m.handoff_rate(["handoff", "answered", "answered", "answered"]) == 0.25


def test_latency_percentiles_and_tokens_known_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert m.percentile(values, 50) == 50.5
    assert m.percentile(values, 95) == pytest.approx(95.05)
    assert m.percentile([7.0], 95) == 7.0
    assert math.isnan(m.percentile([], 50))
    assert m.mean_tokens([0, 0]) == 0.0
    assert m.mean_tokens([10, 20]) == 15.0


def test_node_latencies_collects_per_node() -> None:
    turns = [{"node_latency_ms": {"retrieve": 5, "generate": 10}}, {"node_latency_ms": {"retrieve": 7}}, {}]
    assert m.node_latencies(turns) == {"retrieve": [5.0, 7.0], "generate": [10.0]}
