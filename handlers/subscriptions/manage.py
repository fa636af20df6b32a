"""Subscriptions themselves: create, list, read, change, delete, pause, enable, rotate."""

from __future__ import annotations

from common.api import Response, RouteTable
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.models import PageQuery
from common.runtime.routedoc import Page
from common.triggers import subscription_changes
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs

routes = RouteTable()
ONE = "/subscriptions/{subscription_id}"


def no_body(request: Request) -> None:
    """Routes that take no body accept an empty one or `{}`, and nothing else."""
    if request.body.strip():
        request.json_model(subs.NoBody)


def sub_id(request: Request) -> str:
    return request.path_param("subscription_id")


@routes.post("/subscriptions", auth="creator", ok={201: subs.SubscriptionCreatedView})
def create(request: Request, body: inputs.NewSubscription) -> Response:
    """Subscribe a URL to push delivery (the whsec_ secret is shown once)

    400 validation_error on `url` when the SSRF guard refuses it: https on port 443 or
    8443 only, and the host must resolve only to public unicast addresses.
    """
    return json_response(201, subs.create(request.tenant, body))


@routes.get("/subscriptions", ok={200: Page(subs.SubscriptionView)})
def list_subscriptions(request: Request, query: PageQuery) -> Response:
    """The tenant's subscriptions"""
    items, next_cursor = subs.list_page(request.tenant, query.limit, query.cursor)
    return json_response(200, page(items, next_cursor))


@routes.get(ONE, ok={200: subs.SubscriptionView})
def get_subscription(request: Request) -> Response:
    """One subscription (never its secret)"""
    return json_response(200, subs.get(request.tenant, sub_id(request)).public())


@routes.patch(ONE, auth="creator", ok={200: subs.SubscriptionView})
def change_subscription(request: Request, body: inputs.SubscriptionChange) -> Response:
    """Change a subscription's url, filters, description, headers or rate limit (the secret stays)

    Only the fields given change; `null` clears an optional one and `{}` changes nothing
    (JSON merge patch). `headers` replaces the whole set. A new `url` passes the SSRF
    guard again (400 validation_error on `url`).
    """
    return json_response(200, subscription_changes.change(request.tenant, sub_id(request), body))


@routes.delete(ONE, auth="creator", ok={204: None})
def delete_subscription(request: Request) -> Response:
    """Delete a subscription"""
    subs.delete(request.tenant, sub_id(request))
    return empty_response(204)


@routes.post(f"{ONE}/pause", auth="creator", ok={200: subs.SubscriptionView})
def pause(request: Request) -> Response:
    """Pause: nothing is sent until enable (idempotent; `paused_at` stays the first pause)"""
    no_body(request)
    return json_response(200, subscription_changes.pause(request.tenant, sub_id(request)))


@routes.post(f"{ONE}/enable", auth="creator", ok={200: subs.SubscriptionView})
def enable(request: Request, body: inputs.EnableRequest | None) -> Response:
    """Resume a paused subscription or re-enable a disabled one, sending what matched meanwhile

    The body is optional. By default the retained events that matched while the
    subscription was paused or disabled are sent, oldest first, each with its original
    webhook-id; `{"recover": false}` skips them.
    """
    recover = True if body is None else body.recover
    return json_response(200, subscription_changes.enable(request.tenant, sub_id(request), recover))


@routes.post(f"{ONE}/rotate-secret", auth="creator", ok={200: subs.SecretRotatedView})
def rotate_subscription_secret(request: Request) -> Response:
    """A new signing secret; the old one keeps signing alongside for 24 h"""
    no_body(request)
    return json_response(200, subs.rotate_secret(request.tenant, sub_id(request)))
