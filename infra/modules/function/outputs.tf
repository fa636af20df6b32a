output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's own execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "route_keys" {
  description = "Routes wired to this function."
  value       = [for route in aws_apigatewayv2_route.this : route.route_key]
}

output "schedule_rule_arn" {
  description = "ARN of the function's EventBridge rule, or null when it has no schedule."
  value       = try(aws_cloudwatch_event_rule.schedule[0].arn, null)
}
