"""The model scoring server: MLflow's ``mlflow models serve`` protocol over one loaded model.

``app.py`` holds the ASGI app (``create_scoring_app``), the worker factory (``app_from_env``)
and ``serve``; ``payload.py`` reads request bodies into model input; ``predictions.py``
writes model output as JSON. Nothing is imported here, so the pieces load only when used.
"""
