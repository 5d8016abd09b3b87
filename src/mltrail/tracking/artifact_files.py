"""Turning Python objects into artifact files: text, dicts, figures, images and tables.

Each function writes ``artifact_file`` (a relative path such as ``plots/loss.png``) under
``directory`` and returns the written path. Plotting and array libraries are imported only
by the function that needs them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mltrail.errors import InvalidArgument


def _target(directory: str, artifact_file: str) -> str:
    path = os.path.join(directory, os.path.basename(artifact_file))
    return path


def write_text(directory: str, text: str, artifact_file: str) -> str:
    path = _target(directory, artifact_file)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def write_dict(directory: str, dictionary: Any, artifact_file: str) -> str:
    """JSON, or YAML when the file ends in ``.yaml``/``.yml``."""
    path = _target(directory, artifact_file)
    extension = os.path.splitext(artifact_file)[1].lower()
    with open(path, "w", encoding="utf-8") as handle:
        if extension in (".yaml", ".yml"):
            import yaml  # a core dependency, but only needed here

            yaml.safe_dump(dictionary, handle, default_flow_style=False, sort_keys=False)
        else:
            json.dump(dictionary, handle, indent=2)
    return path


def write_figure(directory: str, figure: Any, artifact_file: str) -> str:
    """A matplotlib figure (any image format it saves) or a plotly figure (HTML or image)."""
    path = _target(directory, artifact_file)
    module = type(figure).__module__
    if not module.startswith(("matplotlib", "plotly")):
        raise InvalidArgument(
            f"log_figure takes a matplotlib or plotly figure, not {type(figure).__name__}"
        )
    try:
        if module.startswith("matplotlib"):
            figure.savefig(path)
        elif artifact_file.lower().endswith(".html"):
            figure.write_html(path, include_plotlyjs="cdn")
        elif artifact_file.lower().endswith(".json"):
            figure.write_json(path)
        else:
            figure.write_image(path)
    except ValueError as exc:  # the format named by the extension is not one it writes
        raise InvalidArgument(f"log_figure cannot write {artifact_file!r}: {exc}") from exc
    return path


def write_image(directory: str, image: Any, artifact_file: str) -> str:
    """A PIL image, or a numpy array (H x W, H x W x 1/3/4; floats in [0, 1] or integers)."""
    from PIL import Image  # pip install 'mltrail[figures]'

    path = _target(directory, artifact_file)
    if not isinstance(image, Image.Image):
        image = Image.fromarray(_image_array(image))
    try:
        image.save(path)
    except (KeyError, ValueError) as exc:  # an extension PIL knows no format for
        raise InvalidArgument(f"log_image cannot write {artifact_file!r}: {exc}") from exc
    return path


def _image_array(image: Any) -> Any:
    import numpy as np

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidArgument(
            f"log_image takes an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
            f"got {array.shape}"
        )
    if array.dtype.kind == "f":
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise InvalidArgument("log_image: float pixel values must lie in [0, 1]")
        array = (array * 255).round().astype(np.uint8)
    elif array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidArgument("log_image: integer pixel values must lie in [0, 255]")
        array = array.astype(np.uint8)
    elif array.dtype.kind == "b":
        array = array.astype(np.uint8) * 255
    else:
        raise InvalidArgument(f"log_image: unsupported pixel type {array.dtype}")
    return array


def write_table(directory: str, data: Any, artifact_file: str) -> str:
    """A pandas DataFrame or a dict of columns, as JSON ``{"columns": [...], "data": [...]}``."""
    import pandas as pd  # pip install 'mltrail[pandas]'

    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(
            f"log_table takes a pandas DataFrame or a dict of columns, not {type(data).__name__}"
        )
    if not artifact_file.lower().endswith(".json"):
        raise InvalidArgument(f"log_table writes JSON: artifact_file must end in .json, got {artifact_file!r}")
    path = _target(directory, artifact_file)
    data.to_json(path, orient="split", index=False, date_format="iso")
    return path


def read_table(path: str) -> Any:
    import pandas as pd

    with open(path, encoding="utf-8") as handle:
        payload = json.load(handle)
    return pd.DataFrame(payload["data"], columns=payload["columns"])
