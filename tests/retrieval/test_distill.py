"""Multilingual distillation: a few steps on a handful of pairs give a loadable student closer to the teacher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from retrieval.distill import REPORT, DistillConfig, DistillError, distill, kb_pairs, stsb_pairs
from retrieval.documents import load_documents
from retrieval.embeddings import BUNDLED, is_bilingual, load_embedder

EN = ["A man is playing a guitar.", "A woman is slicing an onion.", "The dog runs in the park.", "I lost my bag."]
ES = ["Un hombre toca la guitarra.", "Una mujer corta una cebolla.", "El perro corre en el parque.", "Perdí mi bolso."]


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    """A tiny stsb_multi_mt: two rows per split, en and es aligned by line, no header; the test split is absent."""
    folder = tmp_path / "datasets" / "stsb_multi_mt"
    folder.mkdir(parents=True)
    for lang, sentences in (("en", EN), ("es", ES)):
        for split, rows in (("train", [(0, 1)]), ("dev", [(2, 3)])):
            lines = [f'"{sentences[a]}","{sentences[b]}",1.5' for a, b in rows]
            (folder / f"stsb-{lang}-{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder.parent


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """Two articles and their Spanish translations, plus an untranslated one."""
    records = [
        {"id": "refund-en", "lang": "en", "title": "Refunds", "text": "We refund within 5 days.",
         "translation_of": "refund-es"},
        {"id": "refund-es", "lang": "es", "title": "Reembolsos", "text": "Reembolsamos en 5 días.",
         "translation_of": "refund-en"},
        {"id": "track-en", "lang": "en", "title": "Track your order", "text": "Use the tracking link.",
         "translation_of": "track-es"},
        {"id": "track-es", "lang": "es", "title": "Sigue tu pedido", "text": "Usa el enlace de seguimiento.",
         "translation_of": "track-en"},
        {"id": "alone-en", "lang": "en", "title": "Gift cards", "text": "Gift cards never expire."},
    ]  # fmt: skip
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


def test_parallel_data_readers(datasets: Path, kb: Path) -> None:
    assert [(p.en, p.es) for p in stsb_pairs(datasets)] == list(zip(EN, ES, strict=True))
    pairs = kb_pairs(load_documents([kb]))
    assert [p.source for p in pairs] == ["kb_titles", "kb_texts"] * 2
    assert (pairs[0].en, pairs[0].es) == ("Refunds", "Reembolsos")
    assert pairs[1].es == "Reembolsos\nReembolsamos en 5 días."


def test_distill_gives_a_loadable_student_closer_to_the_teacher(tmp_path: Path, datasets: Path, kb: Path) -> None:
    out = tmp_path / "student"
    config = DistillConfig(epochs=5, batch_size=4, lr=3e-4, warmup=0.0, max_seq_length=32, kb_repeats=1)
    report = distill(out, datasets, [kb], config)

    assert report["pairs"] == {"stsb_multi_mt": 4, "kb_titles": 2, "kb_texts": 2}
    assert json.loads((out / REPORT).read_text())["steps"] == report["steps"] > 0
    assert is_bilingual(str(out)) and not is_bilingual(BUNDLED)  # search gives it the bilingual cross weights
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp folder is left behind"
    teacher, student = load_embedder(), load_embedder(str(out))
    assert student.dim == teacher.dim
    english, spanish = [*EN, "Refunds", "Track your order"], [*ES, "Reembolsos", "Sigue tu pedido"]
    target = teacher.encode(english)
    before = float(np.mean((teacher.encode(spanish) - target) ** 2))
    after = float(np.mean((student.encode(spanish) - target) ** 2))
    assert after < before
    assert report["mse_es_en_probe"]["after"] < report["mse_es_en_probe"]["before"]


def test_bad_out_and_missing_data_are_clear_errors(tmp_path: Path, kb: Path) -> None:
    from supportbot.cli import app

    a_file = tmp_path / "model.bin"
    a_file.write_text("not a folder")
    result = CliRunner().invoke(app, ["kb", "distill", "--out", str(a_file), "--kb", str(kb), "--datasets", "."])
    assert result.exit_code == 1
    assert "error:" in result.output and "existing file" in result.output and "Traceback" not in result.output
    negative = CliRunner().invoke(app, ["kb", "distill", "--out", str(tmp_path / "o"), "--max-stsb-pairs", "-1"])
    assert negative.exit_code != 0 and "Traceback" not in negative.output

    with pytest.raises(DistillError, match="parallel data not found"):
        distill(tmp_path / "out", tmp_path / "nowhere", [kb])
    unrelated = tmp_path / "mine"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("keep me")
    with pytest.raises(DistillError, match="refusing to overwrite"):
        distill(unrelated, None, [kb])
    assert (unrelated / "notes.txt").read_text() == "keep me"
