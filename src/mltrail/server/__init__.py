"""The tracking server: MLflow's REST API and artifact proxy over one ASGI app."""
