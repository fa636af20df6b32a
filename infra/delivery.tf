# Push delivery (docs/triggers.md, "Push delivery"): the events table's stream feeds
# the dispatch function, which puts one message per (event, subscription) on the
# delivery queue; the deliver function signs and POSTs it, records the attempt and
# schedules the retry (SQS DelaySeconds up to 15 min, the hooks table's due-time
# index read every minute by the retry function beyond that).

resource "aws_sqs_queue" "deliveries_dlq" {
  name                      = "${local.name}-deliveries-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days: time to notice the alarm and redrive
}

resource "aws_sqs_queue" "deliveries" {
  name                    = "${local.name}-deliveries"
  sqs_managed_sse_enabled = true
  # Six times the deliver function's timeout (AWS's advice for Lambda consumers): a
  # message is never handed to a second worker while the first may still be sending.
  visibility_timeout_seconds = 540
  message_retention_seconds  = 345600 # 4 days; the longest retry waits in DynamoDB, not here
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.deliveries_dlq.arn
    # A message that failed this often is a bug (a failed HTTP attempt is recorded
    # and retried as a new message, not by failing the message).
    maxReceiveCount = 5
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "deliveries_dlq" {
  queue_url = aws_sqs_queue.deliveries_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.deliveries.arn]
  })
}

# Only INSERTs of events (sk "E") and queue clean-up records reach dispatch: dedup and idempotency records,
# acknowledgements and TTL deletions are filtered out by Lambda, for free.
resource "aws_lambda_event_source_mapping" "dispatch" {
  function_name                      = module.function["dispatch"].function_name
  event_source_arn                   = aws_dynamodb_table.events.stream_arn
  starting_position                  = "LATEST"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 0 # delivery starts within 2 s of the 201
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 10
  maximum_record_age_in_seconds      = 86400
  parallelization_factor             = 2
  function_response_types            = ["ReportBatchItemFailures"]

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT"]
        dynamodb  = { NewImage = { sk = { S = ["E"] } } }
      })
    }
    # A deleted queue's clean-up record: each write of it is the next bounded step.
    filter {
      pattern = jsonencode({
        eventName = ["INSERT", "MODIFY"]
        dynamodb  = { NewImage = { sk = { S = ["QDEL"] } } }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.deliveries_dlq.arn
    }
  }
}

resource "aws_lambda_event_source_mapping" "deliver" {
  function_name                      = module.function["deliver"].function_name
  event_source_arn                   = aws_sqs_queue.deliveries.arn
  batch_size                         = 5
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.delivery_max_concurrency
  }
}

# Anything in the delivery DLQ is a delivery that no worker could process (or a
# stream batch dispatch gave up on): redrive it after fixing the cause.
resource "aws_cloudwatch_metric_alarm" "deliveries_dlq" {
  alarm_name          = "${local.name}-deliveries-dlq-not-empty"
  alarm_description   = "Deliveries or stream batches failed for good; they are in ${aws_sqs_queue.deliveries_dlq.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.deliveries_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Deliveries waiting: the oldest message older than 5 minutes means the workers
# fall behind (concurrency cap, slow receivers).
resource "aws_cloudwatch_metric_alarm" "deliveries_queue_age" {
  alarm_name          = "${local.name}-deliveries-queue-age"
  alarm_description   = "The oldest delivery message has waited over 5 minutes in ${aws_sqs_queue.deliveries.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.deliveries.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 300
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A subscription was auto-disabled (5 exhausted events in a row, or failing 5 days).
resource "aws_cloudwatch_metric_alarm" "subscriptions_disabled" {
  alarm_name          = "${local.name}-subscriptions-disabled"
  alarm_description   = "A push subscription was disabled after failing deliveries; its tenant has a subscription.disabled event."
  namespace           = var.project
  metric_name         = "subscriptions_disabled"
  dimensions          = { service = var.project }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
