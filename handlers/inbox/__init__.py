"""Function `inbox`: consuming a queue (consume.py: GET /inbox, POST
/inbox/lease|ack|release|extend, the quarantine) and the named queues themselves
(queues.py: /queues).  Every inbox route takes `queue` (default `inbox`, the tenant
inbox); an unknown queue is 404."""

from __future__ import annotations

from common.api import http_handler
from handlers.inbox import consume, queues

ROUTES = {**consume.routes.table, **queues.routes.table}
handler = http_handler("inbox", ROUTES)
