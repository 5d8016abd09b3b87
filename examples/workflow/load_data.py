"""Step 1: prepare the data (here: generate it, seeded) and log it as the artifact ``data``.

In a real pipeline this is the slow download-and-clean step the cache exists to skip.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile

import mltrail


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with mltrail.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["x", "y"])
            for _ in range(args.rows):
                x = rng.uniform(-3, 3)
                writer.writerow([f"{x:.5f}", f"{2.5 * x + 1.0 + rng.gauss(0, 0.3):.5f}"])
        mltrail.log_artifact(path, "data")
        mltrail.log_metric("rows", args.rows)
    print(f"load_data: {args.rows} rows in runs:/{run.info.run_id}/data")


if __name__ == "__main__":
    main()
