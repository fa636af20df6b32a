# The functions and the API routes each one serves. This map is the single
# definition of routing: Terraform wires each function to its routes, the local
# gateway (make run) routes requests with it, and tests/infra checks it equals
# the ROUTES table every handler module declares.
locals {
  functions = {
    events = {
      description = "POST /events, GET and DELETE /events/{event_id}"
      handler     = "handlers.events.handler"
      routes      = ["POST /events", "GET /events/{event_id}", "DELETE /events/{event_id}"]
      schedule    = null
    }
    inbox = {
      description = "The tenant inbox: GET /inbox, POST /inbox/ack"
      handler     = "handlers.inbox.handler"
      routes      = ["GET /inbox", "POST /inbox/ack"]
      schedule    = null
    }
    notes = {
      description = "Notes on a work thread"
      handler     = "handlers.notes.handler"
      routes      = ["POST /notes", "GET /notes", "GET /notes/{note_id}", "DELETE /notes/{note_id}"]
      schedule    = null
    }
    hydrate = {
      description = "Snapshots of a project's state, stored in S3"
      handler     = "handlers.hydrate.handler"
      routes      = ["POST /hydrate", "GET /snapshots", "GET /snapshots/{snapshot_id}"]
      schedule    = null
    }
    rehydrate = {
      description = "Context-restoration documents rendered from snapshots"
      handler     = "handlers.rehydrate.handler"
      routes      = ["GET /rehydrate", "GET /rehydrate/{snapshot_id}"]
      schedule    = null
    }
    heartbeat = {
      description = "Agent registration, signed heartbeats and agent listing"
      handler     = "handlers.heartbeat.handler"
      routes      = ["POST /agents", "GET /agents", "GET /agents/{agent_id}", "POST /agents/{agent_id}/heartbeat"]
      schedule    = null
    }
    status = {
      description = "GET /status and GET /stats"
      handler     = "handlers.status.handler"
      routes      = ["GET /status", "GET /stats"]
      schedule    = null
    }
    sweeper = {
      description = "Marks agents unhealthy or dead when heartbeats stop"
      handler     = "handlers.sweeper.handler"
      routes      = []
      schedule    = "rate(1 minute)"
    }
    rollup = {
      description = "Daily per-tenant figures for the previous UTC day"
      handler     = "handlers.rollup.handler"
      routes      = []
      schedule    = "cron(5 0 * * ? *)"
    }
  }
}
