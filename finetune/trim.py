"""Vocabulary trimming: keep the tokens this product's text uses, drop the rest of a 262,144-token vocabulary.

Gemma 3 270M spends 63% of its parameters, and most of the compute of every generated token, on a tied embedding /
output head over 262,144 tokens. ``trim`` counts the tokens that the knowledge base, the conversations and general
es/en text produce, keeps those (plus special, turn-marker and byte-fallback tokens, and every token a kept token is
merged from, so BPE still reaches it), rewrites the tokenizer with the new ids and slices the embedding.

Text whose tokens were all kept tokenizes exactly as before (the merges that build them are all kept); other text
falls back to shorter pieces or bytes, never to an unknown token. ``benchmarks/model.py`` reports size, tokens/s and
held-out perplexity before and after.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from finetune.base_model import (
    BaseModelError,
    Log,
    is_base,
    read_provenance,
    vocab_fingerprint,
    write_provenance,
)
from finetune.output import building, check_output
from retrieval.bundled import bundled_path

DEFAULT_CORPUS = (bundled_path("kb"), bundled_path("conversations"))
# Token counts of general es/en text (STS-B en/es train sentences, Banking77 and CLINC150 train queries) under the
# Gemma 3 tokenizer, so customer wording beyond the bundled data keeps its tokens.
# Made by scripts/gemma_token_counts.py.
GENERAL_COUNTS = Path(__file__).resolve().parent / "resources" / "gemma3_general_token_counts.json.gz"
KEEP_MARKERS = ("<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>", "<mask>")


def corpus_texts(paths: Sequence[Path]) -> Iterator[str]:
    """Every string in the .jsonl/.json records and the .md/.txt/.csv files under ``paths`` (README files skipped)."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for root in paths:
        root = Path(root)
        if not root.exists():
            raise BaseModelError(f"--corpus {root}: no such file or folder")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.name.lower().startswith(("readme", "license")):
                continue
            if path.suffix == ".jsonl":
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        yield from strings(json.loads(line))
            elif path.suffix in (".md", ".txt", ".csv"):
                yield path.read_text(encoding="utf-8")


def count_tokens(tokenizer: Any, texts: Iterable[str], batch: int = 512) -> Counter[int]:
    """How often each token id occurs in ``texts``."""
    counts: Counter[int] = Counter()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) >= batch:
            for ids in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
                counts.update(ids)
            chunk = []
    if chunk:
        for ids in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    return counts


def _merge_pairs(merges: list[Any]) -> list[tuple[str, str]]:
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in merges]  # type: ignore[misc]


def keep_set(spec: dict[str, Any], counts: Counter[str], vocab_limit: int | None) -> set[str]:
    """Tokens kept: markers, byte-fallback tokens, the ``vocab_limit`` most used (all used when None), closed
    under BPE merges (every kept token's parts are kept too)."""
    vocab: dict[str, int] = spec["model"]["vocab"]
    keep = {t for t in KEEP_MARKERS if t in vocab}
    if spec["model"].get("byte_fallback"):  # unknown characters become <0xNN> byte tokens: keep all 256
        keep |= {t for t in vocab if len(t) == 6 and t.startswith("<0x") and t.endswith(">")}
    else:  # byte-level BPE: its single-character alphabet is what any text falls back to; and its own markers
        keep |= {t for t in vocab if len(t) == 1}
        keep |= {t["content"] for t in spec.get("added_tokens", []) if t.get("special") and t["content"] in vocab}
    used = [t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], vocab.get(item[0], 0)))]
    parents: dict[str, list[tuple[str, str]]] = {}
    for a, b in _merge_pairs(spec["model"]["merges"]):
        parents.setdefault(a + b, []).append((a, b))

    def close(token: str) -> None:
        stack = [token]
        while stack:
            t = stack.pop()
            if t in keep:
                continue
            keep.add(t)
            for pair in parents.get(t, ()):
                stack.extend(p for p in pair if p not in keep)

    for token in used:
        if vocab_limit is not None and len(keep) >= vocab_limit:
            break
        close(token)
    return keep


def trimmed_spec(spec: dict[str, Any], keep: set[str]) -> tuple[dict[str, Any], list[int]]:
    """The tokenizer.json with only ``keep`` (ids renumbered in their old order) and the old id of each new id."""
    vocab: dict[str, int] = spec["model"]["vocab"]
    old_ids = sorted(vocab[t] for t in keep)
    by_old = {old: new for new, old in enumerate(old_ids)}
    new_vocab = {t: by_old[i] for t, i in vocab.items() if i in by_old}
    spec = json.loads(json.dumps(spec))  # deep copy
    spec["model"]["vocab"] = new_vocab
    spec["model"]["merges"] = [
        [a, b] for a, b in _merge_pairs(spec["model"]["merges"]) if a in keep and b in keep and a + b in keep
    ]
    spec["added_tokens"] = [dict(t, id=by_old[t["id"]]) for t in spec["added_tokens"] if t["id"] in by_old]
    processor = spec.get("post_processor") or {}
    for name, entry in (processor.get("special_tokens") or {}).items():
        entry["ids"] = [new_vocab[name]]
    return spec, old_ids


def _load_general_counts(tokenizer: Any) -> Counter[str]:
    """The shipped general-text counts, when they were made with this tokenizer (else nothing)."""
    if not GENERAL_COUNTS.is_file():
        return Counter()
    with gzip.open(GENERAL_COUNTS, "rt", encoding="utf-8") as handle:
        shipped = json.load(handle)
    if shipped.get("vocab_fingerprint") != vocab_fingerprint(tokenizer):
        return Counter()
    return Counter({str(t): int(c) for t, c in shipped["counts"].items()})


KEPT_TOKENS_FILE = "kept_tokens.json.gz"


def write_kept_tokens(model_dir: Path, out: Path) -> None:
    """Save the vocabulary of a trimmed model (tokens in id order) so ``trim(tokens=...)`` can rebuild it exactly."""
    spec = json.loads((Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = [t for t, _ in sorted(spec["model"]["vocab"].items(), key=lambda item: item[1])]
    with gzip.open(out, "wt", encoding="utf-8") as handle:
        json.dump(tokens, handle, ensure_ascii=False)


def read_kept_tokens(path: Path) -> list[str]:
    """The token list written by :func:`write_kept_tokens`."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            tokens = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"--tokens {path}: unreadable ({exc})") from exc
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise BaseModelError(f"--tokens {path}: expected a JSON list of tokens")
    return tokens


def _tokens_to_keep(
    base: Path,
    tokenizer: Any,
    spec: dict[str, Any],
    *,
    vocab: int | None,
    corpus: Sequence[Path],
    tokens: Sequence[str] | None,
    log: Log,
) -> tuple[set[str], Counter[str]]:
    """The tokens to keep (the given list, or those the corpus and general text use, at most ``vocab``) and the
    general-text counts that went into the choice (empty for a given list)."""
    if tokens is not None:
        log("[1/4] keeping the given token list")
        unknown = [t for t in tokens if t not in spec["model"]["vocab"]]
        if unknown:
            raise BaseModelError(f"--base {base}: {len(unknown)} of the given tokens are not in its vocabulary "
                                 f"(e.g. {unknown[0]!r}): the list belongs to another base model")  # fmt: skip
        return set(tokens), Counter()
    log("[1/4] counting the tokens of the corpus and of general es/en text")
    id_to_token = {i: t for t, i in spec["model"]["vocab"].items()}
    counts = Counter({id_to_token[i]: c for i, c in count_tokens(tokenizer, corpus_texts(corpus)).items()})
    general = _load_general_counts(tokenizer)
    counts.update(general)
    return keep_set(spec, counts, vocab), general


def _sliced_model(base: Path, new_tok: Any, old_ids: list[int]) -> Any:
    """The base model with its (tied) embedding cut to the rows ``old_ids`` and the special-token ids of
    ``new_tok``."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    index = torch.tensor(old_ids)
    embedding: Any = model.get_input_embeddings()
    embedding.weight = torch.nn.Parameter(embedding.weight.detach()[index].clone())
    embedding.num_embeddings = len(old_ids)
    embedding.padding_idx = new_tok.pad_token_id
    model.config.vocab_size = len(old_ids)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        token = getattr(new_tok, name.replace("_id", ""))
        setattr(model.config, name, new_tok.convert_tokens_to_ids(token))
        if model.generation_config is not None:
            setattr(model.generation_config, name, new_tok.convert_tokens_to_ids(token))
    model.tie_weights()
    return model


def check_base_files(base: Path) -> None:
    """Refuse a base folder whose config, tokenizer or weights file is missing or damaged, naming the file (the checks
    a model load makes, :func:`finetune.inference.check_config` and :func:`finetune.inference.check_weights`).

    A truncated model.safetensors otherwise failed at the slicing step as "cannot write <out>: incomplete metadata",
    naming the output, not the base.
    """
    from finetune.inference import ModelLoadError, check_config, check_weights

    for name in ("config.json", "tokenizer.json"):
        if not (base / name).is_file():
            raise BaseModelError(f"--base {base}: {name} is missing; run `supportbot model pull --out {base}` first")
    fix = f"run `supportbot model pull --out {base} --force` (or give the base folder it came from)"
    try:
        for name in ("config.json", "tokenizer.json"):
            check_config(base, fix, name=name)
        check_weights(base, "model.safetensors", fix)
    except ModelLoadError as exc:
        raise BaseModelError(str(exc)) from exc


def trim(
    base: Path,
    out: Path,
    *,
    vocab: int | None = None,
    corpus: Sequence[Path] = DEFAULT_CORPUS,
    tokens: Sequence[str] | None = None,
    overwrite: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """Write a vocabulary-trimmed copy of the checkpoint ``base`` into ``out``.

    Args:
        base: a folder written by ``supportbot model pull`` (or any checkpoint with a BPE tokenizer.json).
        out: the trimmed model folder to create (replaced atomically).
        vocab: keep at most this many tokens (None: every token the corpus and general text use).
        corpus: files or folders whose text decides which tokens are used.
        tokens: keep exactly these tokens instead (a shipped adapter's ``kept_tokens.json.gz``: the same
            vocabulary it was trained on, whatever the corpus holds today).
        overwrite: replace a non-empty ``out`` that is not an earlier trim.
        log: where progress lines go.

    Raises:
        BaseModelError: a base folder that is missing, incomplete or not BPE, or a bad corpus path.
        OutputError: ``out`` is a file, cannot be written, holds the base or corpus, or holds other files and
            ``overwrite`` is off.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    started = time.time()
    base, out = Path(base).resolve(), Path(out).resolve()
    check_base_files(base)
    if vocab is not None and vocab < 512:
        raise BaseModelError(f"--vocab {vocab}: too small (at least 512 keeps the byte-fallback tokens and markers)")
    for root in corpus if tokens is None else ():
        if not Path(root).exists():
            raise BaseModelError(f"--corpus {root}: no such file or folder")
    check_output(out, overwrite=overwrite, earlier=lambda f: is_base(f, trimmed=True), command="model trim",
                 inputs=[base, *corpus] if tokens is None else [base])  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"].get("type") != "BPE":
        raise BaseModelError(f"--base {base}: only BPE tokenizers can be trimmed, got {spec['model'].get('type')}")
    keep, general = _tokens_to_keep(base, tokenizer, spec, vocab=vocab, corpus=corpus, tokens=tokens, log=log)
    new_spec, old_ids = trimmed_spec(spec, keep)
    log(f"[2/4] keeping {len(old_ids):,} of {len(spec['model']['vocab']):,} tokens")
    with building(out) as work:
        from tokenizers import Tokenizer

        new_tok = PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer.from_str(json.dumps(new_spec)),
            bos_token=tokenizer.bos_token, eos_token=tokenizer.eos_token, pad_token=tokenizer.pad_token,
            unk_token=tokenizer.unk_token, clean_up_tokenization_spaces=False,
        )  # fmt: skip
        new_tok.chat_template = tokenizer.chat_template
        new_tok.save_pretrained(str(work))
        log("[3/4] slicing the embedding (tied to the output head)")
        model = _sliced_model(base, new_tok, old_ids)
        model.save_pretrained(str(work))
        provenance = dict(read_provenance(base))
        provenance.update(
            vocab_size=len(old_ids),
            vocab_fingerprint=vocab_fingerprint(new_tok),
            parameters=sum(p.numel() for p in model.parameters()),
            modified=f"vocabulary trimmed from {len(spec['model']['vocab']):,} to {len(old_ids):,} tokens "
            f"(supportbot model trim{'' if vocab is None else f' --vocab {vocab}'})",
            trimmed_from=str(base),
            corpus="given token list" if tokens is not None else [str(p) for p in corpus],
            general_counts=bool(general),
            seconds=round(time.time() - started, 1),
        )
        write_provenance(work, provenance)  # a Gemma derivative's NOTICE says what changed
        log("[4/4] publishing")
    log(f"wrote {out} in {provenance['seconds']} s ({provenance['parameters']:,} parameters)")
    return provenance
