# The snapshot bucket: private, encrypted, versioned, TLS only. Objects live
# under tenants/<tenant>/..., and function policies are scoped to that prefix.

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "snapshots" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per environment; CloudTrail data events are the better audit trail if one is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; versioning plus DynamoDB PITR cover accidental loss, and snapshots can be re-hydrated.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new snapshots; the hydrate function records each one in DynamoDB itself.
  #checkov:skip=CKV_AWS_145:False positive when the encryption is in its own resource: aws_s3_bucket_server_side_encryption_configuration.snapshots sets aws:kms.
  # The account id keeps the globally unique bucket name predictable per account.
  bucket        = "${local.name}-snapshots-${data.aws_caller_identity.current.account_id}"
  force_destroy = var.force_destroy_bucket
}

resource "aws_s3_bucket_public_access_block" "snapshots" {
  bucket                  = aws_s3_bucket.snapshots.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "snapshots" {
  bucket = aws_s3_bucket.snapshots.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-KMS with the AWS-managed aws/s3 key: encrypted with an auditable KMS key
# without a key policy to maintain (functions need no kms:* grants), and the
# bucket key keeps KMS request costs flat.
resource "aws_s3_bucket_server_side_encryption_configuration" "snapshots" {
  bucket = aws_s3_bucket.snapshots.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "snapshots" {
  bucket = aws_s3_bucket.snapshots.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "snapshots" {
  bucket = aws_s3_bucket.snapshots.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.snapshot_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.snapshots]
}

data "aws_iam_policy_document" "snapshots_tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.snapshots.arn,
      "${aws_s3_bucket.snapshots.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "snapshots" {
  bucket = aws_s3_bucket.snapshots.id
  policy = data.aws_iam_policy_document.snapshots_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.snapshots]
}
