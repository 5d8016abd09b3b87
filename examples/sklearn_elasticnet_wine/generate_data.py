"""Write wine-quality.csv: 500 synthetic red wines with the UCI data set's 11 columns.

The values follow the ranges of the real data and quality depends on alcohol, volatile
acidity and sulphates as it does there, so a linear model learns something. Seeded, so the
file shipped beside this script is what it writes:

    python examples/sklearn_elasticnet_wine/generate_data.py
"""

from __future__ import annotations

import csv
import os
import random

COLUMNS = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
    "quality",
]
ROWS = 500


def main() -> None:
    rng = random.Random(42)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine-quality.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for _ in range(ROWS):
            fixed = rng.gauss(8.3, 1.7)
            volatile = max(0.12, rng.gauss(0.53, 0.18))
            citric = min(1.0, max(0.0, rng.gauss(0.27, 0.19)))
            sugar = max(0.9, rng.gauss(2.5, 1.2))
            chlorides = max(0.012, rng.gauss(0.087, 0.03))
            free = max(1.0, rng.gauss(15.9, 10.0))
            total = max(free + 2, rng.gauss(46.0, 30.0))
            alcohol = min(14.9, max(8.4, rng.gauss(10.4, 1.1)))
            density = 0.9967 + 0.0006 * (sugar - 2.5) - 0.0008 * (alcohol - 10.4)
            ph = rng.gauss(3.31, 0.15)
            sulphates = max(0.33, rng.gauss(0.66, 0.17))
            score = (
                5.6
                + 0.35 * (alcohol - 10.4)
                - 1.1 * (volatile - 0.53)
                + 0.9 * (sulphates - 0.66)
                + rng.gauss(0, 0.55)
            )
            quality = min(8, max(3, round(score)))
            values = [fixed, volatile, citric, sugar, chlorides, free, total, density, ph]
            writer.writerow(
                [f"{v:.4f}" for v in values] + [f"{sulphates:.2f}", f"{alcohol:.1f}", quality]
            )


if __name__ == "__main__":
    main()
