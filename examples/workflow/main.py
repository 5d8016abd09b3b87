"""The workflow: load_data -> train -> evaluate, each a child run of this one.

Every step goes through ``mltrail.projects.run(..., use_cache=True)``: a step that already
FINISHED with the same parameters, code and environment is not run again, its earlier run is
reused. Run the workflow twice and the second time nothing but this entry point runs:

    mltrail run examples/workflow
    mltrail run examples/workflow            # "Reusing run ..." for each step
    mltrail run examples/workflow -P l2=0.5  # load_data reused; train and evaluate run
"""

from __future__ import annotations

import argparse

import mltrail
import mltrail.projects


def step(entry_point: str, **parameters: object) -> str:
    submitted = mltrail.projects.run(
        ".", entry_point, parameters=parameters, use_cache=True
    )
    if not submitted.wait():
        raise SystemExit(f"step {entry_point} ended {submitted.get_status()}")
    return submitted.run_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--l2", type=float, required=True)
    args = parser.parse_args()
    with mltrail.start_run():
        data_run = step("load_data", rows=args.rows)
        data = f"runs:/{data_run}/data"
        model_run = step("train", data=data, l2=args.l2)
        eval_run = step("evaluate", data=data, model=f"runs:/{model_run}/model")
        rmse = mltrail.get_run(eval_run).data.metrics["rmse"]
        mltrail.log_metric("rmse", rmse)
    print(f"workflow: data {data_run}, model {model_run}, evaluation {eval_run}: rmse={rmse:.4f}")


if __name__ == "__main__":
    main()
