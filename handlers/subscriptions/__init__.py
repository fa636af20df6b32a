"""Function `subscriptions`: push delivery subscriptions, changes, pause and enable
(with recovery), secret rotation (manage.py), and their delivery log, replays, test
sends and resends (delivery.py) (docs/triggers.md, "Push delivery")."""

from __future__ import annotations

from common.api import http_handler
from handlers.subscriptions import delivery, manage

ROUTES = {**manage.routes.table, **delivery.routes.table}
handler = http_handler("subscriptions", ROUTES)
