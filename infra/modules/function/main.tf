# One Lambda function and everything that belongs to it alone: its log group,
# its role and least-privilege policy, its API routes (one integration, one
# route and one invoke permission per route key) or its EventBridge schedule,
# and its alarms. Raw resources only, so checkov sees every one of them.

locals {
  is_http      = length(var.routes) > 0
  is_scheduled = var.schedule != null

  # "GET /events/{event_id}" => { method = "GET", path = "/events/{event_id}" }
  route_parts = {
    for route in var.routes : route => {
      method = split(" ", route)[0]
      path   = split(" ", route)[1]
    }
  }
}

# --- Logs ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Logs carry no secrets (API keys, agent secrets and bodies are never logged); the CloudWatch service key encrypts them at rest, and a CMK per environment is left to operators who need one.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): request logs older than a month are noise and cost; raise it per environment if policy requires a year.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

# --- Identity: one role per function ------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Execution role of ${var.name}, and of nothing else"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "this" {
  # Its own log group only; the group exists before the function (depends_on),
  # so logs:CreateLogGroup is not needed.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.policy_statements
    content {
      sid       = replace(title(replace(statement.key, "_", " ")), " ", "")
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  # Scheduled functions hand invocations that failed after Lambda's own retries
  # to the same DLQ as EventBridge's undeliverable ones.
  dynamic "statement" {
    for_each = local.is_scheduled ? [var.schedule_dlq_arn] : []
    content {
      sid       = "SendFailedInvocationsToDlq"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# --- The function ----------------------------------------------------------------

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray is deliberately off: the SDK adds ~340 ms of cold-start imports for handlers whose time is one or two DynamoDB calls; EMF metrics and request-id logs cover tracing needs.
  #checkov:skip=CKV_AWS_116:HTTP functions are invoked synchronously (the client sees the error); scheduled ones have an on-failure destination and EventBridge DLQ below, which is what a function DLQ would do.
  #checkov:skip=CKV_AWS_117:The functions only call AWS APIs over TLS with IAM auth; a VPC would add NAT or endpoint cost and cold-start latency without protecting anything.
  #checkov:skip=CKV_AWS_173:Environment variables hold only resource names and limits, never secret values (the master key is fetched from Secrets Manager); Lambda encrypts them with its service key.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile per account; the zip is built reproducibly from the repository (tools/gen/package.py) instead.
  #checkov:skip=CKV_AWS_115:reserved_concurrent_executions is set from var.reserved_concurrency; -1 (the account pool) is the default so a small account is not starved.
  function_name = var.name
  description   = var.description
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = var.memory_mb
  timeout       = var.timeout_seconds
  layers        = var.layers

  # A local artefact (not S3), so `sam local invoke --hook-name terraform` can find it.
  filename         = var.filename
  source_code_hash = var.source_code_hash

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = var.environment
  }

  logging_config {
    log_format = "Text" # powertools already writes one JSON object per line
    log_group  = aws_cloudwatch_log_group.this.name
  }

  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}

# Read by `sam local invoke --hook-name terraform` (the same shape as
# terraform-aws-modules/lambda's create_sam_metadata): where the source and the
# built artefact of aws_lambda_function.this are.
resource "null_resource" "sam_metadata_aws_lambda_function" {
  triggers = {
    resource_name        = "aws_lambda_function.this"
    resource_type        = "ZIP_LAMBDA_FUNCTION"
    original_source_code = var.source_dir
    built_output_path    = var.filename
  }
}

# --- HTTP routes -------------------------------------------------------------------

resource "aws_apigatewayv2_integration" "this" {
  count = local.is_http ? 1 : 0

  api_id                 = var.api_id
  description            = var.name
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:Authentication is in the function (API keys with bcrypt, tenant and role; signed agent heartbeats) and GET /status is public by contract; HTTP APIs have no API-key authorizer, and a Lambda authorizer would double invocations and latency.
  for_each = toset(var.routes)

  api_id             = var.api_id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.this[0].id}"
  authorization_type = "NONE"
}

# API Gateway may invoke the function for its own routes only, not for any route of the API.
resource "aws_lambda_permission" "api" {
  for_each = local.route_parts

  statement_id  = "api-${trim(replace(lower(each.key), "/[^a-z0-9_]+/", "-"), "-")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${var.api_execution_arn}/*/${each.value.method}${each.value.path}"
}

# --- Schedule ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "schedule" {
  count = local.is_scheduled ? 1 : 0

  name                = var.name
  description         = "Runs ${var.name} on ${var.schedule}"
  schedule_expression = var.schedule
}

resource "aws_cloudwatch_event_target" "schedule" {
  count = local.is_scheduled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.schedule[0].name
  target_id = "lambda"
  arn       = aws_lambda_function.this.arn

  retry_policy {
    maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    maximum_retry_attempts       = var.schedule_max_retry_attempts
  }

  dead_letter_config {
    arn = var.schedule_dlq_arn
  }
}

resource "aws_lambda_permission" "schedule" {
  count = local.is_scheduled ? 1 : 0

  statement_id  = "eventbridge-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[0].arn
}

# EventBridge invokes asynchronously: an invocation that still fails after
# Lambda's retries lands in the DLQ too, instead of vanishing.
resource "aws_lambda_function_event_invoke_config" "schedule" {
  count = local.is_scheduled ? 1 : 0

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = var.schedule_max_event_age_seconds

  destination_config {
    on_failure {
      destination = var.schedule_dlq_arn
    }
  }
}

# --- Alarms ------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "${var.name} raised errors (unhandled exceptions or timeouts) in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-throttles"
  alarm_description   = "${var.name} was throttled (concurrency exhausted) in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
