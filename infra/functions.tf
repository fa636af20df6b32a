# The functions and the API routes each one serves. This map is the single
# definition of routing: Terraform wires each function to its routes, the local
# gateway (make run) routes requests with it, and tests/infra checks it equals
# the ROUTES table every handler module declares.
# memory (MB) and timeout (s) are per-function defaults; var.memory_mb overrides
# memory. HTTP functions get 1 GB because bcrypt is CPU-bound and Lambda CPU
# scales with memory; API Gateway gives up after 30 s, so they stay well below.
# The sweeper must finish inside its one-minute period.
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
      description = "The tenant inbox: listing, leases, acknowledgements, the quarantine"
      handler     = "handlers.inbox.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["GET /inbox", "POST /inbox/lease", "POST /inbox/ack", "POST /inbox/release", "GET /inbox/quarantine", "POST /inbox/quarantine/requeue"]
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
    heartbeat = {
      description = "Agent registration, signed heartbeats and agent listing"
      handler     = "handlers.heartbeat.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["POST /agents", "GET /agents", "GET /agents/{agent_id}", "POST /agents/{agent_id}/heartbeat"]
      schedule    = null
    }
    status = {
      description = "GET /status, GET /stats and GET /openapi.json"
      handler     = "handlers.status.handler"
      memory      = 1024
      timeout     = 10
      routes      = ["GET /status", "GET /stats", "GET /openapi.json"]
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
  }
}
