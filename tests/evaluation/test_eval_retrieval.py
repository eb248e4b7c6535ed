"""`supportbot eval retrieval`: bad gold ids are refused with the file and the record, never scored as misses."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from supportbot.cli import app

runner = CliRunner()


def test_a_gold_id_the_index_does_not_hold_is_a_clear_error(bundled_index: Path, tmp_path: Path) -> None:
    # A typo in a gold id ("change-address-en" for change-shipping-address-en) scored that query as a miss at every
    # k, silently: R@5 of four queries read 0.5 for three good rankings.
    rows = [
        {"id": "r1", "lang": "en", "query": "how do I return something", "gold_ids": ["return-policy-en"]},
        {"id": "r2", "lang": "en", "query": "change my delivery address", "gold_ids": ["change-address-en"]},
        {"id": "r3", "lang": "es", "query": "formas de pago", "gold_ids": ["payment-methods-es"]},
    ]
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["eval", "retrieval", "--index", str(bundled_index), "--queries", str(queries)]
    result = runner.invoke(app, [*argv, "--json"])
    assert result.exit_code == 1, result.output
    assert f"error: {queries}: gold_ids that name no article of the index {bundled_index}: " in result.output
    assert "'change-address-en' (r2)" in result.output and result.stdout == "" and "Traceback" not in result.output
    rows[1]["gold_ids"] = ["change-shipping-address-en"]
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["overall"]["queries"] == 3


def test_split_all_reads_every_query_and_an_unknown_split_is_refused(bundled_index: Path, tmp_path: Path) -> None:
    # An operator's own queries have no split; `eval compare` reads them with --split all, and the report of a run
    # without --split says "split": "all". Until 2026-12-07 `eval retrieval --split all` answered "no queries in
    # split 'all'" (exit 1), and a typo such as --split tset said the same instead of naming the choices.
    rows = [
        {"id": "r1", "lang": "en", "query": "how do I return something", "gold_ids": ["return-policy-en"]},
        {"id": "r2", "lang": "es", "query": "formas de pago", "gold_ids": ["payment-methods-es"], "split": "dev"},
    ]
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["eval", "retrieval", "--index", str(bundled_index), "--queries", str(queries), "--json"]
    result = runner.invoke(app, [*argv, "--split", "all"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["split"] == "all" and document["metrics"]["overall"]["queries"] == 2
    result = runner.invoke(app, [*argv, "--split", "tset"])
    assert result.exit_code == 2 and "--split must be dev, test or all, got 'tset'" in result.output, result.output
    assert result.stdout == "" and "Traceback" not in result.output
