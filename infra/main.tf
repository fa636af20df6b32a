# Wires every function in local.functions (functions.tf) to its code, its own
# role and policy (permissions.tf), its routes or its schedule, and its alarms.

locals {
  # Every resource name starts with this; the tables are "<name>-<table>".
  name = "${var.project}-${var.environment}"

  # Must match the interpreter the layer is built for (tools/gen/package.py).
  runtime      = "python3.12"
  architecture = "arm64"

  tables = {
    keys    = aws_dynamodb_table.keys
    events  = aws_dynamodb_table.events
    context = aws_dynamodb_table.context
    agents  = aws_dynamodb_table.agents
    stats   = aws_dynamodb_table.stats
    hooks   = aws_dynamodb_table.hooks
  }

  # Push delivery (delivery.tf): queues and streams a function may use, by name.
  queues = {
    deliveries     = aws_sqs_queue.deliveries
    deliveries_dlq = aws_sqs_queue.deliveries_dlq
  }
  streams = {
    events = aws_dynamodb_table.events.stream_arn
  }

  # permissions.tf as IAM statements, one map per function.
  policy_statements = {
    for fn, access in local.permissions : fn => merge(
      {
        for table, grant in access.dynamodb : "dynamodb_${table}" => {
          actions   = grant.actions
          resources = [local.tables[table].arn]
        } if length(grant.actions) > 0
      },
      {
        for table, grant in access.dynamodb : "dynamodb_${table}_leading_keys" => {
          actions   = grant.leading_key_writes.actions
          resources = [local.tables[table].arn]
          # Only items whose partition key matches (a missing key never matches).
          conditions = [
            { test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = grant.leading_key_writes.leading_keys },
            { test = "Null", variable = "dynamodb:LeadingKeys", values = ["false"] },
          ]
        } if try(grant.leading_key_writes, null) != null
      },
      {
        for table, grant in access.dynamodb : "dynamodb_${table}_indexes" => {
          actions   = ["dynamodb:Query"]
          resources = [for index in grant.indexes : "${local.tables[table].arn}/index/${index}"]
        } if length(grant.indexes) > 0
      },
      {
        for key, actions in { snapshots = access.s3 } : "s3_${key}" => {
          actions                       = actions
          resources                     = ["${aws_s3_bucket.snapshots.arn}/tenants/*"]
        } if length(actions) > 0
      },
      {
        for key, actions in { snapshots_bucket = try(access.s3_bucket, []) } : "s3_${key}" => {
          actions                              = actions
          resources                            = [aws_s3_bucket.snapshots.arn]
          # Listing versions is a bucket-level action: keep it to the tenants' prefix.
          conditions = [{ test = "StringLike", variable = "s3:prefix", values = ["tenants/*"] }]
        } if length(actions) > 0
      },
      {
        for queue, actions in try(access.sqs, {}) : "sqs_${queue}" => {
          actions   = actions
          resources = [local.queues[queue].arn]
        } if length(actions) > 0
      },
      {
        for stream, actions in try(access.streams, {}) : "stream_${stream}" => {
          actions   = actions
          resources = [local.streams[stream]]
        } if length(actions) > 0
      },
      {
        for key, granted in { master_key = access.master_key } : key => {
          actions                        = ["secretsmanager:GetSecretValue"]
          resources                      = [aws_secretsmanager_secret.master_key.arn]
        } if granted
      },
    )
  }

  # Settings every function reads (common/runtime/config.py); names of resources are not secret.
  common_environment = {
    DOCKHAND_TABLE_PREFIX              = local.name
    DOCKHAND_KEYS_TABLE                = aws_dynamodb_table.keys.name
    DOCKHAND_EVENTS_TABLE              = aws_dynamodb_table.events.name
    DOCKHAND_CONTEXT_TABLE             = aws_dynamodb_table.context.name
    DOCKHAND_AGENTS_TABLE              = aws_dynamodb_table.agents.name
    DOCKHAND_STATS_TABLE               = aws_dynamodb_table.stats.name
    DOCKHAND_HOOKS_TABLE               = aws_dynamodb_table.hooks.name
    DOCKHAND_DELIVERY_QUEUE_URL        = aws_sqs_queue.deliveries.url
    DOCKHAND_SNAPSHOTS_BUCKET          = aws_s3_bucket.snapshots.bucket
    DOCKHAND_RATE_LIMIT_REQUESTS       = tostring(var.rate_limit_requests)
    DOCKHAND_RATE_LIMIT_WINDOW_SECONDS = tostring(var.rate_limit_window_seconds)
    DOCKHAND_DELIVERED_RETENTION_DAYS  = tostring(var.delivered_retention_days)
    POWERTOOLS_SERVICE_NAME            = var.project
    POWERTOOLS_METRICS_NAMESPACE       = var.project
    POWERTOOLS_LOG_LEVEL               = var.log_level
    POWERTOOLS_LOGGER_LOG_EVENT        = "false"
    POWERTOOLS_DEV                     = "false"
  }

  alarm_actions = compact([var.alarm_topic_arn != "" ? var.alarm_topic_arn : try(aws_sns_topic.alarms[0].arn, "")])
}

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  name                 = "${local.name}-${each.key}"
  description          = each.value.description
  handler              = each.value.handler
  runtime              = local.runtime
  architecture         = local.architecture
  memory_mb            = lookup(var.memory_mb, each.key, each.value.memory)
  timeout_seconds      = each.value.timeout
  reserved_concurrency = lookup(var.reserved_concurrency, each.key, -1)

  filename         = "${path.module}/${var.function_zip}"
  source_code_hash = filebase64sha256("${path.module}/${var.function_zip}")
  source_dir       = abspath("${path.module}/..")
  layers           = [aws_lambda_layer_version.dependencies.arn]

  # Only functions granted the master key are told where it is.
  environment = merge(local.common_environment, {
    for key, arn in { DOCKHAND_MASTER_KEY_SECRET_ID = aws_secretsmanager_secret.master_key.arn } :
    key => arn if local.permissions[each.key].master_key
  })
  policy_statements  = local.policy_statements[each.key]
  log_retention_days = var.log_retention_days

  api_id            = aws_apigatewayv2_api.http.id
  api_execution_arn = aws_apigatewayv2_api.http.execution_arn
  routes            = lookup(local.routes, each.key, [])

  schedule                       = each.value.schedule
  schedule_dlq_arn               = aws_sqs_queue.schedule_dlq.arn
  schedule_max_event_age_seconds = var.schedule_max_event_age_seconds
  schedule_max_retry_attempts    = var.schedule_max_retry_attempts

  alarm_actions = local.alarm_actions
}
