variable "name" {
  description = "Function name; also names its role, log group, alarms and schedule."
  type        = string
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Python entry point, e.g. handlers.events.handler."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime; must match the interpreter the layer was built for."
  type        = string
}

variable "architecture" {
  description = "arm64 or x86_64; must match the platform the layer was built for."
  type        = string
  default     = "arm64"
}

variable "memory_mb" {
  description = "Memory (and so CPU) of the function."
  type        = number
}

variable "timeout_seconds" {
  description = "Timeout of one invocation."
  type        = number
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; -1 uses the unreserved account pool."
  type        = number
  default     = -1
}

variable "filename" {
  description = "Path of the built zip (tools/gen/package.py)."
  type        = string
}

variable "source_code_hash" {
  description = "base64 SHA-256 of the zip, so a new build updates the function."
  type        = string
}

variable "source_dir" {
  description = "Source tree the zip was built from (read by `sam local --hook-name terraform`)."
  type        = string
}

variable "layers" {
  description = "Layer version ARNs (the dependencies)."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Environment variables. Never put secret values here: pass secret ids."
  type        = map(string)
  default     = {}
}

variable "policy_statements" {
  description = "The function's only permissions beyond writing its own logs: statement name => actions and resources."
  type = map(object({
    actions   = list(string)
    resources = list(string)
    # Narrows a bucket-level grant, e.g. s3:prefix = tenants/* for ListBucketVersions.
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))

  validation {
    condition     = alltrue([for s in values(var.policy_statements) : !contains(s.actions, "*") && !contains(s.resources, "*")])
    error_message = "policy statements must name their actions and resources; no \"*\"."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
}

variable "api_id" {
  description = "HTTP API the routes belong to."
  type        = string
}

variable "api_execution_arn" {
  description = "Execution ARN of that API; each invoke permission is scoped to one route under it."
  type        = string
}

variable "routes" {
  description = "Route keys (\"GET /events/{event_id}\") this function serves. Empty for scheduled functions."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for route in var.routes : can(regex("^(GET|POST|PUT|PATCH|DELETE) /[^ ]*$", route))])
    error_message = "routes must be \"METHOD /path\" route keys; no $default or ANY catch-alls."
  }
}

variable "schedule" {
  description = "EventBridge schedule expression (rate(...) or cron(...)), or null."
  type        = string
  default     = null
}

variable "schedule_dlq_arn" {
  description = "SQS queue that receives scheduled invocations EventBridge could not deliver."
  type        = string
  default     = null
}

variable "schedule_max_event_age_seconds" {
  description = "How long EventBridge keeps retrying a scheduled invocation."
  type        = number
  default     = 3600
}

variable "schedule_max_retry_attempts" {
  description = "How many times EventBridge retries a scheduled invocation."
  type        = number
  default     = 4
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (SNS topics)."
  type        = list(string)
  default     = []
}
