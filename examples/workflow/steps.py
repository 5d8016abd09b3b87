"""What the workflow's steps share: reading ``runs:/<run_id>/<path>`` URIs, and the data."""

from __future__ import annotations

import csv
import os

import mltrail


def download(uri: str) -> str:
    """The local copy of the artifact a ``runs:/<run_id>/<path>`` URI names."""
    if not uri.startswith("runs:/"):
        raise SystemExit(f"expected a runs:/<run_id>/<path> URI, got {uri!r}")
    run_id, _, path = uri[len("runs:/") :].partition("/")
    return mltrail.download_artifacts(path, run_id=run_id)


def read_rows(path: str) -> list[tuple[float, float]]:
    """(x, y) pairs from the data step's CSV (a file, or the folder holding data.csv)."""
    if os.path.isdir(path):
        path = os.path.join(path, "data.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        return [(float(row["x"]), float(row["y"])) for row in csv.DictReader(handle)]
