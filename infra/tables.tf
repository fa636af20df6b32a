# DynamoDB tables. This file is the single definition: `make run` and the tests
# create their emulated tables from it (tools/local/infra_model.py parses it), and
# tests/infra checks the code's key layout (common/store/tables.py) against it.
#
# Every table: pk/sk strings, TTL on expires_at, on-demand billing, PITR, SSE
# with the AWS-managed KMS key. GSIs are sparse: only items carrying their key
# attributes appear in them.

resource "aws_dynamodb_table" "keys" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-keys"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "events" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-events"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }
  attribute {
    name = "gsi2pk"
    type = "S"
  }
  attribute {
    name = "gsi2sk"
    type = "S"
  }
  attribute {
    name = "gsi3sk"
    type = "S"
  }
  attribute {
    name = "gsi5pk"
    type = "S"
  }
  attribute {
    name = "gsi5sk"
    type = "S"
  }
  attribute {
    name = "hpk"
    type = "S"
  }
  attribute {
    name = "hsk"
    type = "S"
  }

  # The inbox: only pending events carry gsi1pk/gsi1sk.
  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }
  # The inbox per event type: only pending events carry gsi2pk/gsi2sk.
  global_secondary_index {
    name            = "gsi2"
    hash_key        = "gsi2pk"
    range_key       = "gsi2sk"
    projection_type = "ALL"
  }
  # Leases: the inbox partitions again, sorted by availability time
  # (gsi3sk = "<visible_at_ms>#<event_id>"), so a lease is one Query of
  # "visible_at <= now", oldest first, and an expired lease frees its events by time.
  global_secondary_index {
    name            = "gsi3"
    hash_key        = "gsi1pk"
    range_key       = "gsi3sk"
    projection_type = "ALL"
  }
  # Leases of one event type.
  global_secondary_index {
    name            = "gsi4"
    hash_key        = "gsi2pk"
    range_key       = "gsi3sk"
    projection_type = "ALL"
  }
  # The quarantine: events leased max_attempts times and not acknowledged
  # (gsi5sk = "<quarantined_at_ms>#<event_id>"; a last lease is filed at its expiry).
  global_secondary_index {
    name            = "gsi5"
    hash_key        = "gsi5pk"
    range_key       = "gsi5sk"
    projection_type = "ALL"
  }
  # Leases held by an agent (hpk = "T#<tenant>#H#<agent_id>", hsk =
  # "<lease_expires_ms>#<pk>"), only on held items: heartbeats extend them, a dead or
  # deleted agent's are released, without a scan.
  global_secondary_index {
    name            = "held"
    hash_key        = "hpk"
    range_key       = "hsk"
    projection_type = "ALL"
  }

  # Push delivery (docs/triggers.md): every retained event of a tenant by receipt
  # time, for replays of a window. Keys only plus what a replay filters on.
  attribute {
    name = "tlpk"
    type = "S"
  }
  attribute {
    name = "tlsk"
    type = "S"
  }
  global_secondary_index {
    name               = "timeline"
    hash_key           = "tlpk"
    range_key          = "tlsk"
    projection_type    = "INCLUDE"
    non_key_attributes = ["event_type", "expires_at"]
  }

  # The change stream feeds the dispatch function (push delivery): new images only.
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "context" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-context"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }
  attribute {
    name = "gsi2pk"
    type = "S"
  }
  attribute {
    name = "gsi2sk"
    type = "S"
  }

  # Notes and snapshots of one thread, in id (= time) order.
  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }
  # A tenant's threads by last activity.
  global_secondary_index {
    name            = "gsi2"
    hash_key        = "gsi2pk"
    range_key       = "gsi2sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "agents" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-agents"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }
  attribute {
    name = "gsi2pk"
    type = "S"
  }
  attribute {
    name = "gsi2sk"
    type = "S"
  }

  # A tenant's agents, for listing.
  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }
  # The sweeper's view: agents not dead, by the moment their next liveness change
  # falls due (per-agent intervals share one index); history items use neither.
  global_secondary_index {
    name            = "gsi2"
    hash_key        = "gsi2pk"
    range_key       = "gsi2sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "stats" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-stats"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

# Push delivery (common/triggers/subscriptions.py, delivery.py): subscriptions of a
# tenant, the delivery state of each (subscription, event), the delivery log, and
# gsi1 = the due-time index of retries (sparse: only scheduled retries carry it).
resource "aws_dynamodb_table" "hooks" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed aws/dynamodb KMS key (server_side_encryption below); a CMK would add a key policy, kms grants for every function role and per-request KMS cost for no gain while only our own roles can read the tables.
  name                        = "${local.name}-hooks"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}
