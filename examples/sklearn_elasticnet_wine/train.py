"""Fit an ElasticNet to the wine-quality data shipped here; log its parameters, metrics, model.

Run it through the project runner, or on its own; both land in the same store (./mltrail.db
of the folder you run from, unless MLTRAIL_TRACKING_URI says otherwise):

    mltrail run examples/sklearn_elasticnet_wine -P alpha=0.42
    python examples/sklearn_elasticnet_wine/train.py 0.3 0.8

Under ``mltrail run`` the runner has created the run and passes its id in MLTRAIL_RUN_ID;
``mltrail.start_run()`` then logs into it. Needs scikit-learn: pip install 'mltrail[sklearn]'.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import mltrail
import mltrail.sklearn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine-quality.csv")


def main(argv: list[str]) -> None:
    # Logged as given: under `mltrail run` the runner logged the same strings already.
    alpha_text = argv[1] if len(argv) > 1 else "0.5"
    l1_ratio_text = argv[2] if len(argv) > 2 else "0.1"
    alpha, l1_ratio = float(alpha_text), float(l1_ratio_text)
    data = pd.read_csv(DATA)
    train, test = train_test_split(data, test_size=0.25, random_state=42)
    train_x, test_x = train.drop(columns=["quality"]), test.drop(columns=["quality"])
    train_y, test_y = train["quality"], test["quality"]

    with mltrail.start_run() as run:
        model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
        rmse = float(np.sqrt(mean_squared_error(test_y, predicted)))
        mae = float(mean_absolute_error(test_y, predicted))
        r2 = float(r2_score(test_y, predicted))
        mltrail.log_params({"alpha": alpha_text, "l1_ratio": l1_ratio_text})
        mltrail.log_metrics({"rmse": rmse, "r2": r2, "mae": mae})
        mltrail.sklearn.log_model(model, name="model", input_example=train_x.head(3))

    print(f"ElasticNet(alpha={alpha}, l1_ratio={l1_ratio}): rmse={rmse:.4f} r2={r2:.4f}")
    print(f"Run {run.info.run_id} in {mltrail.get_tracking_uri()}")


if __name__ == "__main__":
    main(sys.argv)
