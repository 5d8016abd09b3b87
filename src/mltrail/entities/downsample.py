"""Downsampling a metric history for charts without losing its spikes.

The step range is cut into equal buckets; each bucket keeps its lowest and its highest point,
so a spike between two evenly spaced samples still shows. The first and last points are
always kept. MLflow keeps evenly spaced steps only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mltrail.entities.metric import Metric


def downsample(points: Sequence[Metric], max_points: int) -> list[Metric]:
    """At most ``max_points`` of ``points`` (ordered by step), keeping each bucket's extremes."""
    if len(points) <= max_points:
        return list(points)
    if max_points < 4:
        return [points[0], points[-1]][:max_points]
    first, last = points[0], points[-1]
    buckets = (max_points - 2) // 2
    span = (last.step - first.step) or 1
    lowest: list[Metric | None] = [None] * buckets
    highest: list[Metric | None] = [None] * buckets
    for point in points[1:-1]:
        index = min(buckets - 1, int((point.step - first.step) * buckets / span))
        value = point.value
        low, high = lowest[index], highest[index]
        if low is None or (math.isnan(low.value) and not math.isnan(value)) or value < low.value:
            lowest[index] = point
        if high is None or (math.isnan(high.value) and not math.isnan(value)) or value > high.value:
            highest[index] = point
    chosen = {id(first): first, id(last): last}
    for extreme in (*lowest, *highest):
        if extreme is not None:
            chosen[id(extreme)] = extreme
    return sorted(chosen.values(), key=lambda m: (m.step, m.timestamp))
