"""The demo: train a small linear model with plain gradient descent, several ways, and log it.

Each run records its hyperparameters, the train and validation loss of every epoch, the
learned weights as a JSON artifact and a short report. Nothing beyond mltrail is needed:
the data is generated here and the model is written in plain Python.

    python examples/demo/train.py
    mltrail runs list --experiment-name demo --order-by "metrics.val_loss ASC"
"""

from __future__ import annotations

import random

import mltrail

TRUE_WEIGHTS = (2.0, -3.0, 0.5)
TRUE_BIAS = 1.0


def make_data(n: int, rng: random.Random) -> list[tuple[list[float], float]]:
    rows = []
    for _ in range(n):
        x = [rng.uniform(-1, 1) for _ in TRUE_WEIGHTS]
        y = sum(w * xi for w, xi in zip(TRUE_WEIGHTS, x)) + TRUE_BIAS + rng.gauss(0, 0.1)
        rows.append((x, y))
    return rows


def mse(weights: list[float], bias: float, data: list[tuple[list[float], float]]) -> float:
    errors = [(sum(w * xi for w, xi in zip(weights, x)) + bias - y) ** 2 for x, y in data]
    return sum(errors) / len(errors)


def train(learning_rate: float, epochs: int, batch_size: int, seed: int) -> None:
    rng = random.Random(seed)
    data = make_data(600, rng)
    train_set, val_set = data[:500], data[500:]
    weights, bias = [0.0] * len(TRUE_WEIGHTS), 0.0

    with mltrail.start_run(run_name=f"lr-{learning_rate}-bs-{batch_size}"):
        mltrail.log_params(
            {"learning_rate": learning_rate, "epochs": epochs, "batch_size": batch_size, "seed": seed}
        )
        mltrail.set_tag("model", "linear-regression")
        for epoch in range(epochs):
            rng.shuffle(train_set)
            for start in range(0, len(train_set), batch_size):
                batch = train_set[start : start + batch_size]
                grad_w, grad_b = [0.0] * len(weights), 0.0
                for x, y in batch:
                    error = sum(w * xi for w, xi in zip(weights, x)) + bias - y
                    grad_w = [g + 2 * error * xi / len(batch) for g, xi in zip(grad_w, x)]
                    grad_b += 2 * error / len(batch)
                weights = [w - learning_rate * g for w, g in zip(weights, grad_w)]
                bias -= learning_rate * grad_b
            mltrail.log_metrics(
                {"train_loss": mse(weights, bias, train_set), "val_loss": mse(weights, bias, val_set)},
                step=epoch,
            )
        mltrail.log_dict({"weights": weights, "bias": bias}, "model/weights.json")
        report = "\n".join(
            [f"learned weights: {[round(w, 3) for w in weights]}, bias {bias:.3f}",
             f"true weights:    {list(TRUE_WEIGHTS)}, bias {TRUE_BIAS}"]
        )
        mltrail.log_text(report, "report.txt")
        print(f"lr={learning_rate:<5} batch={batch_size:<3} val_loss={mse(weights, bias, val_set):.4f}")


def main() -> None:
    mltrail.set_experiment("demo")
    for learning_rate in (0.01, 0.05, 0.2):
        for batch_size in (16, 64):
            train(learning_rate, epochs=30, batch_size=batch_size, seed=7)
    print(f"Logged 6 runs to {mltrail.get_tracking_uri()}")


if __name__ == "__main__":
    main()
