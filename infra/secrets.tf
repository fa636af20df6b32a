# The agent master key: cursor-signing keys and agent secrets are HMACs of it
# (common/store/secrets.py), so nothing secret is stored per agent or per cursor.
# Generated here once; its value is in Terraform state, so keep state in an
# encrypted, access-controlled backend (docs/deploy.md).

resource "aws_secretsmanager_secret" "master_key" {
  #checkov:skip=CKV_AWS_149:The AWS-managed secretsmanager key encrypts it; a CMK adds a key policy to maintain and kms:Decrypt grants for every function for no gain while only our own roles may read it.
  #checkov:skip=CKV2_AWS_57:Rotating the master key changes every agent secret and invalidates outstanding cursors; rotation is a deliberate operation (docs/deploy.md), not a schedule.
  name                    = "${local.name}/master-key"
  description             = "dockhand master key: agent secrets and cursor-signing keys are derived from it"
  recovery_window_in_days = 7
}

resource "random_password" "master_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret_version" "master_key" {
  secret_id     = aws_secretsmanager_secret.master_key.id
  secret_string = random_password.master_key.result
}
