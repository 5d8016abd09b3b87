"""A page of results with the token for the next one, as MLflow's ``PagedList``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


class PagedList(list[T]):
    def __init__(self, items: Iterable[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
