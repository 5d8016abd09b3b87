"""``SqlWebhookStore``: registry webhooks and their deliveries, on the tracking store's engine.

A webhook is a row in ``webhooks`` with one ``webhook_events`` row per subscribed event, so
the dispatcher finds an event's webhooks through an index. Every delivery is a row in
``webhook_deliveries``, created before the first attempt and updated after each one.

Each method is one transaction; values are validated (``mltrail.entities.webhook``) before
anything is written, and SQL errors are translated here, at the boundary, so no SQL text
reaches the caller. Deleting a webhook deletes its events and deliveries with it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltrail.entities import PagedList
from mltrail.entities.search import decode_page_token, encode_page_token
from mltrail.entities.webhook import (
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookStatus,
    validate_list_max_results,
    validate_webhook_description,
    validate_webhook_events,
    validate_webhook_name,
    validate_webhook_secret,
    validate_webhook_url,
)
from mltrail.errors import InvalidArgument, NotFound
from mltrail.storage.sql import schema
from mltrail.storage.sql.engine import WRITE, translated_errors

log = logging.getLogger(__name__)

# A receiver's answer is kept for reading, not archiving.
MAX_RESPONSE_BODY = 1_000

_hooks = schema.webhooks
_events = schema.webhook_events
_deliveries = schema.webhook_deliveries


def _now() -> int:
    return int(time.time() * 1000)


class SqlWebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Transactions

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translated_errors("webhook database"), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with translated_errors("webhook database"), self.engine.connect().execution_options(**WRITE) as conn:
            with conn.begin():
                yield conn

    # Webhooks

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent | dict[str, Any]],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | str | None = None,
    ) -> Webhook:
        now = _now()
        webhook = Webhook(
            webhook_id=str(uuid.uuid4()),
            name=validate_webhook_name(name),
            url=validate_webhook_url(url),
            events=validate_webhook_events(events),
            status=WebhookStatus.ACTIVE if status is None else WebhookStatus.coerce(status),
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=validate_webhook_description(description) or None,
            secret=validate_webhook_secret(secret),
        )
        with self._write() as conn:
            conn.execute(
                _hooks.insert().values(
                    webhook_id=webhook.webhook_id,
                    name=webhook.name,
                    description=webhook.description,
                    url=webhook.url,
                    secret=webhook.secret,
                    status=webhook.status.value,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                )
            )
            _insert_events(conn, webhook.webhook_id, webhook.events)
        return webhook

    def get_webhook(self, webhook_id: str) -> Webhook:
        """The webhook, with its secret (for signing; never serialized)."""
        with self._read() as conn:
            return _get(conn, webhook_id)

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """Webhooks, newest first (at most 100 per page by default, 1,000 at most)."""
        limit = validate_list_max_results(max_results)
        offset = decode_page_token(page_token)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(_hooks)
                .order_by(_hooks.c.creation_timestamp.desc(), _hooks.c.webhook_id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
            events = _events_of(conn, [r.webhook_id for r in rows[:limit]])
        hooks = [_webhook(r, events.get(r.webhook_id, ())) for r in rows[:limit]]
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return PagedList(hooks, token)

    def webhooks_for_event(self, event: WebhookEvent) -> list[Webhook]:
        """The ``ACTIVE`` webhooks subscribed to ``event``, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(_hooks)
                .join(_events, _events.c.webhook_id == _hooks.c.webhook_id)
                .where(
                    _events.c.entity == event.entity,
                    _events.c.action == event.action,
                    _hooks.c.status == WebhookStatus.ACTIVE.value,
                )
                .order_by(_hooks.c.creation_timestamp, _hooks.c.webhook_id)
            ).all()
            events = _events_of(conn, [r.webhook_id for r in rows])
        return [_webhook(r, events.get(r.webhook_id, ())) for r in rows]

    def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent | dict[str, Any]] | None = None,
        secret: str | None = None,
        status: WebhookStatus | str | None = None,
    ) -> Webhook:
        """Change the given fields (None leaves a field as it is). An empty description or
        secret clears it; a webhook without a secret sends unsigned deliveries."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = validate_webhook_name(name)
        if url is not None:
            values["url"] = validate_webhook_url(url)
        if description is not None:
            values["description"] = validate_webhook_description(description) or None
        if secret is not None:
            values["secret"] = validate_webhook_secret(secret)
        if status is not None:
            values["status"] = WebhookStatus.coerce(status).value
        new_events = None if events is None else validate_webhook_events(events)
        values["last_updated_timestamp"] = _now()
        with self._write() as conn:
            done = conn.execute(
                _hooks.update().where(_hooks.c.webhook_id == webhook_id).values(**values)
            )
            if done.rowcount == 0:
                raise _not_found(webhook_id)
            if new_events is not None:
                conn.execute(_events.delete().where(_events.c.webhook_id == webhook_id))
                _insert_events(conn, webhook_id, new_events)
            return _get(conn, webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete the webhook with its events and recorded deliveries."""
        with self._write() as conn:
            # Children first: SQLite does not enforce the foreign keys' cascade by default.
            conn.execute(_deliveries.delete().where(_deliveries.c.webhook_id == webhook_id))
            conn.execute(_events.delete().where(_events.c.webhook_id == webhook_id))
            done = conn.execute(_hooks.delete().where(_hooks.c.webhook_id == webhook_id))
            if done.rowcount == 0:
                raise _not_found(webhook_id)

    # Deliveries

    def create_delivery(
        self, webhook_id: str, event: WebhookEvent, payload: str, delivery_id: str | None = None
    ) -> WebhookDelivery | None:
        """Record a ``PENDING`` delivery of ``payload`` (the JSON body) to the webhook; None
        when the webhook is gone (deleted while the event waited)."""
        now = _now()
        delivery = WebhookDelivery(
            delivery_id=delivery_id or str(uuid.uuid4()),
            webhook_id=webhook_id,
            entity=event.entity,
            action=event.action,
            payload=payload,
            status=DeliveryStatus.PENDING,
            attempts=0,
            creation_timestamp=now,
            last_updated_timestamp=now,
        )
        try:
            with self._write() as conn:
                found = conn.execute(
                    sa.select(_hooks.c.webhook_id).where(_hooks.c.webhook_id == webhook_id)
                ).first()
                if found is None:
                    return None
                conn.execute(
                    _deliveries.insert().values(
                        delivery_id=delivery.delivery_id,
                        webhook_id=webhook_id,
                        entity=event.entity,
                        action=event.action,
                        payload=payload,
                        status=delivery.status.value,
                        attempts=0,
                        creation_timestamp=now,
                        last_updated_timestamp=now,
                    )
                )
        except InvalidArgument:  # the webhook was deleted between the two statements
            return None
        return delivery

    def record_attempt(
        self,
        delivery_id: str,
        *,
        attempts: int,
        status: DeliveryStatus,
        response_status: int | None = None,
        response_body: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record the outcome of the delivery's latest attempt (a no-op once it is gone)."""
        if response_body is not None and len(response_body) > MAX_RESPONSE_BODY:
            response_body = response_body[:MAX_RESPONSE_BODY]
        with self._write() as conn:
            conn.execute(
                _deliveries.update()
                .where(_deliveries.c.delivery_id == delivery_id)
                .values(
                    attempts=attempts,
                    status=status.value,
                    response_status=response_status,
                    response_body=response_body,
                    error_message=error_message,
                    last_updated_timestamp=_now(),
                )
            )

    def get_delivery(self, delivery_id: str) -> WebhookDelivery:
        with self._read() as conn:
            row = conn.execute(
                sa.select(_deliveries).where(_deliveries.c.delivery_id == delivery_id)
            ).first()
        if row is None:
            raise NotFound(f"Webhook delivery with ID {delivery_id!r} not found")
        return _delivery(row)

    def list_deliveries(
        self, webhook_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[WebhookDelivery]:
        """A webhook's deliveries, newest first."""
        limit = validate_list_max_results(max_results)
        offset = decode_page_token(page_token)
        with self._read() as conn:
            _get(conn, webhook_id)
            rows = conn.execute(
                sa.select(_deliveries)
                .where(_deliveries.c.webhook_id == webhook_id)
                .order_by(
                    _deliveries.c.creation_timestamp.desc(), _deliveries.c.delivery_id
                )
                .offset(offset)
                .limit(limit + 1)
            ).all()
        token = encode_page_token(offset + limit) if len(rows) > limit else None
        return PagedList([_delivery(r) for r in rows[:limit]], token)


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook with ID {webhook_id!r} not found")


def _insert_events(conn: Connection, webhook_id: str, events: Sequence[WebhookEvent]) -> None:
    conn.execute(
        _events.insert(),
        [{"webhook_id": webhook_id, "entity": e.entity, "action": e.action} for e in events],
    )


def _events_of(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[WebhookEvent, ...]]:
    if not ids:
        return {}
    found: dict[str, list[WebhookEvent]] = {}
    rows = conn.execute(
        sa.select(_events)
        .where(_events.c.webhook_id.in_(ids))
        .order_by(_events.c.webhook_id, _events.c.entity, _events.c.action)
    )
    for row in rows:
        try:
            found.setdefault(row.webhook_id, []).append(WebhookEvent(row.entity, row.action))
        except InvalidArgument:  # an event this version no longer knows: skip it
            log.warning("Webhook %s lists an unknown event %s.%s", row.webhook_id,
                        row.entity, row.action)
    return {key: tuple(value) for key, value in found.items()}


def _get(conn: Connection, webhook_id: str) -> Webhook:
    row = conn.execute(sa.select(_hooks).where(_hooks.c.webhook_id == webhook_id)).first()
    if row is None:
        raise _not_found(webhook_id)
    return _webhook(row, _events_of(conn, [webhook_id]).get(webhook_id, ()))


def _webhook(row: Any, events: tuple[WebhookEvent, ...]) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        name=row.name,
        url=row.url,
        events=events,
        status=WebhookStatus.coerce(row.status),
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        description=row.description,
        secret=row.secret,
    )


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        entity=row.entity,
        action=row.action,
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        response_status=row.response_status,
        response_body=row.response_body,
        error_message=row.error_message,
    )
