# Inputs. Every one has a default that gives a working, cautious deployment;
# override them in a *.tfvars file (see docs/deploy.md).

variable "project" {
  description = "Project name: the first part of every resource name."
  type        = string
  default     = "dockhand"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, staging, prod): the second part of every resource name."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

# --- Functions ---------------------------------------------------------------

variable "function_zip" {
  description = "The function code built by `make package`, relative to infra/."
  type        = string
  default     = "../build/function.zip"
}

variable "layer_zip" {
  description = "The dependency layer built by `make package`, relative to infra/."
  type        = string
  default     = "../build/layer.zip"
}

variable "memory_mb" {
  description = "Memory per function name, e.g. { hydrate = 1024 }. Overrides the per-function `memory` in functions.tf; more memory also buys more CPU (bcrypt)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for mb in values(var.memory_mb) : mb >= 128 && mb <= 10240])
    error_message = "every memory_mb value must be between 128 and 10240."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency per function name, e.g. { events = 100 }. Functions not listed use the account pool (-1)."
  type        = map(number)
  default     = {}
}

variable "log_retention_days" {
  description = "How long function and API access logs are kept."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "log_level" {
  description = "Powertools log level of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

# --- Limits the functions enforce (passed as DOCKHAND_* environment variables) --

variable "rate_limit_requests" {
  description = "Requests each API key may make per rate-limit window."
  type        = number
  default     = 600
}

variable "rate_limit_window_seconds" {
  description = "Length of the per-key rate-limit window."
  type        = number
  default     = 60
}

variable "delivered_retention_days" {
  description = "Days an acknowledged (delivered) event is kept before it expires."
  type        = number
  default     = 7

  validation {
    condition     = var.delivered_retention_days >= 1 && var.delivered_retention_days <= 365
    error_message = "delivered_retention_days must be between 1 and 365."
  }
}

# --- API ------------------------------------------------------------------------

variable "api_throttling_burst_limit" {
  description = "API Gateway burst limit for every route (requests)."
  type        = number
  default     = 500
}

variable "api_throttling_rate_limit" {
  description = "API Gateway steady-state limit for every route (requests per second)."
  type        = number
  default     = 1000
}

# --- Data -----------------------------------------------------------------------

variable "deletion_protection" {
  description = "Protect the DynamoDB tables from deletion. Set false only for throw-away environments, then `terraform destroy` works."
  type        = bool
  default     = true
}

variable "snapshot_noncurrent_days" {
  description = "Days an overwritten or deleted snapshot object version is kept in S3."
  type        = number
  default     = 30
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` delete the snapshot bucket with its objects. Keep false in production."
  type        = bool
  default     = false
}

# --- Alarms and schedules -------------------------------------------------------------

variable "alarm_topic_arn" {
  description = "SNS topic ARN that alarms notify. Empty: create no actions (alarms are still visible in CloudWatch) unless alarm_email is set."
  type        = string
  default     = ""
}

variable "alarm_email" {
  description = "If set (and alarm_topic_arn is empty), create an SNS topic for alarms and subscribe this address."
  type        = string
  default     = ""
}

variable "schedule_max_event_age_seconds" {
  description = "How long EventBridge retries a failed scheduled invocation before sending it to the DLQ."
  type        = number
  default     = 3600
}

variable "schedule_max_retry_attempts" {
  description = "How many times EventBridge retries a failed scheduled invocation."
  type        = number
  default     = 4
}

variable "delivery_max_concurrency" {
  description = "Most deliver functions running at once (SQS event source scaling); bounds the load on receivers and on the account's concurrency."
  type        = number
  default     = 50
}
