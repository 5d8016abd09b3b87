"""Step 2: fit y = a*x + b by ridge-regularised least squares; log the model as JSON."""

from __future__ import annotations

import argparse

import mltrail
from steps import download, read_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--l2", type=float, required=True)
    args = parser.parse_args()
    rows = read_rows(download(args.data))
    n = len(rows)
    mean_x = sum(x for x, _ in rows) / n
    mean_y = sum(y for _, y in rows) / n
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in rows)
    sxx = sum((x - mean_x) ** 2 for x, _ in rows)
    slope = sxy / (sxx + args.l2 * n)
    intercept = mean_y - slope * mean_x
    with mltrail.start_run():
        mltrail.log_dict({"slope": slope, "intercept": intercept}, "model/model.json")
        mltrail.log_metric("slope", slope)
    print(f"train: y = {slope:.4f} x + {intercept:.4f}")


if __name__ == "__main__":
    main()
