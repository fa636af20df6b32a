# Copied into a temporary copy of infra/ by tests/deploy (make check-deploy), never
# into infra/ itself: the real hashicorp/aws provider, pointed at the embedded moto
# server (@EMULATOR_ENDPOINT@ is replaced by its address) with the emulator's fake
# credentials. Every other provider setting of infra/providers.tf (region, default
# tags) stays as it is.
provider "aws" {
  access_key                  = "local"
  secret_key                  = "local"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    apigatewayv2   = "@EMULATOR_ENDPOINT@"
    cloudwatch     = "@EMULATOR_ENDPOINT@"
    cloudwatchlogs = "@EMULATOR_ENDPOINT@"
    dynamodb       = "@EMULATOR_ENDPOINT@"
    events         = "@EMULATOR_ENDPOINT@"
    iam            = "@EMULATOR_ENDPOINT@"
    lambda         = "@EMULATOR_ENDPOINT@"
    s3             = "@EMULATOR_ENDPOINT@"
    secretsmanager = "@EMULATOR_ENDPOINT@"
    sns            = "@EMULATOR_ENDPOINT@"
    sqs            = "@EMULATOR_ENDPOINT@"
    sts            = "@EMULATOR_ENDPOINT@"
  }
}

# moto accepts a queue's RedriveAllowPolicy but never returns it, and the provider waits
# for the attribute to read back (it timed the whole apply out). The policy only narrows
# which queues may use the DLQ; infra/ keeps it, the emulator's copy goes without.
resource "aws_sqs_queue_redrive_allow_policy" "deliveries_dlq" {
  count = 0
}

# moto reads the queue's RedrivePolicy back with maxReceiveCount as a string, which the
# provider sees as a change on every plan: the emulator's copy ignores that one drift.
resource "aws_sqs_queue" "deliveries" {
  lifecycle {
    ignore_changes = [redrive_policy]
  }
}
