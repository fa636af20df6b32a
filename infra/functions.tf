# The functions and the API routes each one serves. This map is the single
# definition of routing: Terraform wires each function to its routes, the local
# gateway (make run) routes requests with it, and tests/infra checks it equals
# the ROUTES table every handler module declares.
# memory (MB) and timeout (s) are per-function defaults; var.memory_mb overrides
# memory. HTTP functions get 1 GB because bcrypt is CPU-bound and Lambda CPU
# scales with memory; API Gateway gives up after 30 s, so they stay well below.
# The sweeper must finish inside its one-minute period.
# trigger (optional): the event source of a function with neither routes nor a
# schedule, "stream:<table>" or "queue:<queue>" (delivery.tf wires it; make run's
# tools/local/pumps.py feeds it the same event shapes).
locals {
  functions = {
    events = {
      description = "POST /events, GET and DELETE /events/{event_id}"
      handler     = "handlers.events.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["POST /events", "GET /events/{event_id}", "DELETE /events/{event_id}"]
      schedule    = null
    }
    inbox = {
      description = "Queues (the tenant inbox and named ones): listing, leases, acknowledgements, the quarantine"
      handler     = "handlers.inbox.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["GET /inbox", "POST /inbox/lease", "POST /inbox/ack", "POST /inbox/release", "POST /inbox/extend", "GET /inbox/quarantine", "POST /inbox/quarantine/requeue", "POST /queues", "GET /queues", "GET /queues/{name}", "DELETE /queues/{name}"]
      schedule    = null
    }
    notes = {
      description = "Notes on a work thread"
      handler     = "handlers.notes.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["POST /notes", "GET /notes", "GET /notes/{note_id}", "DELETE /notes/{note_id}"]
      schedule    = null
    }
    hydrate = {
      description = "Snapshots of a project's state, stored in S3; threads (list, delete)"
      handler     = "handlers.hydrate.handler"
      memory      = 1024
      timeout     = 20
      routes      = ["POST /hydrate", "GET /snapshots", "GET /snapshots/{snapshot_id}", "DELETE /snapshots/{snapshot_id}", "GET /threads", "DELETE /threads/{thread_id}"]
      schedule    = null
    }
    rehydrate = {
      description = "Context-restoration documents rendered from snapshots"
      handler     = "handlers.rehydrate.handler"
      memory      = 1024
      timeout     = 15
      routes      = ["GET /rehydrate", "GET /rehydrate/{snapshot_id}"]
      schedule    = null
    }
    mcp = {
      description = "Model Context Protocol for assistants: POST /mcp (GET and DELETE answer 405)"
      handler     = "handlers.mcp.handler"
      memory      = 1024
      timeout     = 15
      routes      = ["POST /mcp", "GET /mcp", "DELETE /mcp"]
      schedule    = null
    }
    heartbeat = {
      description = "Agent registration, signed heartbeats, listing, history, deletion and rotation"
      handler     = "handlers.heartbeat.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["POST /agents", "GET /agents", "GET /agents/{agent_id}", "DELETE /agents/{agent_id}", "GET /agents/{agent_id}/history", "POST /agents/{agent_id}/rotate-secret", "POST /agents/{agent_id}/heartbeat", "POST /agents/{agent_id}/lease", "POST /agents/{agent_id}/ack", "POST /agents/{agent_id}/release"]
      schedule    = null
    }
    status = {
      description = "The status page (GET /), GET /status, GET /stats and GET /openapi.json"
      handler     = "handlers.status.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["GET /", "GET /status", "GET /stats", "GET /openapi.json"]
      schedule    = null
    }
    sweeper = {
      description = "Marks agents unhealthy or dead when heartbeats stop"
      handler     = "handlers.sweeper.handler"
      memory      = 512
      timeout     = 50
      routes      = []
      schedule    = "rate(1 minute)"
    }
    rollup = {
      description = "Daily per-tenant figures for the previous UTC day"
      handler     = "handlers.rollup.handler"
      memory      = 512
      timeout     = 300
      routes      = []
      schedule    = "cron(5 0 * * ? *)"
    }
    subscriptions = {
      description = "Push delivery: subscriptions, changes, pause/enable, log, rotation, replays, test sends"
      handler     = "handlers.subscriptions.handler"
      memory      = 1024
      timeout     = 25 # a test send waits for the receiver (15 s at most) inside API Gateway's 30 s
      routes      = ["POST /subscriptions", "GET /subscriptions", "GET /subscriptions/{subscription_id}", "DELETE /subscriptions/{subscription_id}", "POST /subscriptions/{subscription_id}/enable", "POST /subscriptions/{subscription_id}/rotate-secret", "GET /subscriptions/{subscription_id}/deliveries", "POST /subscriptions/{subscription_id}/replay", "PATCH /subscriptions/{subscription_id}", "POST /subscriptions/{subscription_id}/pause", "POST /subscriptions/{subscription_id}/test", "POST /subscriptions/{subscription_id}/resend"]
      schedule    = null
    }
    # Stream consumer: one Query of the tenant's subscriptions per batch, then SQS sends.
    dispatch = {
      description = "Events table stream -> one delivery message per matching subscription"
      handler     = "handlers.dispatch.handler"
      memory      = 512
      timeout     = 30
      routes      = []
      schedule    = null
      trigger     = "stream:events"
    }
    # Up to 5 messages a batch, each at most 15 s of HTTP: 75 s, under the 90 s timeout.
    deliver = {
      description = "Signs and POSTs one event to one subscriber, records the attempt, schedules the retry"
      handler     = "handlers.deliver.handler"
      memory      = 512
      timeout     = 90
      routes      = []
      schedule    = null
      trigger     = "queue:deliveries"
    }
    # Retries due beyond SQS's 15-minute delay limit, from the due-time index.
    retry = {
      description = "Every minute: enqueues delivery retries whose due time has come"
      handler     = "handlers.retry.handler"
      memory      = 512
      timeout     = 50
      routes      = []
      schedule    = "rate(1 minute)"
    }
  }
}
