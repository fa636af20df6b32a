"""Key layout shared by the functions.  The tables themselves are defined once, in
`infra/tables.tf`; `make run` and the tests create them from that file and a test
checks that every index named here exists there.

Every table has a string partition key `pk` and sort key `sk`, TTL on `expires_at`
(epoch seconds), and generic GSIs `gsi1`/`gsi2` (keys `gsi1pk`/`gsi1sk`, ...).  The
tenant is part of every partition key.
"""

from __future__ import annotations

PK, SK = "pk", "sk"
TTL_ATTRIBUTE = "expires_at"
GSI1, GSI1_PK, GSI1_SK = "gsi1", "gsi1pk", "gsi1sk"
GSI2, GSI2_PK, GSI2_SK = "gsi2", "gsi2pk", "gsi2sk"
# Every retained event of a tenant by receipt time (push delivery replays).
TIMELINE, TIMELINE_PK, TIMELINE_SK = "timeline", "tlpk", "tlsk"
# events only: the lease pools share the inbox partitions (gsi1pk / gsi2pk) and sort
# them by availability time instead (gsi3sk); gsi5 is the quarantine.
GSI3, GSI4, GSI3_SK = "gsi3", "gsi4", "gsi3sk"
GSI5, GSI5_PK, GSI5_SK = "gsi5", "gsi5pk", "gsi5sk"
# events only: leases held by an agent (sparse), by lease expiry.
HELD, HELD_PK, HELD_SK = "held", "hpk", "hsk"

# Each index's (partition key, sort key) attributes, the same on every table that has
# it (None: the table itself); `dynamo.query_partition` names them, never its callers.
INDEX_KEYS: dict[str | None, tuple[str, str]] = {
    None: (PK, SK),
    GSI1: (GSI1_PK, GSI1_SK),
    GSI2: (GSI2_PK, GSI2_SK),
    GSI3: (GSI1_PK, GSI3_SK),
    GSI4: (GSI2_PK, GSI3_SK),
    GSI5: (GSI5_PK, GSI5_SK),
    HELD: (HELD_PK, HELD_SK),
    TIMELINE: (TIMELINE_PK, TIMELINE_SK),
}

# What each table's indexes mean:
#   keys:    gsi1 = a tenant's keys (gsi1pk "T#<tenant>")
#   events:  gsi1 = the sparse inbox (pending events only),
#            gsi2 = the sparse inbox per event type,
#            timeline = every retained event by received_at (replays)
#            gsi3 / gsi4 = the same partitions as gsi1 / gsi2 sorted by availability
#            (`<visible_at_ms>#<event_id>`): what a lease reads,
#            gsi5 = the quarantine (`<quarantined_at_ms>#<event_id>`),
#            held = the leases an agent holds (common.triggers.layout)
#   context: gsi1 = notes / snapshots of a thread, gsi2 = threads by last activity
#   agents:  gsi1 = agents of a tenant by name/status listing,
#            gsi2 = the sweeper's index of live agents by due time (common.agents.layout)
#   stats:   none (counters keyed by day, rollups keyed by tenant)
#   hooks:   gsi1 = the due-time index of delivery retries
TABLE_INDEXES: dict[str, tuple[str, ...]] = {
    "keys": (GSI1,),
    "events": (GSI1, GSI2, GSI3, GSI4, GSI5, TIMELINE, HELD),
    "context": (GSI1, GSI2),
    "agents": (GSI1, GSI2),
    "stats": (),
    "hooks": (GSI1,),
}
