"""One entry of an artifact listing."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "is_dir": self.is_dir}
        if self.file_size is not None and not self.is_dir:
            out["file_size"] = self.file_size
        return out
