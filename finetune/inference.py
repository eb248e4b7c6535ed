"""Model loading for inference, in one place: adapter folders (base + LoRA), merged folders, int8 folders.

Prompts are rendered by ``finetune.chat_format.prompt_ids``, the code path training uses, so the model sees at
inference exactly the token layout it was trained on.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8", "8bit", "4bit"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8", "8bit", "4bit")
MODEL_FILE = "supportbot_model.json"


class ModelLoadError(ValueError):
    """A model folder is missing or invalid, or the precision cannot be served here."""


class LoadedModel:
    """A causal LM with its tokenizer and chat template, ready to answer chat messages."""

    def __init__(self, model: Any, tokenizer: Any, *, device: str, precision: str, lang_aware: bool, info: dict):
        from finetune.tokenizer import stop_token_ids

        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.precision = precision
        self.lang_aware = lang_aware
        self.info = info
        self.stop_ids = stop_token_ids(tokenizer)
        # Padding, bos and role markers never belong inside an answer: an undertrained model must not emit them.
        self.suppress_ids = [i for i in tokenizer.all_special_ids if i not in self.stop_ids]
        # Training answers never start with blank space nor end at once: neither may a generated one.
        self.begin_suppress_ids = blank_token_ids(tokenizer) + self.stop_ids
        self._lock = threading.Lock()
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)

    def _inputs(self, batch: list[list[dict[str, str]]], max_new_tokens: int = 0) -> dict[str, Any]:
        import torch

        from finetune.chat_format import middle_cut, prompt_ids

        prompts = [prompt_ids(self.tokenizer, messages) for messages in batch]
        budget = max(self.context - max_new_tokens, 8)
        prompts = [[p[k] for k in middle_cut(len(p), budget)] for p in prompts]  # too long: drop the middle
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = [[pad] * (width - len(p)) + p for p in prompts]  # left padding: generation continues every row
        mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
        return {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
        }

    def generation_kwargs(
        self,
        max_new_tokens: int,
        temperature: float,
        prompt_width: int,
        copy_bias: CopyBias | None = None,
    ) -> dict[str, Any]:
        """``generate`` arguments: stop and suppressed tokens, and no repeated 4-gram within the answer.

        transformers' own ``no_repeat_ngram_size`` and ``repetition_penalty`` also count the prompt, so a RAG answer
        could never quote four words of its passages; :class:`AnswerNoRepeatNGram` looks at the answer alone.
        ``copy_bias`` (a :class:`CopyBias`) favours the passages' wording.
        """
        from transformers import LogitsProcessorList

        processors: list[Any] = [AnswerNoRepeatNGram(4, prompt_width)]
        if copy_bias is not None:
            processors.append(copy_bias)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            # a small model decoding greedily loops ("el el el ..."); no 4-gram may repeat within an answer
            "logits_processor": LogitsProcessorList(processors),
            "suppress_tokens": self.suppress_ids or None,
            "begin_suppress_tokens": self.begin_suppress_ids or None,
        }
        if self.device == "cpu":
            # A preallocated cache: no per-step concatenation of every layer's keys and values, and attention over a
            # masked fixed-length cache; greedy decoding 37 -> 45 tokens/s (benchmarks/model.py). Not on GPUs, where
            # transformers compiles the model on the first call with a static cache.
            kwargs["cache_implementation"] = "static"
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=0.95)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def generate_batch(
        self,
        batch: list[list[dict[str, str]]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        copy_bias: tuple[float, float] = (0.0, 0.0),
        on_text: Callable[[int, str], None] | None = None,
        cancelled: Callable[[int], bool] | None = None,
    ) -> list[str]:
        """Answer several conversations at once (greedy when ``temperature`` is 0).

        ``on_text(row, piece)`` receives each row's text as it is generated (streaming a micro-batch); the
        returned answers are the same text, whole. ``cancelled(row)`` true ends that row at the next step (a
        stream the output rails stopped), so the batch stops as soon as every row is done or cancelled.
        ``copy_bias`` = (bonus, follow) of :class:`CopyBias` for the rows whose prompt shows passages; (0, 0) is off.
        """
        import torch

        if not batch:
            return []
        inputs = self._inputs(batch, max_new_tokens)
        streamer = BatchTextStreamer(self.tokenizer, len(batch), on_text, self.stop_ids) if on_text else None
        with self._lock, torch.inference_mode():
            bias = self.copy_bias(batch, inputs["input_ids"].shape[1], *copy_bias)
            kwargs = self.generation_kwargs(max_new_tokens, temperature, inputs["input_ids"].shape[1], bias)
            if cancelled is not None:
                from transformers import StoppingCriteriaList

                kwargs["stopping_criteria"] = StoppingCriteriaList([RowsCancelled(cancelled)])
            output = self.model.generate(**inputs, **kwargs, streamer=streamer)
        new = output[:, inputs["input_ids"].shape[1] :]
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        """Answer one conversation (its last message is the user's)."""
        return self.generate_batch([messages], max_new_tokens=max_new_tokens, temperature=temperature)[0]

    def stream(
        self, messages: list[dict[str, str]], *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield the answer in text pieces as they are generated (one conversation; the hf generator batches)."""
        pieces: queue.Queue[str | None] = queue.Queue()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                self.generate_batch([messages], max_new_tokens=max_new_tokens, temperature=temperature,
                                    on_text=lambda _row, piece: pieces.put(piece))  # fmt: skip
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
            finally:
                pieces.put(None)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while (piece := pieces.get()) is not None:
            yield piece
        thread.join()
        if errors:
            raise errors[0]

    def copy_bias(
        self, batch: list[list[dict[str, str]]], prompt_width: int, bonus: float, follow: float
    ) -> CopyBias | None:
        """The :class:`CopyBias` of a batch of prompts ``prompt_width`` tokens wide; None when it would do nothing."""
        from finetune.prompts import passage_block

        if not (bonus or follow):
            return None
        sources = [self.tokenizer(passage_block(m), add_special_tokens=False)["input_ids"] for m in batch]
        return CopyBias(sources, prompt_width, bonus, follow, self.device) if any(sources) else None

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes with this model's tokenizer."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class AnswerNoRepeatNGram:
    """A logits processor banning any token that would repeat an n-gram of the answer generated so far.

    Only tokens after ``prompt_width`` count (every row of a left-padded batch starts its answer there), so quoting
    the passages in the prompt stays allowed while loops inside the answer are not.
    """

    def __init__(self, n: int, prompt_width: int) -> None:
        self.n, self.start = n, prompt_width

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        answer = input_ids[:, self.start :].tolist()
        for row, tokens in enumerate(answer):
            if len(tokens) < self.n - 1:
                continue
            tail = tokens[len(tokens) - (self.n - 1) :]
            banned = {
                tokens[i + self.n - 1] for i in range(len(tokens) - self.n + 1) if tokens[i : i + self.n - 1] == tail
            }
            if banned:
                scores[row, list(banned)] = -float("inf")
        return scores


class CopyBias:
    """A logits processor pulling the answer towards the wording of its passages, a copy mechanism without retraining.

    Every token of a row's passages (``sources[row]``) gets ``bonus``; a token that follows, somewhere in them, the
    answer's last two tokens (else its last one) gets ``follow`` more. Rows with no passages are left alone. Off by
    default (``graph.config.COPY_BIAS``): for the shipped 270M adapter it helped on questions it had trained on, not
    on new ones (docs/finetune.md, "Copy bias and three passages").
    """

    def __init__(self, sources: list[list[int]], prompt_width: int, bonus: float, follow: float, device: Any) -> None:
        import torch

        self.bonus, self.follow, self.start = bonus, follow, prompt_width
        self.tokens = [torch.tensor(sorted(set(s)), dtype=torch.long, device=device) for s in sources]
        self.next1: list[dict[int, set[int]]] = []
        self.next2: list[dict[tuple[int, int], set[int]]] = []
        for source in sources:
            one: dict[int, set[int]] = {}
            two: dict[tuple[int, int], set[int]] = {}
            for i in range(1, len(source)):
                one.setdefault(source[i - 1], set()).add(source[i])
                if i > 1:
                    two.setdefault((source[i - 2], source[i - 1]), set()).add(source[i])
            self.next1.append(one)
            self.next2.append(two)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        answers = input_ids[:, self.start :].tolist()
        for row, answer in enumerate(answers):
            if not len(self.tokens[row]):
                continue
            if self.bonus:
                scores[row, self.tokens[row]] += self.bonus
            if self.follow and answer:
                following = self.next2[row].get((answer[-2], answer[-1])) if len(answer) > 1 else None
                following = following or self.next1[row].get(answer[-1])
                if following:
                    scores[row, sorted(following)] += self.follow
        return scores


class RowsCancelled:
    """A stopping criterion: the rows whose ``cancelled(row)`` is true are finished."""

    def __init__(self, cancelled: Callable[[int], bool]) -> None:
        self.cancelled = cancelled

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.tensor([self.cancelled(row) for row in range(input_ids.shape[0])], device=input_ids.device)


class BatchTextStreamer:
    """A ``generate`` streamer for a batch: hands each row's new text to ``on_text(row, piece)`` as it decodes.

    transformers' own text streamers take one sequence; a micro-batch of concurrent requests needs one stream per
    row. A row stops at its first stop token; pieces never end in half a UTF-8 character; leading blank space of an
    answer is dropped, as in the whole-answer decode.
    """

    def __init__(self, tokenizer: Any, rows: int, on_text: Callable[[int, str], None], stop_ids: list[int]) -> None:
        self.tokenizer, self.on_text, self.stop_ids = tokenizer, on_text, set(stop_ids)
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.sent = [0] * rows
        self.done = [False] * rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        """Receive the prompt (first call, ignored) or one new token per row."""
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self.done[row]:
                continue
            if token in self.stop_ids:
                self.done[row] = True
                continue
            self.tokens[row].append(token)
            text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True).lstrip()
            if text.endswith("\ufffd"):  # half a multi-byte character: wait for the rest
                continue
            if len(text) > self.sent[row]:
                self.on_text(row, text[self.sent[row] :])
                self.sent[row] = len(text)

    def end(self) -> None:
        """Nothing is held back: every piece was handed over in ``put``."""


def blank_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that decode to whitespace only (newlines, spaces, tabs)."""
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    return [i for tok, i in vocab.items() if i not in special and not tokenizer.convert_tokens_to_string([tok]).strip()]


def read_descriptor(folder: Path) -> dict[str, Any]:
    """The model folder's ``supportbot_model.json`` (or a plain checkpoint's implied one); ModelLoadError if none."""
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder}: no such folder")
    descriptor = folder / MODEL_FILE
    if descriptor.is_file():
        try:
            info = json.loads(descriptor.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{descriptor}: invalid JSON: {exc.msg}; restore the model folder") from exc
        except (OSError, UnicodeDecodeError) as exc:  # unreadable, or not text at all
            raise ModelLoadError(f"{descriptor}: unreadable ({exc}); restore the model folder") from exc
        if not isinstance(info, dict) or info.get("kind") not in ("adapter", "merged"):
            raise ModelLoadError(f"{descriptor}: 'kind' must be adapter or merged")
        if info["kind"] == "adapter" and not info.get("base"):  # checked first: the tokenizer may be the base's
            raise ModelLoadError(f"{descriptor}: an adapter folder must name its 'base' model")
        return info
    if (folder / "config.json").is_file():  # a plain transformers checkpoint
        return {"kind": "merged", "model": ".", "tokenizer": ".", "lang_aware": False}
    raise ModelLoadError(f"model folder {folder}: no {MODEL_FILE} and no config.json (not a model folder)")


def resolve_path(folder: Path, ref: str | None, what: str) -> Path:
    """``ref`` (absolute, or relative to ``folder``) as a path that exists; ModelLoadError naming ``what`` if not."""
    path = Path(ref or ".")
    path = path if path.is_absolute() else folder / path
    if not path.exists():
        raise ModelLoadError(f"model folder {folder}: {what} {path} is missing")
    return path


def resolve_base(folder: Path, info: dict[str, Any]) -> Path:
    """The base folder of an adapter: its recorded path, else ``<data home>/models/<base_name>`` (a shipped adapter
    names its base, which ``supportbot model pull`` / ``model trim`` write into the data home)."""
    from finetune.tracking import default_home

    recorded = Path(str(info["base"]))
    candidates = [recorded if recorded.is_absolute() else folder / recorded]
    if info.get("base_name"):
        candidates.append(default_home() / "models" / str(info["base_name"]))
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelLoadError(
        f"model folder {folder}: its base model is missing (looked in {', '.join(map(str, candidates))}): "
        f"{base_fix(folder, info, candidates[-1])}"
    )


def base_fix(folder: Path, info: dict[str, Any], target: Path | None = None) -> str:
    """How to provision (again) the base of the adapter ``folder`` into ``target`` (default: the data home's
    ``models/<base_name>``): for a Gemma base, the pull and the trim to the adapter's own vocabulary (its
    ``kept_tokens.json.gz``; another token list gives another fingerprint, which the load refuses)."""
    from finetune.tracking import default_home

    name = str(info.get("base_name") or "")
    if not name.startswith("gemma"):
        return "restore the base checkpoint it was trained on"
    models = default_home() / "models"
    pulled, target = models / "gemma-3-270m", target or models / name
    kept = folder / "kept_tokens.json.gz"
    tokens = f" --tokens {kept}" if kept.is_file() else ""
    return (
        f"run `supportbot model pull --out {pulled}` and `supportbot model trim --base {pulled} --out {target}"
        f"{tokens} --overwrite`"
    )


def check_weights(folder: Path, expected: str, fix: str) -> None:
    """Refuse a folder whose weights file is missing or damaged, naming the file and ``fix``.

    transformers and PEFT report a truncated safetensors as "incomplete metadata" and a missing adapter file as an
    invalid Hub repo id, naming no file; this reads the headers (not the tensors) first.
    """
    from finetune.base_model import weights_problem

    files = sorted(folder.glob("*.safetensors"))
    if not files and not any(folder.glob("*.bin")):
        raise ModelLoadError(f"{folder / expected} is missing: {fix}")
    for file in files:
        if (problem := weights_problem(file)) is not None:
            raise ModelLoadError(f"{file} is damaged ({problem}): {fix}")


def tokenizer_folder(folder: Path, info: dict[str, Any]) -> Path:
    """The tokenizer folder of a model folder: its recorded one, or the base's for ``"@base"`` (a shipped adapter
    uses its base's tokenizer: the same vocabulary, checked by fingerprint in :func:`check_vocabulary`)."""
    ref = info.get("tokenizer", "tokenizer")
    return resolve_base(folder, info) if ref == "@base" else resolve_path(folder, ref, "tokenizer")


def check_config(folder: Path, fix: str, *, name: str = "config.json") -> None:
    """Refuse a model folder whose ``name`` (config.json, adapter_config.json) is missing or not a JSON object."""
    path = folder / name
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: {fix}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, or not JSON (a truncated file)
        raise ModelLoadError(f"{path} is damaged ({exc}): {fix}") from exc
    if not isinstance(document, dict):
        raise ModelLoadError(f"{path} is damaged (not a JSON object): {fix}")


def checked_tokenizer(folder: Path, info: dict[str, Any], own_fix: str) -> Any:
    """The model's tokenizer, ready to render chats; ModelLoadError naming the missing or damaged file.

    A folder this project wrote (with ``supportbot_model.json``) was trained with its tokenizer's chat template: one
    without it would be served prompts in another layout, so it is refused rather than given the fallback template.
    """
    from transformers import AutoTokenizer

    from finetune.tokenizer import ensure_chat_ready

    shared = info.get("tokenizer") == "@base"
    tok_dir = tokenizer_folder(folder, info)
    fix = base_fix(folder, info, tok_dir) if shared else own_fix
    if not any((tok_dir / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise ModelLoadError(f"{tok_dir / 'tokenizer.json'} is missing: {fix}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    except Exception as exc:  # JSON, tokenizers (Rust) and OS errors alike: a damaged file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{tok_dir}: cannot load the tokenizer ({reason}): {fix}") from exc
    if (folder / MODEL_FILE).is_file() and not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(
            f"{tok_dir / 'chat_template.jinja'} is missing (the chat template the model was trained with): {fix}"
        )
    return ensure_chat_ready(tokenizer)


def check_vocabulary(folder: Path, info: dict[str, Any], base_dir: Path, tokenizer: Any) -> None:
    """Refuse an adapter whose tokenizer does not match its base's embedding (a base with another vocabulary)."""
    config_file = base_dir / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_file}: unreadable ({exc}); provision the base model again") from exc
    rows = int(config.get("vocab_size") or config.get("text_config", {}).get("vocab_size") or 0)
    if rows and len(tokenizer) > rows:
        raise ModelLoadError(
            f"model folder {folder}: its tokenizer has {len(tokenizer):,} tokens but the base {base_dir} has "
            f"{rows:,} embedding rows (a base with another vocabulary): use the base it was trained on "
            f"({info.get('base_name') or info['base']}) or retrain the adapter on this base"
        )
    expected = info.get("base_fingerprint")
    if expected:
        from finetune.base_model import BaseModelError, read_provenance

        try:
            actual = read_provenance(base_dir).get("vocab_fingerprint")
        except BaseModelError as exc:
            raise ModelLoadError(f"{exc.args[0].split(';')[0]}: {base_fix(folder, info, base_dir)}") from exc
        if not actual and info.get("tokenizer") == "@base":  # no supportbot_base.json: the tokenizer is the base's
            from finetune.base_model import vocab_fingerprint

            actual = vocab_fingerprint(tokenizer)
        if actual and actual != expected:
            raise ModelLoadError(
                f"model folder {folder}: trained on a base with another vocabulary (fingerprint {expected}, "
                f"{base_dir} has {actual}): use the base it was trained on ({base_fix(folder, info)}), "
                "or retrain the adapter on this base"
            )


def checked_adapter(folder: Path, info: dict[str, Any], base_dir: Path, tokenizer: Any, own_fix: str) -> Path:
    """The adapter weights folder of the adapter ``folder``, after every check loading it makes (the serving load and
    ``train merge``): its base's vocabulary, its ``adapter_config.json`` and weights, the base's weights; a missing or
    damaged file is a ModelLoadError naming it and ``own_fix`` (the base's own fix for the base's files)."""
    check_vocabulary(folder, info, base_dir, tokenizer)
    adapter_dir = resolve_path(folder, info.get("adapter", "adapter"), "adapter")
    check_config(adapter_dir, own_fix, name="adapter_config.json")
    check_weights(adapter_dir, "adapter_model.safetensors", own_fix)
    check_weights(base_dir, "model.safetensors", base_fix(folder, info, base_dir))
    return adapter_dir


def _dtype_and_device(precision: str, device: str | None) -> tuple[Any, str, str]:
    import torch

    cuda = torch.cuda.is_available()
    device = device or ("cuda" if cuda else "cpu")
    if device.startswith("cuda") and not cuda:
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
    if precision == "auto" and device.startswith("cuda"):
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    elif precision == "auto":
        from finetune.trainer import cpu_bf16_supported

        # weight-only int8 with bf16 activations: the fastest CPU path at <1% perplexity (finetune/int8.py)
        precision = "int8" if cpu_bf16_supported() else "fp32"
    if precision in ("8bit", "4bit"):
        if not device.startswith("cuda"):
            raise ModelLoadError(f"precision {precision} uses bitsandbytes and needs a CUDA GPU; use int8 on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise ModelLoadError(f"precision {precision} needs bitsandbytes (pip install bitsandbytes)") from exc
    if precision == "bf16" and device == "cpu":
        from finetune.trainer import cpu_bf16_supported

        if not cpu_bf16_supported():
            raise ModelLoadError(
                "precision bf16 on a CPU without avx512_bf16 or AMX would be slower than fp32: use precision fp32 "
                "(or int8)"
            )
    if precision == "int8" and device != "cpu":
        raise ModelLoadError("precision int8 is weight-only int8 for CPU serving; use 8bit on a GPU")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    return dtype, device, precision


def _from_pretrained(path: Path, dtype: Any, precision: str, device: str) -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"dtype": dtype}
    if precision in ("8bit", "4bit"):
        kwargs["device_map"] = {"": device}
    if precision == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    elif precision == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
    model: Any = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model if precision in ("8bit", "4bit") else model.to(device)


def _load(folder: Path, device: str | None, precision: str) -> LoadedModel:
    from finetune.int8 import load_int8, quantize_int8

    if precision not in PRECISIONS:
        raise ModelLoadError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    info = read_descriptor(folder)
    if (folder / MODEL_FILE).is_file():
        own_fix = "restore the model folder or train it again"
    else:  # a plain checkpoint: a base pulled or trimmed here, or one from elsewhere
        own_fix = "restore it or write it again (`supportbot model pull --force`, `model trim ... --overwrite`)"
    base_dir = resolve_base(folder, info) if info["kind"] == "adapter" else None
    if base_dir is not None:
        check_config(base_dir, base_fix(folder, info, base_dir))
    tokenizer = checked_tokenizer(folder, info, own_fix)
    stored_int8 = info.get("quantize") == "int8"
    if stored_int8 and precision not in ("auto", "int8"):
        raise ModelLoadError(f"model folder {folder} holds int8 weights; load it with precision auto or int8")
    dtype, device, precision = _dtype_and_device("int8" if stored_int8 else precision, device)
    try:
        if stored_int8:
            from finetune.int8 import INT8_WEIGHTS

            int8_dir = resolve_path(folder, info.get("model", "model"), "model")
            merge_fix = "restore the folder or run `supportbot train merge --quantize int8` again"
            check_config(int8_dir, merge_fix)
            if (int8_dir / INT8_WEIGHTS).is_file():  # else load_int8 says why (an old pickled model_int8.pt)
                check_weights(int8_dir, INT8_WEIGHTS, merge_fix)
            model = load_int8(int8_dir)
        elif base_dir is not None:
            from peft import PeftModel

            adapter_dir = checked_adapter(folder, info, base_dir, tokenizer, own_fix)
            base = _from_pretrained(base_dir, dtype, precision, device)
            model = PeftModel.from_pretrained(base, str(adapter_dir))
            if precision in ("fp32", "bf16", "fp16", "int8"):
                model = model.merge_and_unload()  # same outputs, no LoRA branch per layer at decode time
        else:
            model_dir = resolve_path(folder, info.get("model", "model"), "model")
            check_config(model_dir, own_fix)
            check_weights(model_dir, "model.safetensors", own_fix)
            model = _from_pretrained(model_dir, dtype, precision, device)
        if precision == "int8" and not stored_int8:
            model = quantize_int8(model)
    except Exception as exc:  # a corrupt safetensors or config raises library-specific types; name the folder
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(
            f"model folder {folder}: cannot load the model ({type(exc).__name__}: {exc}); provision or train it again"
        ) from exc
    model.eval()
    return LoadedModel(
        model, tokenizer, device=device, precision=precision, lang_aware=bool(info.get("lang_aware")), info=info
    )


@lru_cache(maxsize=8)
def _cached(folder: str, device: str | None, precision: str) -> LoadedModel:
    return _load(Path(folder), device, precision)


def load_model(path: str | Path, *, device: str | None = None, precision: Precision = "auto") -> LoadedModel:
    """Load a model folder for inference, once per (path, device, precision) in this process.

    Args:
        path: a folder written by ``supportbot train`` (adapter) or ``supportbot train merge`` (merged, maybe
            int8), or a plain transformers checkpoint.
        device: ``cpu``, ``cuda`` or ``cuda:N``; default: CUDA when available.
        precision: auto (bf16 on a capable GPU; on a CPU, int8 where bf16 is native, else fp32; int8 folders
            stay int8), fp32, bf16, fp16, int8 (CPU weight-only int8, finetune/int8.py), 8bit or 4bit
            (bitsandbytes, CUDA only).

    Raises:
        ModelLoadError: missing or invalid folder, or a precision this machine cannot serve.
    """
    return _cached(str(Path(path).resolve()), device, precision)
