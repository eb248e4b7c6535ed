"""``supportbot guard``: run the guardrails on their own."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from supportbot.cli._common import fail, print_json

app = typer.Typer(help="Guardrails: score messages without running the whole agent.", no_args_is_help=True)


@app.command()
def scope(
    index: Path = typer.Option(..., "--index", help="Index folder the scope rail is fitted to."),
    input: Path = typer.Option(..., "--input", help="JSONL file of {id, text}; prints {id, in_scope, score}."),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the fitted threshold (0-1)."),
) -> None:
    """Score how well each message belongs to the knowledge base's domain."""
    if not input.is_file():
        fail(f"input file {input} does not exist")
    if threshold is not None and not 0 <= threshold <= 1:
        fail("--threshold must be between 0 and 1")
    records = []
    for number, line in enumerate(input.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{input}:{number}: invalid JSON: {exc.msg}")
        if not isinstance(record, dict) or not isinstance(record.get("text", record.get("query")), str):
            fail(f"{input}:{number}: expected an object with 'id' and 'text'")
        records.append(record)
    from retrieval.store import IndexError_
    from supportbot.settings import get_settings

    try:
        from graph.scope import load_or_fit
        from retrieval.embeddings import load_embedder
        from retrieval.language import detect_language
        from retrieval.store import read_version

        home = get_settings().home
        data = read_version(index, with_search=False)  # the embedder and backend that built the index, as in search
        embedder = load_embedder(data.manifest["embedder"], data.manifest.get("embedder_backend", "auto"), home)
        model = load_or_fit(index, data, embedder.encode, embedder.name, home)
    except IndexError_ as exc:
        fail(str(exc))
    texts = [str(r.get("text", r.get("query"))) for r in records]
    vectors = embedder.encode(texts) if texts else None
    for i, (record, text) in enumerate(zip(records, texts, strict=True)):
        lang = record.get("lang") or detect_language(text, default="en") or "en"
        score = model.score(vectors[i], text, lang) if text.strip() else 0.0  # type: ignore[index]
        cut = threshold if threshold is not None else model.threshold(lang)
        print_json({"id": record.get("id", i), "in_scope": bool(score >= cut), "score": round(score, 4)})
