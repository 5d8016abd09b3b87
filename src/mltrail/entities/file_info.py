"""One entry of an artifact listing."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mltrail.entities import _wire


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileInfo:
        """Parse the REST shape. MLflow omits ``file_size`` for directories and for empty
        files: a file without one has size 0, a directory none."""
        data = _wire.mapping(data, "file")
        is_dir = _wire.flag(data, "is_dir")
        size = _wire.optional_integer(data, "file_size")
        if is_dir:
            size = None
        elif size is None:
            size = 0
        return cls(_wire.text(data, "path"), is_dir, size)
