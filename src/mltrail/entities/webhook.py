"""Webhooks: URLs the server calls, signed, when a registry event they subscribe to happens.

A webhook has a name, a URL, the events it wants (pairs of entity and action, the table
``EVENTS`` below), an optional secret and a status (``ACTIVE`` or ``DISABLED``). The JSON
shapes are those of MLflow 3's ``WebhookService``: events travel as proto enum names
(``{"entity": "MODEL_VERSION", "action": "CREATED"}``) and the secret is write-only, so
``Webhook.to_dict`` never includes it.

Each call of a webhook is a ``WebhookDelivery``, recorded with its attempts and outcome.

The checks here are the ones that need no network: a URL's scheme, host and shape. Whether
its host resolves to a public address is the server's check (``mltrail.server.webhooks``),
made when the webhook is written and again before every delivery.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from mltrail.entities import _wire
from mltrail.errors import InvalidArgument

# The events a webhook may subscribe to: entity -> actions. MLflow's registry events, plus a
# stage change (MLflow's stages have no event).
EVENTS: dict[str, tuple[str, ...]] = {
    "REGISTERED_MODEL": ("CREATED",),
    "MODEL_VERSION": ("CREATED", "STAGE_TRANSITIONED"),
    "MODEL_VERSION_TAG": ("SET", "DELETED"),
    "MODEL_VERSION_ALIAS": ("CREATED", "DELETED"),
}

# The proto's enum numbers, which a JSON body may send instead of names.
_ENTITY_NUMBERS = {1: "REGISTERED_MODEL", 2: "MODEL_VERSION", 3: "MODEL_VERSION_TAG",
                   4: "MODEL_VERSION_ALIAS"}
_ACTION_NUMBERS = {1: "CREATED", 2: "UPDATED", 3: "DELETED", 4: "SET"}

MAX_WEBHOOK_URL_LENGTH = 500
MAX_WEBHOOK_DESCRIPTION_LENGTH = 1_000
MAX_WEBHOOK_SECRET_LENGTH = 1_000
MAX_WEBHOOK_EVENTS = 50
LIST_WEBHOOKS_DEFAULT = 100
LIST_WEBHOOKS_MAX = 1_000
WEBHOOK_SCHEMES = ("http", "https")

# MLflow's rule: 1 to 63 letters, digits, dots, underscores and hyphens, starting and ending
# with a letter or digit.
_NAME_RE = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


class WebhookStatus(str, enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"

    @classmethod
    def coerce(cls, status: WebhookStatus | str | int) -> WebhookStatus:
        """A status from a member, a name in any case, or the proto's number (1, 2)."""
        if isinstance(status, WebhookStatus):
            return status
        if isinstance(status, str) and status.strip().isdigit():
            status = int(status)
        if isinstance(status, int) and not isinstance(status, bool):
            status = {1: "ACTIVE", 2: "DISABLED"}.get(status, str(status))
        if isinstance(status, str):
            try:
                return cls(status.strip().upper())
            except ValueError:
                pass
        raise InvalidArgument(
            f"Invalid webhook status {status!r}: expected one of ACTIVE, DISABLED"
        )

    def __str__(self) -> str:
        return self.value


class DeliveryStatus(str, enum.Enum):
    """A delivery is ``PENDING`` while attempts remain, then ``DELIVERED`` or ``FAILED``."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


def _event_name(value: Any, numbers: Mapping[int, str], field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        name = numbers.get(value)
        if name is None:
            raise InvalidArgument(f"Invalid webhook event {field} {value!r}")
        return name
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"Invalid webhook event {field} {value!r}: expected a name")
    # MLflow's Python API writes them in lower case (``registered_model``).
    return value.strip().upper()


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """An (entity, action) pair from ``EVENTS``, in the proto's upper-case names."""

    entity: str
    action: str

    def __post_init__(self) -> None:
        actions = EVENTS.get(self.entity)
        if actions is None:
            valid = ", ".join(EVENTS)
            raise InvalidArgument(
                f"Invalid webhook event entity {self.entity!r}: expected one of {valid}"
            )
        if self.action not in actions:
            raise InvalidArgument(
                f"Invalid webhook event action {self.action!r} for entity {self.entity}: "
                f"expected one of {', '.join(actions)}"
            )

    @classmethod
    def of(cls, entity: Any, action: Any) -> WebhookEvent:
        """An event from names in any case (``model_version``) or proto enum numbers."""
        return cls(
            _event_name(entity, _ENTITY_NUMBERS, "entity"),
            _event_name(action, _ACTION_NUMBERS, "action"),
        )

    @classmethod
    def from_dict(cls, data: Any) -> WebhookEvent:
        if not isinstance(data, Mapping):
            raise InvalidArgument(
                f"Invalid webhook event {data!r}: expected an object with entity and action"
            )
        for field in ("entity", "action"):
            if data.get(field) is None:
                raise InvalidArgument(f"Webhook event {dict(data)!r} has no {field}")
        return cls.of(data["entity"], data["action"])

    def to_dict(self) -> dict[str, str]:
        return {"entity": self.entity, "action": self.action}

    def __str__(self) -> str:
        """MLflow's dotted spelling, as in the delivered payload: ``model_version.created``."""
        return f"{self.entity.lower()}.{self.action.lower()}"


@dataclasses.dataclass(frozen=True)
class Webhook:
    webhook_id: str
    name: str
    url: str
    events: tuple[WebhookEvent, ...]
    status: WebhookStatus = WebhookStatus.ACTIVE
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    description: str | None = None
    # Write-only: kept for signing, never serialized.
    secret: str | None = dataclasses.field(default=None, repr=False)

    def subscribes_to(self, event: WebhookEvent) -> bool:
        return event in self.events

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"webhook_id": self.webhook_id, "name": self.name}
        if self.description:
            out["description"] = self.description
        out["url"] = self.url
        out["events"] = [e.to_dict() for e in self.events]
        out["status"] = self.status.value
        out["creation_timestamp"] = self.creation_timestamp
        out["last_updated_timestamp"] = self.last_updated_timestamp
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Webhook:
        """A webhook from a server's JSON (which carries no secret)."""
        data = _wire.mapping(data, "webhook")
        return cls(
            webhook_id=_wire.identifier(data, "webhook_id"),
            name=_wire.text(data, "name"),
            url=_wire.text(data, "url"),
            events=tuple(WebhookEvent.from_dict(e) for e in _wire.items(data, "events")),
            status=WebhookStatus.coerce(data.get("status") or "ACTIVE"),
            creation_timestamp=_wire.integer(data.get("creation_timestamp", 0),
                                             "creation_timestamp"),
            last_updated_timestamp=_wire.integer(data.get("last_updated_timestamp", 0),
                                                 "last_updated_timestamp"),
            description=_wire.optional_text(data, "description"),
        )


@dataclasses.dataclass(frozen=True)
class WebhookDelivery:
    """One event sent to one webhook: its body, attempts so far and outcome."""

    delivery_id: str
    webhook_id: str
    entity: str
    action: str
    payload: str
    status: DeliveryStatus
    attempts: int
    creation_timestamp: int
    last_updated_timestamp: int
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "event": {"entity": self.entity, "action": self.action},
            "payload": self.payload,
            "status": self.status.value,
            "attempts": self.attempts,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.response_status is not None:
            out["response_status"] = self.response_status
        if self.response_body is not None:
            out["response_body"] = self.response_body
        if self.error_message:
            out["error_message"] = self.error_message
        return out


@dataclasses.dataclass(frozen=True)
class WebhookTestResult:
    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": self.success}
        if self.response_status is not None:
            out["response_status"] = self.response_status
        if self.response_body is not None:
            out["response_body"] = self.response_body
        if self.error_message:
            out["error_message"] = self.error_message
        return out


# Validation: stores call these before they write, so a bad value changes nothing.


def validate_webhook_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"Webhook name must be a non-empty string, got {name!r}")
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid webhook name {name!r}: it must be 1 to 63 letters, digits, dots, "
            "underscores or hyphens, starting and ending with a letter or digit"
        )
    return name


def validate_webhook_url(url: Any) -> str:
    """A URL's shape: http or https, a host, no user name or password, no whitespace, at
    most 500 characters. The host's addresses are checked by the server."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument(f"Webhook url must be a non-empty string, got {url!r}")
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise InvalidArgument(
            f"Webhook url is {len(url)} characters; the limit is {MAX_WEBHOOK_URL_LENGTH}"
        )
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidArgument(f"Invalid webhook url {url!r}: it must not contain whitespace "
                              "or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidArgument(f"Invalid webhook url {url!r}: {exc}") from None
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:
        raise InvalidArgument(
            f"Invalid webhook url {url!r}: the scheme must be http or https, "
            f"not {parts.scheme or 'none'!r}"
        )
    if "@" in parts.netloc:
        raise InvalidArgument(
            f"Invalid webhook url {url!r}: a user name or password in the URL is not allowed"
        )
    if not parts.hostname:
        raise InvalidArgument(f"Invalid webhook url {url!r}: it has no host")
    return url


def validate_webhook_events(events: Any) -> tuple[WebhookEvent, ...]:
    """A non-empty list of events (``WebhookEvent`` or their JSON objects), without repeats."""
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence) or not events:
        raise InvalidArgument(
            "Webhook events must be a non-empty list of {entity, action} objects, "
            f"got {events!r}"
        )
    if len(events) > MAX_WEBHOOK_EVENTS:
        raise InvalidArgument(
            f"A webhook lists {len(events)} events; the limit is {MAX_WEBHOOK_EVENTS}"
        )
    parsed = [e if isinstance(e, WebhookEvent) else WebhookEvent.from_dict(e) for e in events]
    return tuple(dict.fromkeys(parsed))


def validate_webhook_description(description: Any) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise InvalidArgument(f"Webhook description must be a string, got {description!r}")
    if "\x00" in description:
        raise InvalidArgument("Webhook description must not contain NUL characters")
    if len(description) > MAX_WEBHOOK_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"Webhook description is {len(description)} characters; "
            f"the limit is {MAX_WEBHOOK_DESCRIPTION_LENGTH}"
        )
    return description


def validate_webhook_secret(secret: Any) -> str | None:
    """A signing secret, or None (an empty one means none: deliveries go unsigned)."""
    if secret is None or secret == "":
        return None
    if not isinstance(secret, str):
        raise InvalidArgument("Webhook secret must be a string")
    if "\x00" in secret:
        raise InvalidArgument("Webhook secret must not contain NUL characters")
    if len(secret) > MAX_WEBHOOK_SECRET_LENGTH:
        raise InvalidArgument(
            f"Webhook secret is {len(secret)} characters; "
            f"the limit is {MAX_WEBHOOK_SECRET_LENGTH}"
        )
    return secret


def validate_list_max_results(max_results: Any) -> int:
    if max_results is None:
        return LIST_WEBHOOKS_DEFAULT
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidArgument(f"Invalid max_results {max_results!r}: expected an integer")
    if not 1 <= max_results <= LIST_WEBHOOKS_MAX:
        raise InvalidArgument(
            f"Invalid max_results {max_results}: it must be between 1 and {LIST_WEBHOOKS_MAX}"
        )
    return max_results
