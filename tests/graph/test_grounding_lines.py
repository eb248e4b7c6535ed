"""Groundedness across a passage's lines: a negation cue never reaches past the end of its line.

A QA pass as a phone-repair shop's operator (2026-12-07): an HTML help page whose first line was the heading
"Sin h1" (es: "without ...") and whose next paragraph was "Vendemos fundas para todos los modelos..." was never
answered. "sin" negated "vendemos fundas" across the paragraph break, so the extractive answer, that paragraph's
own sentence verbatim, was judged unsupported and every "¿vendéis fundas?" was handed off to a person.
"""

from __future__ import annotations

from graph.rails.grounding import check_grounded, polar_stems


def test_a_heading_with_a_negation_does_not_negate_the_next_paragraph() -> None:
    for heading in ("Sin h1", "Sin título", "Sin cita previa"):
        passages = [{"title": "", "text": f"{heading}\n\nVendemos fundas para todos los modelos desde 9,90 EUR."}]
        answer = "Vendemos fundas para todos los modelos desde 9,90 EUR. [1]"
        verdict = check_grounded(answer, passages, "es")
        assert verdict["grounded"], (heading, verdict)
    passages = [{"title": "Walk-ins", "text": "No appointment needed\nWe repair screens while you wait."}]
    assert check_grounded("We repair screens while you wait. [1]", passages, "en")["grounded"]


def test_a_table_row_ending_in_no_does_not_negate_the_next_row() -> None:
    table = "Repair | Passcode needed\nScreen | No\nBattery | No\nMotherboard | Yes"
    stems = polar_stems(table, "en")
    assert "motherboard" in stems and "~motherboard" not in stems and "~battery" not in stems


def test_a_negation_inside_a_line_still_counts() -> None:
    passages = [{"title": "Water damage", "text": "Do not put a wet phone in rice.\nBring it to a shop."}]
    assert not check_grounded("Put a wet phone in rice. [1]", passages, "en")["grounded"]
    assert polar_stems("Sin cita previa", "es")[0].startswith("~")
