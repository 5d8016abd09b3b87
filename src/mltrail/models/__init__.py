"""Models: one directory format for every framework, loaded, served and scored through pyfunc.

A model is a directory holding an ``MLmodel`` file (its flavors, signature and metadata), the
flavor's files, and its environment (``requirements.txt``, ``python_env.yaml``,
``conda.yaml``), as MLflow writes it. Frameworks (numpy, pandas, scikit-learn, ...) are
imported inside the functions that need them, never when this package is.
"""

__all__ = ["evaluate"]


def __getattr__(name: str) -> object:
    # ``mltrail.models.evaluate`` without importing evaluation (and what it loads) up front.
    if name == "evaluate":
        from mltrail.models.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
