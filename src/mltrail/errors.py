"""The errors mltrail raises: one tree, each error carrying MLflow's wire code.

    MltrailError                      INTERNAL_ERROR            500
    ├── InvalidArgument               INVALID_PARAMETER_VALUE   400
    │   └── BadRequest                BAD_REQUEST               400
    ├── NotFound                      RESOURCE_DOES_NOT_EXIST   404
    ├── AlreadyExists                 RESOURCE_ALREADY_EXISTS   400
    ├── Unauthenticated               UNAUTHENTICATED           401
    ├── PermissionDenied              PERMISSION_DENIED         403
    ├── Conflict                      RESOURCE_CONFLICT         409
    ├── RequestLimitExceeded          REQUEST_LIMIT_EXCEEDED    429
    ├── NotImplementedByServer        NOT_IMPLEMENTED           501
    └── TemporarilyUnavailable        TEMPORARILY_UNAVAILABLE   503

Callers catch by class (``except NotFound``), never by comparing code strings.
``MltrailError.from_code`` rebuilds the right class from a wire code, for the REST client.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "Conflict",
    "InvalidArgument",
    "MltrailError",
    "NotFound",
    "NotImplementedByServer",
    "PermissionDenied",
    "RequestLimitExceeded",
    "TemporarilyUnavailable",
    "Unauthenticated",
]


class MltrailError(Exception):
    """The root of every error mltrail raises on purpose."""

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code

    def to_dict(self) -> dict[str, str]:
        """The MLflow error envelope: ``{"error_code": ..., "message": ...}``."""
        return {"error_code": self.error_code, "message": self.message}

    @staticmethod
    def from_code(error_code: str, message: str) -> MltrailError:
        """The error of the class that owns ``error_code`` (unknown codes keep the root)."""
        cls = _CLASS_BY_CODE.get(error_code, MltrailError)
        return cls(message, error_code=error_code)


class InvalidArgument(MltrailError):
    """A value broke a rule; the message names the field and the rule."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class BadRequest(InvalidArgument):
    error_code = "BAD_REQUEST"


class NotFound(MltrailError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class AlreadyExists(MltrailError):
    # MLflow answers 400, not 409, for an existing resource.
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class Unauthenticated(MltrailError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(MltrailError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class Conflict(MltrailError):
    error_code = "RESOURCE_CONFLICT"
    http_status = 409


class RequestLimitExceeded(MltrailError):
    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429


class NotImplementedByServer(MltrailError):
    error_code = "NOT_IMPLEMENTED"
    http_status = 501


class TemporarilyUnavailable(MltrailError):
    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


_CLASS_BY_CODE: dict[str, type[MltrailError]] = {
    "INVALID_PARAMETER_VALUE": InvalidArgument,
    "BAD_REQUEST": BadRequest,
    "INVALID_STATE": InvalidArgument,
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "NOT_FOUND": NotFound,
    "ENDPOINT_NOT_FOUND": NotFound,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "ALREADY_EXISTS": AlreadyExists,
    "UNAUTHENTICATED": Unauthenticated,
    "CUSTOMER_UNAUTHORIZED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "RESOURCE_CONFLICT": Conflict,
    "ABORTED": Conflict,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceeded,
    "RESOURCE_EXHAUSTED": RequestLimitExceeded,
    "NOT_IMPLEMENTED": NotImplementedByServer,
    "TEMPORARILY_UNAVAILABLE": TemporarilyUnavailable,
}
