"""Train a logistic regression on one feature, log it as a model, and print the run id.

    python examples/sklearn_logistic_regression/train.py
    mltrail models serve -m runs:/<RUN_ID>/model --port 5000
    curl -d '{"columns":["x"], "data":[[1], [-1]]}' \
         -H 'Content-Type: application/json; format=pandas-split' -X POST localhost:5000/invocations

Needs scikit-learn: pip install 'mltrail[sklearn]'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import mltrail


def main() -> None:
    x = pd.DataFrame({"x": np.array([-2, -1, 0, 1, 2, 1], dtype=float)})
    y = np.array([0, 0, 1, 1, 1, 0])
    with mltrail.start_run() as run:
        model = LogisticRegression().fit(x, y)
        mltrail.log_metric("score", model.score(x, y))
        mltrail.sklearn.log_model(model, name="model", input_example=x.head(2))
    print(f"Score: {model.score(x, y):.3f}")
    print(f"Model saved in run {run.info.run_id}")
    print(run.info.run_id)


if __name__ == "__main__":
    main()
