"""Function `subscriptions`: push delivery subscriptions, changes, pause and enable
(with recovery), their delivery log, secret rotation, replays, test sends and resends
(docs/triggers.md, "Push delivery")."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.models import PageQuery
from common.triggers import delivery_log, subscription_changes, subscription_sends
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays


def _no_body(request: Request) -> None:
    if request.body.strip():
        request.json_model(subs.NoBody)


def _id(request: Request) -> str:
    return request.path_param("subscription_id")


def create(request: Request) -> Response:
    new = request.json_model(inputs.NewSubscription)
    return json_response(201, subs.create(request.tenant, new))


def list_subscriptions(request: Request) -> Response:
    query = request.query_model(PageQuery)
    items, next_cursor = subs.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


def get_subscription(request: Request) -> Response:
    return json_response(200, subs.get(request.tenant, _id(request)).public())


def change_subscription(request: Request) -> Response:
    body = request.json_model(inputs.SubscriptionChange)
    return json_response(200, subscription_changes.change(request.tenant, _id(request), body))


def delete_subscription(request: Request) -> Response:
    subs.delete(request.tenant, _id(request))
    return empty_response(204)


def pause(request: Request) -> Response:
    _no_body(request)
    return json_response(200, subscription_changes.pause(request.tenant, _id(request)))


def enable(request: Request) -> Response:
    recover = True
    if request.body.strip():
        recover = request.json_model(inputs.EnableRequest).recover
    return json_response(200, subscription_changes.enable(request.tenant, _id(request), recover))


def rotate_subscription_secret(request: Request) -> Response:
    _no_body(request)
    return json_response(200, subs.rotate_secret(request.tenant, _id(request)))


def deliveries(request: Request) -> Response:
    query = request.query_model(PageQuery)
    items, next_cursor = delivery_log.deliveries_page(
        request.tenant, _id(request), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


def replay(request: Request) -> Response:
    body = request.json_model(subs.ReplayRequest)
    return json_response(202, replays.start_replay(request.tenant, _id(request), body))


def send_test(request: Request) -> Response:
    _no_body(request)
    return json_response(200, subscription_sends.test_send(request.tenant, _id(request)))


def resend(request: Request) -> Response:
    body = request.json_model(inputs.ResendRequest)
    answer = subscription_sends.resend(request.tenant, _id(request), body.event_id)
    return json_response(202, answer)


ROUTES: dict[str, Route] = {
    "POST /subscriptions": Route(create, auth="creator"),
    "GET /subscriptions": Route(list_subscriptions, auth="viewer"),
    "GET /subscriptions/{subscription_id}": Route(get_subscription, auth="viewer"),
    "PATCH /subscriptions/{subscription_id}": Route(change_subscription, auth="creator"),
    "DELETE /subscriptions/{subscription_id}": Route(delete_subscription, auth="creator"),
    "POST /subscriptions/{subscription_id}/pause": Route(pause, auth="creator"),
    "POST /subscriptions/{subscription_id}/enable": Route(enable, auth="creator"),
    "POST /subscriptions/{subscription_id}/rotate-secret": Route(
        rotate_subscription_secret, auth="creator"
    ),
    "GET /subscriptions/{subscription_id}/deliveries": Route(deliveries, auth="viewer"),
    "POST /subscriptions/{subscription_id}/replay": Route(replay, auth="creator"),
    "POST /subscriptions/{subscription_id}/test": Route(send_test, auth="creator"),
    "POST /subscriptions/{subscription_id}/resend": Route(resend, auth="creator"),
}

handler = http_handler("subscriptions", ROUTES)
