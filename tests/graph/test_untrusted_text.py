"""The graph's text functions on hostile customer messages: they take time in proportion to the message, never to its
square (a 40,000-character message is the API's limit, and one turn of the graph holds the GIL for what it costs).

A deadline here is not a speed check: it sits orders of magnitude above the linear cost (milliseconds) and below the
quadratic one (minutes at 200,000 characters), so it tells the two complexity classes apart on any machine.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.nodes.resolve_followup import focus, strip_markup
from retrieval.text import PLACEHOLDER

SIZE = 200_000


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail when the block runs longer than ``seconds`` (SIGALRM interrupts a regex scan too)."""

    def expired(*_: object) -> None:
        raise AssertionError(f"still running after {seconds} s: the work grows faster than the text")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def repeated(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


# Each case took minutes before: a question with no '?' ("a a a ...", "the the ...") made focus look for one from
# every position of its last paragraph; an unclosed "<script", "<style" or "<!--" made strip_markup look for its end
# from every opening (a 40,000-character message cost 2-5 s of one turn).
HOSTILE: dict[str, Callable[[str], str]] = {
    "words without a question mark": lambda _: focus(repeated("the ")),
    "digits and spaces": lambda _: focus(repeated("1 ")),
    "unclosed <script": lambda _: strip_markup(repeated("<script")),
    "unclosed <style": lambda _: strip_markup(repeated("<style x")),
    "unclosed comment": lambda _: strip_markup(repeated("<!--")),
    "openings after the last end": lambda _: strip_markup("<script></script>-->" + repeated("<script <!--")),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_messages_take_linear_time(case: str) -> None:
    with deadline(10):
        HOSTILE[case]("")


# The rules as one regex, as they were first written (quadratic on an unclosed block): the reference the linear
# implementation must agree with on every text.
_REFERENCE = re.compile(
    rf"((?-i:{PLACEHOLDER.pattern}))|<!--.*?-->|<script.*?</script>|<style.*?</style>|<[^>]{{1,200}}>|```|[#*_`]{{1,3}}",
    re.S | re.I,
)


def reference_strip(text: str) -> str:
    return " ".join(_REFERENCE.sub(lambda m: m.group(1) or " ", text).split())


def reference_focus(text: str) -> str:
    if len(text.split()) <= 80:
        return text
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [text]
    last = ([p for p in paragraphs if "?" in p] or paragraphs[-1:])[-1]
    if len(last.split()) > 80:
        questions = re.findall(r"[^.!?]*\?", last)
        last = " ".join(q.strip() for q in questions[-3:]) or " ".join(last.split()[-80:])
    return last


# "ſ" and "İ" match "s" and "i" when case is ignored: an opening spelled with them is still one.
PIECES = ["<!--", "-->", "<script", "<SCRIPT>", "</script>", "</Script >", "<style", "</style>", "<b>", "</p>", "<",
          ">", "```", "**", "_", "#", "`", "<EMAIL_1>", "<email_1>", "<ſcript", "<scrİpt", "</SCRİPT>", "a", "word",
          " ", "\n", "?", ".", "!", "¿", "é"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_strip_markup_agrees_with_the_one_regex_rules(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert strip_markup(text) == reference_strip(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["word ", "why", "?", "??", ".", "!", " ", "¿", "a", "\n\n", "\n \n"]), max_size=400))
def test_focus_agrees_with_the_first_rules(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert focus(text) == reference_focus(text)
