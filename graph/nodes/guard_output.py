"""Output rails: grounded in the passages (rag/hybrid), in the customer's language, no PII the customer did not
give, no stereotyped generalisation, no instruction planted in an article (words to the assistant, a request for the
customer's card number, code or password). A failing LLM answer falls back to the extractive generator once; a failing
extractive answer (or one with no passages to fall back on) is handed to a person.

Both paths check an answer sentence by sentence with one function, :meth:`OutputGate.check`: this node checks a
whole answer; while streaming, the generate node checks each sentence before releasing it (:func:`release`), and
this node then reuses that verdict instead of checking the same text twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from graph.deps import Deps
from graph.rails.bias import check_stereotype
from graph.rails.grounding import Passages, attribute_citations, check_grounded, check_language, check_pii
from graph.rails.instructions import check_instructions
from graph.state import ChatState
from retrieval.text import PLACEHOLDER, cut_sentences, words

WITHHELD = "[withheld: personal data]"


class OutputGate:
    """The output rails of one answer, applied one sentence at a time (the whole-answer and streamed paths)."""

    def __init__(self, state: ChatState, deps: Deps) -> None:
        """Prepare the checks for the answer the state's generator is about to give (passages stemmed once)."""
        self.lang, self.kind = state.get("lang", "en") or "en", state.get("generator", "extractive")
        passages = state.get("passages", []) if state.get("mode") != "finetune" else []
        self.support = Passages.of(passages, self.lang) if passages else None
        self.threshold = deps.config.support_threshold
        self.redactor, self.given = deps.redactor, list(state.get("pii_hashes", []))
        self.secret = deps.pii_secret(state.get("pii_salt", ""))
        self.published = " ".join(str(p.get("text", "")) for p in passages)
        self.seen: list[str] = []
        self.failed: list[str] = []
        self._grounded: dict[str, Any] = {"grounded": True, "support": 1.0, "unsupported": [], "claims": 0,
                                          "supported": 0}  # fmt: skip
        self._language: dict[str, Any] = {"ok": True, "detected": None}
        self._pii: dict[str, Any] = {"ok": True, "leaked_types": []}
        self._stereotype: dict[str, Any] = {"flagged": False, "matches": []}
        self._instructions: dict[str, Any] = {"flagged": False, "kinds": [], "matches": []}

    @property
    def llm(self) -> bool:
        """Extractive answers are passage sentences in the customer's language: no language or PII check."""
        return self.kind != "extractive"

    def check(self, sentence: str) -> list[str]:
        """The rails ``sentence`` fails (none: it may be sent to the customer); the verdicts accumulate.

        The language is checked on the answer so far (one short sentence rarely tells its language).
        """
        if not sentence.strip():
            return []
        self.seen.append(sentence.strip())
        failed = []
        leaked = False
        if self.llm and not words(PLACEHOLDER.sub(" ", sentence)):
            # Nothing but placeholders ("<PERSON_1>  <PERSON_2>", a signature the model learned from redacted
            # tickets) or punctuation: says nothing, and no other rail would stop it.
            failed.append("empty")
        if self.llm:
            pii = check_pii(sentence, self.lang, self.redactor, self.given, self.published, self.secret)
            leaked = not pii["ok"]
            if leaked:
                failed.append("pii")
                self._pii = {"ok": False, "leaked_types": sorted({*self._pii["leaked_types"], *pii["leaked_types"]})}
        if self.support is not None:
            verdict = check_grounded(sentence, self.support, self.lang, self.threshold)
            g = self._grounded
            g["claims"] += verdict["claims"]
            g["supported"] += verdict["supported"]
            g["support"] = min(g["support"], verdict["support"])
            if not verdict["grounded"]:
                failed.append("grounded")
                g["grounded"] = False
                shown = [WITHHELD] if leaked else verdict["unsupported"]  # never echo a leaked value in guardrails
                g["unsupported"] = (g["unsupported"] + shown)[:3]
        if self.llm:
            language = check_language(" ".join(self.seen), self.lang)
            if not language["ok"]:
                failed.append("language")
                self._language = language
            elif self._language["ok"]:
                self._language = language
        stereotype = check_stereotype(sentence)
        if stereotype["flagged"]:
            failed.append("stereotype")
            self._stereotype = {"flagged": True, "matches": (self._stereotype["matches"] + stereotype["matches"])[:3]}
        # Every generator: the extractive one quotes articles word for word, and an article may carry a planted
        # "ignore your instructions" or "send your card number and CVV to ..." (a language model is shown the same).
        planted = check_instructions(sentence)
        if planted["flagged"]:
            failed.append("instructions")
            seen = self._instructions
            self._instructions = {"flagged": True, "kinds": sorted({*seen["kinds"], *planted["kinds"]}),
                                  "matches": (seen["matches"] + planted["matches"])[:3]}  # fmt: skip
        order = ("empty", "grounded", "language", "pii", "stereotype", "instructions")
        failed = [name for name in order if name in failed]
        self.failed += [name for name in failed if name not in self.failed]
        return failed

    def cite(self, sentence: str) -> str:
        """``sentence`` (a checked chunk) with its citation marks pointing at passages that support it
        (:func:`graph.rails.grounding.attribute_citations`); extractive answers cite their own sentences."""
        if not self.llm or self.support is None:
            return sentence
        return attribute_citations(sentence, self.support, self.lang, self.threshold)

    def finish(self) -> list[str]:
        """Every rail the answer failed (an answer with no sentence at all fails ``empty``, and so does a language
        model's answer of only questions copied from the passages)."""
        if "empty" not in self.failed and (not self.seen or (self.llm and all(map(self._quoted_question, self.seen)))):
            self.failed.insert(0, "empty")
        return list(self.failed)

    def _quoted_question(self, sentence: str) -> bool:
        """Whether ``sentence`` is a question the passages ask, copied ("¿Cuál es el plazo de reembolso? [1]", an
        FAQ heading, was a language model's whole answer to a long complaint): an answer of only those says
        nothing. A question of the model's own ("Which order do you mean?") is not one."""
        text = " ".join(re.sub(r"\[\d+\]", " ", sentence).split())
        return text.endswith("?") and text.casefold() in " ".join(self.published.split()).casefold()

    @property
    def checks(self) -> dict[str, Any]:
        """Each rail's verdict on the sentences checked so far (the shape ``guardrails.output.checks`` reports)."""
        checks: dict[str, Any] = {"empty": not self.seen}
        if self.seen:
            if self.support is not None:
                checks["grounded"] = dict(self._grounded, support=round(self._grounded["support"], 3))
            if self.llm:
                checks["language"] = dict(self._language)
                checks["pii"] = dict(self._pii)
            checks["stereotype"] = dict(self._stereotype)
            checks["instructions"] = dict(self._instructions)
        return checks


def release(
    pieces: Iterable[str],
    check: Callable[[str], list[str]],
    emit: Callable[[str], None],
    rewrite: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Send streamed text on sentence by sentence, each only after ``check`` passes it; stop at the first failure.

    Args:
        pieces: the generator's stream (closed here when a sentence fails, so an LLM stops generating).
        check: :meth:`OutputGate.check`.
        emit: called with each released sentence (its trailing space or newline included).
        rewrite: applied to a sentence that passed before it is sent (:meth:`OutputGate.cite`).

    Returns:
        ``{"text" (everything read from the stream), "pieces" (how many pieces), "released" (sentences sent),
        "released_text" (as sent, rewritten), "failed" (the rails of the first failing sentence, or [])}``.
    """
    text, buffer, count, sent = "", "", 0, []
    failed: list[str] = []

    def offer(sentence: str) -> bool:
        nonlocal failed
        failed = check(sentence)
        if not failed:
            sentence = rewrite(sentence) if rewrite is not None else sentence
            emit(sentence)
            sent.append(sentence)
        return not failed

    stream = iter(pieces)
    try:
        for piece in stream:
            count, text, buffer = count + 1, text + piece, buffer + piece
            *done, buffer = cut_sentences(buffer)
            carry = ""
            for sentence in done:
                if not sentence.strip():  # a blank piece (a run of newlines) rides with the next sentence
                    carry += sentence
                elif not offer(carry + sentence):
                    break
                else:
                    carry = ""
            buffer = carry + buffer
            if failed:
                break
        else:
            if buffer.strip():
                offer(buffer)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return {"text": text, "pieces": count, "released": len(sent), "released_text": "".join(sent), "failed": failed}


def verdict(state: ChatState, failed: list[str], checks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The node's update for an answer that failed ``failed``: ok, fall back to extractive, or hand off."""
    kind = state.get("generator", "extractive")
    passages = state.get("passages", []) if state.get("mode") != "finetune" else []
    if not failed:
        return {"guardrails": {"output": {"action": "ok", "checks": checks, **extra}}}
    if kind != "extractive" and passages:
        return {
            "generator": "extractive",
            "guardrails": {
                "output": {"action": "fallback", "failed": failed, "checks": checks, **extra},
                # kept after the extractive retry overwrites "output": why the customer got the fallback
                "fallback": {"from": kind, "failed": failed},
            },
        }
    return {
        "route": "handoff",
        "reason": "unsupported_answer",
        "guardrails": {"output": {"action": "handoff", "failed": failed, "checks": checks, **extra}},
    }


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Check the answer; ``guardrails.output.action`` is ``ok``, ``fallback`` or ``handoff``."""
    gated = state.get("guardrails", {}).get("stream") or {}
    if state.get("stream") and gated.get("generator") == state.get("generator", "extractive") and "checks" in gated:
        # checked sentence by sentence while it streamed (the same OutputGate.check): do not check it twice
        record = {k: v for k, v in gated.items() if k != "checks"}
        update = verdict(state, list(gated["failed"]), gated["checks"], streamed=True)
        update["guardrails"]["stream"] = record
        return update
    gate = OutputGate(state, deps)
    chunks = cut_sentences(state.get("answer", ""))
    for sentence in chunks:
        gate.check(sentence)
    update = verdict(state, gate.finish(), gate.checks)
    cited = "".join(gate.cite(sentence) for sentence in chunks).strip()
    if update["guardrails"]["output"]["action"] == "ok" and cited != state.get("answer", "").strip():
        from graph.generators.hf import citations_in

        update.update(answer=cited, citations=citations_in(cited, len(state.get("passages", []))))
    return update
