"""Bootstrap confidence intervals and the rule for calling a winner between modes.

Every mode answers the same items, so modes are compared *paired*: the bootstrap resamples items and recomputes
both modes' statistic on the same resample (:func:`paired_difference`). A mode only "wins" a KPI when the 95%
interval of its difference to every other mode excludes 0 (:func:`call_winner_paired`); otherwise the report says
there is no clear winner, however far apart the point estimates look. Without item keys the older, more
conservative rule applies (:func:`call_winner`: the winner's interval must not overlap any other mode's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval and the number of items it was computed on."""

    value: float
    low: float
    high: float
    n: int

    @property
    def defined(self) -> bool:
        """Whether the estimate is a number (a precision with nothing predicted is not)."""
        return not math.isnan(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN becomes None."""
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(self).items()}
        return {"value": clean["value"], "ci_low": clean["low"], "ci_high": clean["high"], "n": self.n}

    def format(self, digits: int = 3) -> str:
        """``0.412 [0.380, 0.445]``, or ``n/a``."""
        if not self.defined:
            return "n/a"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def mean(values: np.ndarray) -> Any:
    """Mean over the last item axis: a number for one sample, one per row for a stack of resamples."""
    return np.mean(values, axis=-1)


def bootstrap_ci(
    items: Sequence[Any] | np.ndarray,
    statistic: Statistic = mean,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over ``items`` (resampled with replacement).

    Args:
        items: One row per evaluated unit (numbers, or pairs for set-level statistics such as F1).
        statistic: Maps an array of rows ``(n,)`` / ``(n, 2)`` to a number. It must also accept a stack of
            resamples ``(B, n)`` / ``(B, n, 2)`` and return ``B`` values (every statistic in
            :mod:`evaluation.kpis` reduces over the item axis), so all resamples cost one numpy call.
            NaN values of a resample are ignored.
        n_resamples: Bootstrap resamples.
        confidence: Interval coverage, 0.95 for a 95% interval.
        seed: Random seed, so reports are reproducible.

    Returns:
        The statistic on all items with its interval; NaNs and n=0 when there are no items.
    """
    data = np.asarray(items, dtype=float)
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    index = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    samples = np.asarray(statistic(data[index]), dtype=float).reshape(-1)
    return _percentile_interval(float(statistic(data)), samples, n, confidence)


def _percentile_interval(value: float, samples: np.ndarray, n: int, confidence: float) -> Estimate:
    """``value`` with the percentile interval of its bootstrap ``samples`` (NaN samples ignored)."""
    samples = samples[~np.isnan(samples)]
    if math.isnan(value) or not len(samples):
        return Estimate(value, math.nan, math.nan, n)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    # Guard against float noise putting the point estimate a hair outside a degenerate interval.
    return Estimate(value, float(min(low, value)), float(max(high, value)), n)


@dataclass(frozen=True)
class WinCall:
    """The verdict on one KPI in one language: the winner, or None with the reason."""

    winner: str | None
    best: str | None
    statement: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"winner": self.winner, "best_point_estimate": self.best, "statement": self.statement}


MIN_UNITS = 5


def call_winner(estimates: Mapping[str, Estimate], higher_is_better: bool = True, min_n: int = MIN_UNITS) -> WinCall:
    """Name the mode that wins a KPI, only if its interval is clear of every other mode's interval.

    Args:
        estimates: Mode name -> estimate with its 95% interval.
        higher_is_better: Direction of the KPI (False for latency, false-refusal rate...).
        min_n: Fewest units an estimate needs to take part: a bootstrap over one or two items gives a
            degenerate interval that would "separate" anything.

    Returns:
        ``winner`` set only when the best point estimate's interval does not overlap any other defined mode's
        interval (touching counts as overlapping); otherwise ``winner`` is None and the statement says why.
    """
    defined = {m: e for m, e in estimates.items() if e.defined and not math.isnan(e.low) and e.n >= min_n}
    if len(defined) < 2:
        reason = f"fewer than two modes with a value on at least {min_n} items"
        return WinCall(None, next(iter(defined), None), f"not comparable ({reason})")
    sign = 1.0 if higher_is_better else -1.0
    ranked = sorted(defined, key=lambda m: sign * defined[m].value, reverse=True)
    best, second = ranked[0], ranked[1]
    if defined[best].value == defined[second].value:
        return WinCall(None, None, f"no clear winner: {best} and {second} tie")
    b = defined[best]
    if higher_is_better:
        clear = all(b.low > defined[m].high for m in ranked[1:])
    else:
        clear = all(b.high < defined[m].low for m in ranked[1:])
    if clear:
        others = ", ".join(f"{m} {defined[m].format()}" for m in ranked[1:])
        return WinCall(best, best, f"{best} wins: {b.format()} vs {others}")
    overlapping = [
        m for m in ranked[1:] if not (b.low > defined[m].high if higher_is_better else b.high < defined[m].low)
    ]
    return WinCall(
        None,
        best,
        f"no clear winner: {best} {b.format()} overlaps "
        + ", ".join(f"{m} {defined[m].format()}" for m in overlapping),
    )


def paired_difference(
    a: Sequence[Any] | np.ndarray,
    b: Sequence[Any] | np.ndarray,
    statistic: Statistic = mean,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``statistic(a) - statistic(b)`` where ``a[i]`` and ``b[i]`` are the same item.

    Items are resampled together (one index set for both modes), so what the items have in common (an easy
    question is easy for every mode) cancels out and the interval is that of the per-item comparison. For a mean
    this is the interval of the mean per-item difference.
    """
    left, right = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(left) != len(right):
        raise ValueError(f"paired samples differ in length: {len(left)} vs {len(right)}")
    n = len(left)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    value = float(statistic(left)) - float(statistic(right))
    index = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    samples = np.asarray(statistic(left[index]), dtype=float).reshape(-1) - np.asarray(
        statistic(right[index]), dtype=float
    ).reshape(-1)
    return _percentile_interval(value, samples, n, confidence)


def _signed(diff: Estimate) -> str:
    if not diff.defined or math.isnan(diff.low):
        return "n/a"
    return f"{diff.value:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]"


def call_winner_paired(
    estimates: Mapping[str, Estimate],
    differences: Mapping[tuple[str, str], Estimate],
    higher_is_better: bool = True,
    min_n: int = MIN_UNITS,
) -> WinCall:
    """Name the mode that wins a KPI, only if its paired difference to every other mode is clear of 0.

    Args:
        estimates: Mode name -> estimate (the point estimates rank the modes).
        differences: ``(a, b)`` -> paired estimate of ``a - b`` over the items both modes answered (either
            order may be given).
        higher_is_better: Direction of the KPI.
        min_n: Fewest paired items a difference needs to count.
    """
    defined = {m: e for m, e in estimates.items() if e.defined and e.n >= min_n}
    if len(defined) < 2:
        reason = f"fewer than two modes with a value on at least {min_n} items"
        return WinCall(None, next(iter(defined), None), f"not comparable ({reason})")
    sign = 1.0 if higher_is_better else -1.0
    ranked = sorted(defined, key=lambda m: sign * defined[m].value, reverse=True)
    best = ranked[0]
    if defined[best].value == defined[ranked[1]].value:
        return WinCall(None, None, f"no clear winner: {best} and {ranked[1]} tie")
    diffs: dict[str, Estimate] = {}
    for other in ranked[1:]:
        if (best, other) in differences:
            diffs[other] = differences[(best, other)]
        elif (other, best) in differences:
            d = differences[(other, best)]
            diffs[other] = Estimate(-d.value, -d.high, -d.low, d.n)
        else:
            diffs[other] = Estimate(math.nan, math.nan, math.nan, 0)

    def clear(d: Estimate) -> bool:
        if not d.defined or math.isnan(d.low) or d.n < min_n:
            return False
        return d.low > 0 if higher_is_better else d.high < 0

    text = ", ".join(f"{best} - {m} {_signed(d)} (n={d.n})" for m, d in diffs.items())
    if all(clear(d) for d in diffs.values()):
        return WinCall(best, best, f"{best} wins: {defined[best].format()}; paired {text}")
    unclear = ", ".join(f"{best} - {m} {_signed(d)}" for m, d in diffs.items() if not clear(d))
    return WinCall(None, best, f"no clear winner: paired difference includes 0 ({unclear})")
