output "api_url" {
  description = "Base URL of the HTTP API (no trailing slash)."
  value       = trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}

output "region" {
  description = "Region everything was deployed to."
  value       = var.region
}

output "table_prefix" {
  description = "DOCKHAND_TABLE_PREFIX for the CLI: tables are <prefix>-keys, <prefix>-events, ..."
  value       = local.name
}

output "table_names" {
  description = "DynamoDB table names by logical name."
  value       = { for logical, table in local.tables : logical => table.name }
}

output "snapshots_bucket" {
  description = "S3 bucket holding the snapshots (DOCKHAND_SNAPSHOTS_BUCKET)."
  value       = aws_s3_bucket.snapshots.bucket
}

output "function_names" {
  description = "Lambda function names by logical name."
  value       = { for fn, mod in module.function : fn => mod.function_name }
}

output "master_key_secret_arn" {
  description = "Secrets Manager secret holding the master key (DOCKHAND_MASTER_KEY_SECRET_ID)."
  value       = aws_secretsmanager_secret.master_key.arn
}

output "schedule_dlq_url" {
  description = "Dead-letter queue of the scheduled functions."
  value       = aws_sqs_queue.schedule_dlq.url
}
