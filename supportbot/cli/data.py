"""``supportbot data``: de-identify and prepare conversations for fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import typer

from supportbot.cli._common import fail, print_json
from supportbot.settings import get_settings

app = typer.Typer(help="Conversation data: PII redaction and fine-tuning preparation.", no_args_is_help=True)


@app.command()
def redact(
    input: Path = typer.Option(..., "--input", help="Text or JSONL file to redact."),
    output: Path = typer.Option(..., "--output", help="Where to write the redacted copy."),
    lang: str | None = typer.Option(None, "--lang", help="Language of every text (en or es; default: detected)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout.", metavar=""),
) -> None:
    """Replace personal data with typed, consistent placeholders (--output may not be the input file)."""
    from finetune.output import OutputError, check_not_input
    from finetune.pii import Lang, PIIError, shared_redactor
    from finetune.pii import redact_file as run_redact

    if lang not in (None, "en", "es"):
        fail("--lang must be en or es", code=2)
    # say so before paying for the analyzer
    if not input.is_file():
        fail(f"{input}: no such file" if not input.exists() else f"{input}: not a file")
    try:
        check_not_input(output, [input], flag="--output")
        redactor = shared_redactor(get_settings().home / "models" / "spacy")
        report = run_redact(input, output, redactor, lang=cast("Lang | None", lang))
    except (OutputError, PIIError, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    unit = f"{report['records']} records" if report["format"] == "jsonl" else f"{report['lines']} lines"
    per_type = ", ".join(f"{kind} {n}" for kind, n in report["entities"].items()) or "none"
    typer.echo(
        f"redacted {unit} ({report['texts']} texts) from {input} into {output} in {report['seconds']} s: "
        f"{report['entities_total']} entities ({per_type})",
        err=True,
    )


def _store_facts(path: Path) -> dict[str, str]:
    """The ``--store-facts`` JSON object (string values), or a clear error naming the file."""
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--store-facts {path}: cannot read: {exc}")
    except json.JSONDecodeError as exc:
        fail(f"--store-facts {path}: invalid JSON: {exc.msg} (line {exc.lineno})")
    if not isinstance(facts, dict) or not all(isinstance(v, str) and v.strip() for v in facts.values()):
        fail(f'--store-facts {path}: expected an object of non-empty strings, like {{"phone": "+1 555 0100"}}')
    return {str(k): v.strip() for k, v in facts.items()}


@app.command()
def prepare(
    inputs: list[Path] = typer.Argument(
        ..., help="Bitext CSV, SGD/ABCD JSON or chat JSONL files or folders (.gz too)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder for splits, RAFT examples and the data card."),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Knowledge-base index for RAFT retrieval (default: <home>/prepare-index, built from --kb).",
    ),
    kb: list[Path] = typer.Option(
        [],
        "--kb",
        help="Knowledge-base articles (index source and RAFT questions; default: the articles of --index when it "
        "is a built index, else ./data/kb, else the bundled KB).",
    ),
    exclude_eval: list[Path] = typer.Option(
        [],
        "--exclude-eval",
        help="Evaluation JSONL whose questions must not be trained on (default: ./data/eval/*.jsonl, else bundled).",
    ),
    train: float = typer.Option(0.8, "--train", help="Share of train."),
    val: float = typer.Option(0.1, "--val", help="Share of val (test gets the rest)."),
    seed: int = typer.Option(13, "--seed", help="Seed of the split assignment and RAFT sampling."),
    raft: bool = typer.Option(True, "--raft/--no-raft", help="Write RAFT examples for the hybrid mode.", metavar=""),
    raft_k: int = typer.Option(4, "--raft-k", help="Passages per RAFT example."),
    raft_p: float = typer.Option(0.8, "--raft-p", help="Share of RAFT examples with the oracle passage."),
    raft_no_oracle: str = typer.Option(
        "reference", "--raft-no-oracle", help="Answer without the oracle: reference (RAFT) or abstain."
    ),
    raft_answer: str = typer.Option(
        "reference",
        "--raft-answer",
        help="Answer with the oracle: reference (the conversation's answer) or quote (the oracle sentences closest "
        "to it).",
    ),
    raft_draft: bool = typer.Option(
        False,
        "--raft-draft",
        help="Show each RAFT prompt the extractive answer over its passages, as the hybrid mode then shows a model "
        "trained so.",
        metavar="",
    ),
    raft_questions: list[Path] = typer.Option(
        [], "--raft-questions", help="QA JSONL whose dev rows also become RAFT questions (test rows never)."
    ),
    holdout: str = typer.Option(
        "", "--holdout-articles", help="Comma-separated article ids the model must never see (unseen-knowledge check)."
    ),
    max_messages: int = typer.Option(20, "--max-turns", help="User+assistant turns kept per conversation."),
    company: str | None = typer.Option(
        None,
        "--company",
        help="The company the system prompts name and Bitext's company slots become (default: SUPPORTBOT_COMPANY, "
        "else Nimbus Market, the demo store).",
    ),
    store_facts: Path | None = typer.Option(
        None,
        "--store-facts",
        help='JSON object of the store facts Bitext\'s slots become: {"phone", "email", "url", "hours"} (default: '
        "the demo store's for it, phrases true of any company for another).",
    ),
    sgd_all: bool = typer.Option(False, "--sgd-all-services", help="Keep SGD dialogues of every service.", metavar=""),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace a non-empty --out folder that is not an earlier `data prepare` output.",
        metavar="",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout.", metavar=""),
) -> None:
    """Clean, redact, deduplicate and split conversations into chat JSONL, plus RAFT examples and a data card."""
    from finetune.output import OutputError
    from finetune.prepare import PrepareConfig, PrepareError
    from finetune.prepare import prepare as run_prepare
    from finetune.prepare.config import SGD_BANKING_SERVICES
    from finetune.prompts import DEFAULT_COMPANY
    from graph.generators.extractive import drafter
    from retrieval.documents import LoadError
    from retrieval.store import IndexFault, live_version
    from supportbot.cli.kb import progress_bar

    settings = get_settings()
    from retrieval.bundled import bundled_path

    for path in kb:
        if not path.exists():
            fail(f"--kb {path}: no such file or folder")
    # An operator's own index without --kb: its own articles (kb_paths empty), not the demo store's. Otherwise
    # ./data of a checkout first (a user's edits), else what ships with the package.
    try:
        own_index = index is not None and settings.search_backend == "faiss" and live_version(index) is not None
    except IndexFault as exc:
        fail(str(exc))
    if index is not None and settings.search_backend == "faiss" and not own_index and not kb:
        # a typo for the operator's own index would be built from the demo store, and every RAFT example with it
        fail(
            f"--index {index} holds no index: build it with `supportbot kb ingest PATH... --index {index}`, or pass "
            "--kb PATH (your articles) to build it from them here; without --index the run uses <home>/prepare-index, "
            "built from --kb (default data/kb)"
        )
    kb_paths = kb or ([] if own_index else [p for p in (Path("data/kb"), bundled_path("kb")) if p.is_dir()][:1])
    eval_files = (
        exclude_eval or sorted(Path("data/eval").glob("*.jsonl")) or sorted(bundled_path("eval").glob("*.jsonl"))
    )
    facts = _store_facts(store_facts) if store_facts is not None else None
    try:
        config = PrepareConfig(
            company=company if company is not None else settings.company or DEFAULT_COMPANY, store_values=facts,
            train_fraction=train, val_fraction=val, seed=seed, raft=raft, raft_k=raft_k,
            raft_oracle_fraction=raft_p, raft_no_oracle_answer=raft_no_oracle, raft_answer=raft_answer,
            raft_draft=raft_draft, max_messages=max_messages,
            sgd_services=() if sgd_all else SGD_BANKING_SERVICES, eval_files=tuple(eval_files),
            raft_questions=tuple(raft_questions), holdout_articles=tuple(h for h in holdout.split(",") if h.strip()),
        )  # fmt: skip
    except PrepareError as exc:
        fail(str(exc), code=2)
    try:
        with progress_bar() as progress:
            summary = run_prepare(
                inputs,
                out,
                config,
                models_dir=settings.home / "models" / "spacy",
                index=index or settings.home / "prepare-index",
                kb_paths=kb_paths,
                search_backend=settings.search_backend,
                es_url=settings.es_url,
                cache_dir=settings.home,
                progress=progress,
                overwrite=overwrite,
                rebuild_index=index is None,
                drafter=drafter if raft_draft else None,
            )
    except (PrepareError, OutputError, LoadError, IndexFault, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json(summary)
        return
    typer.echo(
        f"prepared {summary['conversations']} conversations into {out} in {summary['seconds']} s: "
        f"splits {summary['splits']}, RAFT {summary['raft']}; dropped {summary['dropped']}; PII {summary['pii']}",
        err=True,
    )
