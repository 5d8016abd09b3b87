"""Registry events the server announces after a change has been stored.

A handler calls ``publish(request, entity, action, payload)`` once its write has committed.
The app's ``EventSink`` (``app.state.events``) decides what happens: the webhook dispatcher
signs and delivers the event to every subscribed URL, in the background; the default sink
drops it. Publishing never fails the request that caused it.

Entities and actions follow MLflow's webhook events, plus a stage change (MLflow's stages
have no event):

    REGISTERED_MODEL     CREATED
    MODEL_VERSION        CREATED, STAGE_TRANSITIONED
    MODEL_VERSION_TAG    SET, DELETED
    MODEL_VERSION_ALIAS  CREATED, DELETED
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.requests import Request

from mltrail.entities.webhook import EVENTS

__all__ = ["EVENTS", "DropEvents", "EventSink", "publish"]

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def emit(self, entity: str, action: str, payload: dict[str, Any]) -> None:
        """Take an event; must return quickly (deliver in the background) and not raise."""


class DropEvents:
    def emit(self, entity: str, action: str, payload: dict[str, Any]) -> None:
        return None


def publish(request: Request, entity: str, action: str, payload: dict[str, Any]) -> None:
    sink: EventSink = getattr(request.app.state, "events", None) or DropEvents()
    try:
        sink.emit(entity, action, payload)
    except Exception:  # noqa: BLE001 - an event must never fail the write that caused it
        log.exception("Could not publish the %s %s event", entity, action)
