"""A subscription's deliveries: its log, replays, test sends and resends."""

from __future__ import annotations

from common.api import Response, RouteTable
from common.runtime.http import Request, json_response, page
from common.runtime.models import PageQuery
from common.runtime.routedoc import Page
from common.triggers import delivery_log, subscription_sends
from common.triggers import subscription_input as inputs
from common.triggers import subscriptions as subs
from common.triggers.delivery import replay as replays
from handlers.subscriptions.manage import ONE, no_body, sub_id

routes = RouteTable()


@routes.get(f"{ONE}/deliveries", ok={200: Page(delivery_log.DeliveryAttemptView)})
def deliveries(request: Request, query: PageQuery) -> Response:
    """Delivery attempts, newest first"""
    items, next_cursor = delivery_log.deliveries_page(
        request.tenant, sub_id(request), query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


@routes.post(f"{ONE}/replay", auth="creator", ok={202: subs.ReplayAcceptedView}, errors=(409,))
def replay(request: Request, body: subs.ReplayRequest) -> Response:
    """Re-send the retained events of a time window (202: sent in the background)

    Paced at the subscription's rate limit; 409 while another replay of the same
    subscription runs.
    """
    return json_response(202, replays.start_replay(request.tenant, sub_id(request), body))


@routes.post(f"{ONE}/test", auth="creator", ok={200: subscription_sends.TestSendView})
def send_test(request: Request) -> Response:
    """Send a signed test delivery (type webhook.test) now and answer what the receiver did

    Synchronous, whatever the status; the synthetic event is not stored and not in the
    inbox; the attempt is in the deliveries log with trigger `test`.
    """
    no_body(request)
    return json_response(200, subscription_sends.test_send(request.tenant, sub_id(request)))


@routes.post(
    f"{ONE}/resend", auth="creator", ok={202: subscription_sends.ResendView}, errors=(409,)
)
def resend(request: Request, body: inputs.ResendRequest) -> Response:
    """Send one retained event again with its original webhook-id (202: queued)

    404 for an event this subscription never matched (another type, received before the
    subscription, or no longer retained); 409 while the subscription is paused or
    disabled.
    """
    answer = subscription_sends.resend(request.tenant, sub_id(request), body.event_id)
    return json_response(202, answer)
