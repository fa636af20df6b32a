# The functions. The API routes each one serves are declared in its handler module
# (one decorator per route) and written to routes.json by `make openapi`: Terraform
# wires each function to the routes listed there, the local gateway (make run) routes
# requests with the same file, and a test fails when it is stale.
# memory (MB) and timeout (s) are per-function defaults; var.memory_mb overrides
# memory. HTTP functions get 1 GB because bcrypt is CPU-bound and Lambda CPU
# scales with memory; API Gateway gives up after 30 s, so they stay well below.
# The sweeper must finish inside its one-minute period.
# trigger (optional): the event source of a function with neither routes nor a
# schedule, "stream:<table>" or "queue:<queue>" (delivery.tf wires it; make run's
# tools/local/pumps.py feeds it the same event shapes).
locals {
  # function → its route keys ("POST /events"), generated from the handlers.
  routes = jsondecode(file("${path.module}/routes.json"))

  functions = {
    events = {
      description = "POST /events, GET and DELETE /events/{event_id}"
      handler     = "handlers.events.handler"
      memory      = 1024
      timeout     = 10
      schedule    = null
    }
    inbox = {
      description = "Queues (the tenant inbox and named ones): listing, leases, acknowledgements, the quarantine"
      handler     = "handlers.inbox.handler"
      memory      = 1024
      timeout     = 10
      schedule    = null
    }
    notes = {
      description = "Notes on a work thread"
      handler     = "handlers.notes.handler"
      memory      = 1024
      timeout     = 10
      schedule    = null
    }
    hydrate = {
      description = "Snapshots of a project's state, stored in S3; threads (list, delete)"
      handler     = "handlers.hydrate.handler"
      memory      = 1024
      timeout     = 20
      schedule    = null
    }
    rehydrate = {
      description = "Context-restoration documents rendered from snapshots"
      handler     = "handlers.rehydrate.handler"
      memory      = 1024
      timeout     = 15
      schedule    = null
    }
    mcp = {
      description = "Model Context Protocol for assistants: POST /mcp (GET and DELETE answer 405)"
      handler     = "handlers.mcp.handler"
      memory      = 1024
      timeout     = 15
      schedule    = null
    }
    heartbeat = {
      description = "Agent registration, signed heartbeats, listing, history, deletion and rotation"
      handler     = "handlers.heartbeat.handler"
      memory      = 1024
      timeout     = 10
      schedule    = null
    }
    status = {
      description = "The status page (GET /), GET /status, GET /stats and GET /openapi.json"
      handler     = "handlers.status.handler"
      memory      = 1024
      timeout     = 10
      schedule    = null
    }
    sweeper = {
      description = "Marks agents unhealthy or dead when heartbeats stop"
      handler     = "handlers.sweeper.handler"
      memory      = 512
      timeout     = 50
      schedule    = "rate(1 minute)"
    }
    rollup = {
      description = "Daily per-tenant figures for the previous UTC day"
      handler     = "handlers.rollup.handler"
      memory      = 512
      timeout     = 300
      schedule    = "cron(5 0 * * ? *)"
    }
    subscriptions = {
      description = "Push delivery: subscriptions, changes, pause/enable, log, rotation, replays, test sends"
      handler     = "handlers.subscriptions.handler"
      memory      = 1024
      timeout     = 25 # a test send waits for the receiver (15 s at most) inside API Gateway's 30 s
      schedule    = null
    }
    # Stream consumer: one Query of the tenant's subscriptions per batch, then SQS sends.
    dispatch = {
      description = "Events table stream -> one delivery message per matching subscription"
      handler     = "handlers.dispatch.handler"
      memory      = 512
      timeout     = 30
      schedule    = null
      trigger     = "stream:events"
    }
    # Up to 5 messages a batch, each at most 15 s of HTTP: 75 s, under the 90 s timeout.
    deliver = {
      description = "Signs and POSTs one event to one subscriber, records the attempt, schedules the retry"
      handler     = "handlers.deliver.handler"
      memory      = 512
      timeout     = 90
      schedule    = null
      trigger     = "queue:deliveries"
    }
    # Retries due beyond SQS's 15-minute delay limit, from the due-time index.
    retry = {
      description = "Every minute: enqueues delivery retries whose due time has come"
      handler     = "handlers.retry.handler"
      memory      = 512
      timeout     = 50
      schedule    = "rate(1 minute)"
    }
  }
}
