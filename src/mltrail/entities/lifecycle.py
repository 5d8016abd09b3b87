"""Lifecycle stages, run statuses and view types, under MLflow's names and numbers."""

from __future__ import annotations

import enum

from mltrail.errors import InvalidArgument


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def view_type_to_stages(cls, view_type: ViewType | int | str) -> tuple[str, ...]:
        view = ViewType.coerce(view_type)
        if view is ViewType.ACTIVE_ONLY:
            return (cls.ACTIVE,)
        if view is ViewType.DELETED_ONLY:
            return (cls.DELETED,)
        return (cls.ACTIVE, cls.DELETED)


class RunStatus(enum.IntEnum):
    """MLflow's run statuses; ``RunInfo.status`` holds the name as a string."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    @classmethod
    def to_string(cls, status: int) -> str:
        return cls(status).name

    @classmethod
    def from_string(cls, name: str) -> int:
        try:
            return cls[name.upper()].value
        except KeyError:
            valid = ", ".join(s.name for s in cls)
            raise InvalidArgument(f"Invalid run status {name!r}: expected one of {valid}") from None

    @classmethod
    def all_status(cls) -> list[int]:
        return [s.value for s in cls]

    @classmethod
    def is_terminated(cls, status: int | str) -> bool:
        value = cls.from_string(status) if isinstance(status, str) else status
        return value in (cls.FINISHED, cls.FAILED, cls.KILLED)

    @classmethod
    def coerce(cls, status: int | str) -> str:
        """The status name for a name or a number, checked."""
        if isinstance(status, str) and not status.isdigit():
            return cls.to_string(cls.from_string(status))
        try:
            return cls(int(status)).name
        except ValueError:
            raise InvalidArgument(f"Invalid run status {status!r}") from None


class ViewType(enum.IntEnum):
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def from_string(cls, name: str) -> ViewType:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            valid = ", ".join(v.name for v in cls)
            raise InvalidArgument(f"Invalid view type {name!r}: expected one of {valid}") from None

    @classmethod
    def to_string(cls, view: int) -> str:
        return cls(view).name

    @classmethod
    def coerce(cls, view: ViewType | int | str) -> ViewType:
        if isinstance(view, ViewType):
            return view
        if isinstance(view, str) and not view.isdigit():
            return cls.from_string(view)
        try:
            return cls(int(view))
        except ValueError:
            raise InvalidArgument(f"Invalid view type {view!r}") from None
