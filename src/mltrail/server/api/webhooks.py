"""``/webhooks`` (MLflow 3's ``WebhookService``) and ``/webhooks/{id}/deliveries`` (ours).

Paths, methods and shapes are the proto's: ``{"webhook": {...}}`` for one webhook,
``{"webhooks": [...], "next_page_token"}`` for a page, ``{"result": {"success",
"response_status", "response_body", "error_message"}}`` for a test. The secret is accepted
on create and update and never returned. A URL is checked before it is stored: http or
https, and a host that resolves to public addresses only (``server/webhooks.py``).

The deliveries listing is our extension: each delivery with its event, body, attempts and
outcome, newest first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from mltrail.entities.webhook import WebhookEvent
from mltrail.errors import InvalidArgument, NotImplementedByServer
from mltrail.server.deps import Config
from mltrail.server.responses import FastJSONResponse, empty
from mltrail.server.routing import MlflowRoute
from mltrail.server.schemas import EnumText, Message
from mltrail.server.webhooks import WebhookDispatcher, check_webhook_url
from mltrail.storage.sql.webhooks import SqlWebhookStore

router = APIRouter(route_class=MlflowRoute, tags=["webhooks"])


def _webhooks(request: Request) -> SqlWebhookStore:
    store: SqlWebhookStore | None = getattr(request.app.state, "webhooks", None)
    if store is None:
        raise NotImplementedByServer("This server's store does not keep webhooks")
    return store


def _dispatcher(request: Request) -> WebhookDispatcher:
    events = getattr(request.app.state, "events", None)
    if not isinstance(events, WebhookDispatcher):
        raise NotImplementedByServer("This server does not deliver webhooks")
    return events


Webhooks = Annotated[SqlWebhookStore, Depends(_webhooks)]
Dispatcher = Annotated[WebhookDispatcher, Depends(_dispatcher)]


class CreateWebhook(Message):
    name: str | None = None
    url: str | None = None
    events: list[Any] = []
    description: str | None = None
    secret: str | None = None
    status: EnumText | None = None


class UpdateWebhook(Message):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    events: list[Any] = []
    secret: str | None = None
    status: EnumText | None = None


class TestWebhook(Message):
    event: dict[str, Any] | None = None


def _required(value: str | None, field: str) -> str:
    if not value:
        raise InvalidArgument(
            f"Missing value for required parameter '{field}'. "
            "See the API docs for more information about request parameters."
        )
    return value


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> FastJSONResponse:
    out: dict[str, Any] = {}
    if items:
        out[key] = items
    if token:
        out["next_page_token"] = token
    return FastJSONResponse(out)


@router.post("/webhooks")
def create_webhook(body: CreateWebhook, store: Webhooks, config: Config) -> FastJSONResponse:
    url = _required(body.url, "url")
    name = _required(body.name, "name")
    if not body.events:
        _required(None, "events")
    check_webhook_url(url, config.webhooks_allow_private)
    webhook = store.create_webhook(
        name=name,
        url=url,
        events=body.events,
        description=body.description or None,
        secret=body.secret or None,
        status=body.status or None,
    )
    return FastJSONResponse({"webhook": webhook.to_dict()})


@router.get("/webhooks")
def list_webhooks(
    store: Webhooks,
    max_results: int | None = Query(None),
    page_token: str | None = Query(None),
) -> FastJSONResponse:
    page = store.list_webhooks(max_results=max_results or None, page_token=page_token or None)
    return _page("webhooks", [w.to_dict() for w in page], page.token)


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: str, store: Webhooks) -> FastJSONResponse:
    return FastJSONResponse({"webhook": store.get_webhook(webhook_id).to_dict()})


@router.patch("/webhooks/{webhook_id}")
def update_webhook(
    webhook_id: str, body: UpdateWebhook, store: Webhooks, config: Config
) -> FastJSONResponse:
    if body.url:
        check_webhook_url(body.url, config.webhooks_allow_private)
    webhook = store.update_webhook(
        webhook_id,
        name=body.name or None,
        description=body.description,
        url=body.url or None,
        events=body.events or None,
        secret=body.secret,
        status=body.status or None,
    )
    return FastJSONResponse({"webhook": webhook.to_dict()})


@router.delete("/webhooks/{webhook_id}")
def delete_webhook(webhook_id: str, store: Webhooks) -> FastJSONResponse:
    store.delete_webhook(webhook_id)
    return empty()


@router.post("/webhooks/{webhook_id}/test")
def test_webhook(
    webhook_id: str, body: TestWebhook, store: Webhooks, dispatcher: Dispatcher
) -> FastJSONResponse:
    webhook = store.get_webhook(webhook_id)
    event = WebhookEvent.from_dict(body.event) if body.event else None
    result = dispatcher.test(webhook, event)
    return FastJSONResponse({"result": result.to_dict()})


@router.get("/webhooks/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: str,
    store: Webhooks,
    max_results: int | None = Query(None),
    page_token: str | None = Query(None),
) -> FastJSONResponse:
    page = store.list_deliveries(
        webhook_id, max_results=max_results or None, page_token=page_token or None
    )
    return _page("deliveries", [d.to_dict() for d in page], page.token)
