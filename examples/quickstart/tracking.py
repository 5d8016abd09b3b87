"""mltrail quickstart: log a parameter, a metric and two files to one run.

Run it with::

    python examples/quickstart/tracking.py

With no configuration, runs go to ``mltrail.db`` (SQLite) and their files to ``./mlartifacts``,
both in the directory you run from. Set ``MLTRAIL_TRACKING_URI`` (or ``MLFLOW_TRACKING_URI``)
to send them elsewhere, for example to a tracking server: ``http://127.0.0.1:5000``.

Code written for MLflow runs unchanged with ``import mltrail as mlflow``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from random import randint, random

import mltrail


def main() -> None:
    # A run groups what one execution of your code produced. As a context manager it is
    # ended for you: FINISHED on success, FAILED if the block raises.
    with mltrail.start_run() as run:
        # Parameters are inputs, logged once per key: a hyperparameter, a data version...
        mltrail.log_param("param1", randint(0, 100))

        # Metrics are numbers that can change: logging the same key again adds a point to its
        # history. The step orders the points (an epoch, a batch number...).
        for step in range(3):
            mltrail.log_metric("foo", random() + step, step=step)

        # Artifacts are files: plots, reports, model weights. Write them anywhere (a temporary
        # directory here, to leave your working directory clean); logging copies them into
        # the run's artifact store.
        with tempfile.TemporaryDirectory() as tmp:
            outputs = Path(tmp, "outputs")
            outputs.mkdir()
            (outputs / "test.txt").write_text("hello world!\n")
            (outputs / "summary.csv").write_text("metric,value\nfoo,logged 3 times\n")
            # Logs every file in the directory, at the root of the run's artifacts.
            mltrail.log_artifacts(str(outputs))

    print(f"Run id:        {run.info.run_id}")
    print(f"Stored in:     {mltrail.get_tracking_uri()}")
    print(f"Artifacts in:  {run.info.artifact_uri}")
    print()
    print("List your runs with:  mltrail runs list")


if __name__ == "__main__":
    main()
