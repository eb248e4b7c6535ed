"""SIGINT and SIGTERM, recorded: a long command (ingest, training, evaluation, model conversion) stops at its next
atomic commit instead of writing a half-made output, even when the ``KeyboardInterrupt`` the handler raised was
swallowed (inside a ``__del__``, a C extension's callback). The command line's handler records the signal
(``supportbot.cli._common``); every atomic commit calls :func:`raise_if_interrupted` first.
"""

from __future__ import annotations

import signal


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the command stops, and nothing it had not committed yet is written."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_signals: list[int] = []  # what the command line's handler recorded, oldest first


def record_signal(signum: int) -> None:
    """Remember that ``signum`` arrived (called by the command line's SIGINT/SIGTERM handler)."""
    _signals.append(signum)


def received_signal() -> int | None:
    """The last SIGINT/SIGTERM recorded since the process started (or :func:`forget_signals`), else None."""
    return _signals[-1] if _signals else None


def forget_signals() -> None:
    """Clear the recorded signals (a test that simulated one)."""
    _signals.clear()


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` when a signal was recorded: called right before every atomic commit.

    Raises:
        Interrupted: a SIGINT/SIGTERM arrived earlier, even one whose KeyboardInterrupt something swallowed.
    """
    if _signals:
        raise Interrupted(_signals[-1])
