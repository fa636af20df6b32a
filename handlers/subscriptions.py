"""Function `subscriptions`: push delivery subscriptions, their delivery log, secret
rotation and replays (docs/triggers.md, "Push delivery")."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.models import PageQuery
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays


def _no_body(request: Request) -> None:
    if request.body.strip():
        request.json_model(subs.NoBody)


def _id(request: Request) -> str:
    return request.path_param("subscription_id")


def create(request: Request) -> Response:
    new = request.json_model(subs.NewSubscription)
    return json_response(201, subs.create(request.tenant, new))


def list_subscriptions(request: Request) -> Response:
    query = request.query_model(PageQuery)
    items, next_cursor = subs.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def get_subscription(request: Request) -> Response:
    return json_response(200, subs.get(request.tenant, _id(request)).public())


def delete_subscription(request: Request) -> Response:
    subs.delete(request.tenant, _id(request))
    return empty_response(204)


def enable(request: Request) -> Response:
    _no_body(request)
    return json_response(200, subs.enable(request.tenant, _id(request)))


def rotate_subscription_secret(request: Request) -> Response:
    _no_body(request)
    return json_response(200, subs.rotate_secret(request.tenant, _id(request)))


def deliveries(request: Request) -> Response:
    query = request.query_model(PageQuery)
    items, next_cursor = subs.deliveries_page(
        request.tenant, _id(request), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


def replay(request: Request) -> Response:
    body = request.json_model(subs.ReplayRequest)
    return json_response(202, replays.start_replay(request.tenant, _id(request), body))


ROUTES: dict[str, Route] = {
    "POST /subscriptions": Route(create, auth="creator"),
    "GET /subscriptions": Route(list_subscriptions, auth="viewer"),
    "GET /subscriptions/{subscription_id}": Route(get_subscription, auth="viewer"),
    "DELETE /subscriptions/{subscription_id}": Route(delete_subscription, auth="creator"),
    "POST /subscriptions/{subscription_id}/enable": Route(enable, auth="creator"),
    "POST /subscriptions/{subscription_id}/rotate-secret": Route(
        rotate_subscription_secret, auth="creator"
    ),
    "GET /subscriptions/{subscription_id}/deliveries": Route(deliveries, auth="viewer"),
    "POST /subscriptions/{subscription_id}/replay": Route(replay, auth="creator"),
}

handler = http_handler("subscriptions", ROUTES)
