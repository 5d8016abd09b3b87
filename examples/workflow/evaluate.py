"""Step 3: score the trained model on the data; log rmse."""

from __future__ import annotations

import argparse
import json
import math
import os

import mltrail
from steps import download, read_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    rows = read_rows(download(args.data))
    model_dir = download(args.model)
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as handle:
        model = json.load(handle)
    errors = [(model["slope"] * x + model["intercept"] - y) ** 2 for x, y in rows]
    rmse = math.sqrt(sum(errors) / len(errors))
    with mltrail.start_run():
        mltrail.log_metric("rmse", rmse)
    print(f"evaluate: rmse={rmse:.4f}")


if __name__ == "__main__":
    main()
