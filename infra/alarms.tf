# Alarms beyond the per-function Errors/Throttles ones (modules/function).
# Actions go to var.alarm_topic_arn, or to a topic created for var.alarm_email.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed aws/sns key (notifications are silently dropped), and alarm messages carry no data; bring a CMK topic via alarm_topic_arn if required.
  count = var.alarm_topic_arn == "" && var.alarm_email != "" ? 1 : 0
  name  = "${local.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = length(aws_sns_topic.alarms)
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Anything in the DLQ is a scheduled run (sweep or rollup) that never happened.
resource "aws_cloudwatch_metric_alarm" "schedule_dlq" {
  alarm_name          = "${local.name}-schedule-dlq-not-empty"
  alarm_description   = "A scheduled invocation failed for good; its event is in ${aws_sqs_queue.schedule_dlq.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.schedule_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# 5xx answers the clients saw (internal_error, service_unavailable, integration failures).
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "The HTTP API answered 5xx in at least 5 requests in each of two consecutive minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = aws_apigatewayv2_api.http.id, Stage = aws_apigatewayv2_stage.default.name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
