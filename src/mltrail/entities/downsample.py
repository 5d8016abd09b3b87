"""Downsampling a metric history for charts without losing its spikes.

The step range is cut into equal buckets; each bucket keeps its lowest and its highest point,
so a spike between two evenly spaced samples still shows. The first and last points are
always kept. MLflow keeps evenly spaced steps only.

Histories run to millions of points, so the work is done on columns: the steps are sorted
(history order), so each bucket's bounds are found by bisection, and its extremes by the
built-in ``min`` and ``max`` over a slice of the values. A million points cost milliseconds,
not the second a loop over ``Metric`` objects takes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def downsample_indices(steps: Sequence[int], values: Sequence[float], max_points: int) -> list[int]:
    """The indices of the points to keep, ascending: at most ``max_points`` of a history whose
    ``steps`` are in ascending order, keeping the first and last points and each bucket's
    lowest and highest value (the first of equals; NaN only where a bucket holds nothing
    else)."""
    n = len(steps)
    if n <= max_points:
        return list(range(n))
    if max_points < 4:
        return [0, n - 1][:max_points]
    buckets = (max_points - 2) // 2
    first = steps[0]
    span = (steps[-1] - first) or 1

    def bucket(step: int) -> int:
        return min(buckets - 1, int((step - first) * buckets / span))

    has_nan = any(map(math.isnan, values))
    chosen = {0, n - 1}
    lo = 1
    while lo < n - 1:
        # Points lo..hi-1 share lo's bucket; buckets without points are skipped over.
        hi = bisect.bisect_right(steps, bucket(steps[lo]), lo, n - 1, key=bucket)
        part = values[lo:hi]
        if not has_nan:
            chosen.add(lo + part.index(min(part)))
            chosen.add(lo + part.index(max(part)))
        else:
            numbers = [(v, i) for i, v in enumerate(part, lo) if not math.isnan(v)]
            if numbers:
                chosen.add(min(numbers, key=_value)[1])
                chosen.add(max(numbers, key=_value)[1])
            else:
                chosen.add(lo)
        lo = hi
    return sorted(chosen)


def _value(pair: tuple[float, int]) -> float:
    return pair[0]
