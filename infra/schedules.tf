# The dead-letter queue of the scheduled functions (sweeper, rollup). Their
# rules and targets are in modules/function, made from local.functions[*].schedule.

resource "aws_sqs_queue" "schedule_dlq" {
  name                      = "${local.name}-schedule-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days, the maximum: time to notice the alarm and replay
}

locals {
  schedule_rule_arns = compact([for fn in module.function : fn.schedule_rule_arn])
}

# EventBridge may send only the failures of our own rules here.
data "aws_iam_policy_document" "schedule_dlq" {
  statement {
    sid       = "EventBridgeRuleFailures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.schedule_dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.schedule_rule_arns
    }
  }
}

resource "aws_sqs_queue_policy" "schedule_dlq" {
  queue_url = aws_sqs_queue.schedule_dlq.id
  policy    = data.aws_iam_policy_document.schedule_dlq.json
}
