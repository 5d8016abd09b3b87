"""The model registry's client side, and where a model URI points (``runs:/``, ``models:/``)."""
