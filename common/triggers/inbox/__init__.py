"""Consuming a queue: listing, leases, acknowledgements, releases, extensions, the
quarantine and the leases an agent holds.  The tenant inbox is the queue `inbox`; a
named queue (common.triggers.queues) is consumed by the same code (see `place`)."""
