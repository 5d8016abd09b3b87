"""Journey 6: a project with typed parameters, whose model then goes into a Docker image.

    mltrail run examples/mlops_wine -P alpha=0.3            # beta keeps its default, 0.2
    mltrail models build-docker -m <model URI printed last> -n my-docker-image --enable-mlserver

Fits an ElasticNet (alpha, and beta as its l1_ratio) to synthetic wine-like data made here
from a fixed seed, so the project needs no data file; logs the parameters, the error and the
model, and prints the model's URI last.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet

import mltrail
import mltrail.sklearn

FEATURES = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "alcohol"]


def wine_like(rows: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(6)
    x = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    quality = 6 + 0.8 * x["alcohol"] - 0.5 * x["volatile acidity"] + rng.normal(0, 0.3, rows)
    return x, quality.rename("quality")


def main(alpha: float, beta: float) -> None:
    x, y = wine_like()
    with mltrail.start_run():
        model = ElasticNet(alpha=alpha, l1_ratio=beta, random_state=6).fit(x, y)
        rmse = float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))
        mltrail.log_params({"alpha": alpha, "beta": beta})
        mltrail.log_metric("rmse", rmse)
        info = mltrail.sklearn.log_model(model, name="model", input_example=x.head(2))
    print(f"rmse={rmse:.3f}")
    print(info.model_uri)


if __name__ == "__main__":
    given = [float(a) for a in sys.argv[1:3]]
    main(*given, *[0.5, 0.2][len(given) :])
