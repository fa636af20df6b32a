"""Function `heartbeat`: agent registration, listing, history, deletion and secret
rotation (agents.py), and the routes an agent signs itself: heartbeats and, as a
worker, lease, ack and release (signed.py)."""

from __future__ import annotations

from common.api import http_handler
from handlers.heartbeat import agents, signed

ROUTES = {**agents.routes.table, **signed.routes.table}
handler = http_handler("heartbeat", ROUTES)
