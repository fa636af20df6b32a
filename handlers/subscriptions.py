"""Function `subscriptions`: push delivery subscriptions, changes, pause and enable
(with recovery), their delivery log, secret rotation, replays, test sends and resends
(docs/triggers.md, "Push delivery")."""

from __future__ import annotations

from common.api import Response, RouteTable, http_handler
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.models import PageQuery
from common.runtime.routedoc import Page
from common.triggers import delivery_log, subscription_changes, subscription_sends
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays

routes = RouteTable()
ONE = "/subscriptions/{subscription_id}"


def _no_body(request: Request) -> None:
    if request.body.strip():
        request.json_model(subs.NoBody)


def _id(request: Request) -> str:
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
    return json_response(200, subs.get(request.tenant, _id(request)).public())


@routes.patch(ONE, auth="creator", ok={200: subs.SubscriptionView})
def change_subscription(request: Request, body: inputs.SubscriptionChange) -> Response:
    """Change a subscription's url, filters, description, headers or rate limit (the secret stays)

    Only the fields given change; `null` clears an optional one and `{}` changes nothing
    (JSON merge patch). `headers` replaces the whole set. A new `url` passes the SSRF
    guard again (400 validation_error on `url`).
    """
    return json_response(200, subscription_changes.change(request.tenant, _id(request), body))


@routes.delete(ONE, auth="creator", ok={204: None})
def delete_subscription(request: Request) -> Response:
    """Delete a subscription"""
    subs.delete(request.tenant, _id(request))
    return empty_response(204)


@routes.post(f"{ONE}/pause", auth="creator", ok={200: subs.SubscriptionView})
def pause(request: Request) -> Response:
    """Pause: nothing is sent until enable (idempotent; `paused_at` stays the first pause)"""
    _no_body(request)
    return json_response(200, subscription_changes.pause(request.tenant, _id(request)))


@routes.post(f"{ONE}/enable", auth="creator", ok={200: subs.SubscriptionView})
def enable(request: Request, body: inputs.EnableRequest | None) -> Response:
    """Resume a paused subscription or re-enable a disabled one, sending what matched meanwhile

    The body is optional. By default the retained events that matched while the
    subscription was paused or disabled are sent, oldest first, each with its original
    webhook-id; `{"recover": false}` skips them.
    """
    recover = True if body is None else body.recover
    return json_response(200, subscription_changes.enable(request.tenant, _id(request), recover))


@routes.post(f"{ONE}/rotate-secret", auth="creator", ok={200: subs.SecretRotatedView})
def rotate_subscription_secret(request: Request) -> Response:
    """A new signing secret; the old one keeps signing alongside for 24 h"""
    _no_body(request)
    return json_response(200, subs.rotate_secret(request.tenant, _id(request)))


@routes.get(f"{ONE}/deliveries", ok={200: Page(delivery_log.DeliveryAttemptView)})
def deliveries(request: Request, query: PageQuery) -> Response:
    """Delivery attempts, newest first"""
    items, next_cursor = delivery_log.deliveries_page(
        request.tenant, _id(request), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


@routes.post(f"{ONE}/replay", auth="creator", ok={202: subs.ReplayAcceptedView}, errors=(409,))
def replay(request: Request, body: subs.ReplayRequest) -> Response:
    """Re-send the retained events of a time window (202: sent in the background)

    Paced at the subscription's rate limit; 409 while another replay of the same
    subscription runs.
    """
    return json_response(202, replays.start_replay(request.tenant, _id(request), body))


@routes.post(f"{ONE}/test", auth="creator", ok={200: subscription_sends.TestSendView})
def send_test(request: Request) -> Response:
    """Send a signed test delivery (type webhook.test) now and answer what the receiver did

    Synchronous, whatever the status; the synthetic event is not stored and not in the
    inbox; the attempt is in the deliveries log with trigger `test`.
    """
    _no_body(request)
    return json_response(200, subscription_sends.test_send(request.tenant, _id(request)))


@routes.post(
    f"{ONE}/resend", auth="creator", ok={202: subscription_sends.ResendView}, errors=(409,)
)
def resend(request: Request, body: inputs.ResendRequest) -> Response:
    """Send one retained event again with its original webhook-id (202: queued)

    404 for an event this subscription never matched (another type, received before the
    subscription, or no longer retained); 409 while the subscription is paused or
    disabled.
    """
    answer = subscription_sends.resend(request.tenant, _id(request), body.event_id)
    return json_response(202, answer)


ROUTES = routes.table
handler = http_handler("subscriptions", ROUTES)
