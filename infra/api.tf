# One HTTP API. Routes and integrations belong to the functions (modules/function);
# there is no $default catch-all route, so unknown paths get API Gateway's 404
# without invoking anything.

resource "aws_apigatewayv2_api" "http" {
  name          = local.name
  description   = "dockhand: triggers, context snapshots, agents and aggregates"
  protocol_type = "HTTP"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Access logs hold request ids, routes, status codes and client IPs, never headers or bodies; the CloudWatch service key encrypts them at rest.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30); raise it per environment if policy requires a year.
  name              = "/aws/apigateway/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true

  # Every route is throttled; per-key limits are enforced by the functions.
  default_route_settings {
    throttling_burst_limit   = var.api_throttling_burst_limit
    throttling_rate_limit    = var.api_throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      latency            = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      userAgent          = "$context.identity.userAgent"
    })
  }
}
