# Third-party dependencies (requirements.txt) as one layer, built by
# tools/gen/package.py for linux arm64 / CPython 3.12 to match local.runtime.

resource "aws_lambda_layer_version" "dependencies" {
  layer_name               = "${local.name}-dependencies"
  description              = "dockhand runtime dependencies (requirements.txt)"
  filename                 = "${path.module}/${var.layer_zip}"
  source_code_hash         = filebase64sha256("${path.module}/${var.layer_zip}")
  compatible_runtimes      = [local.runtime]
  compatible_architectures = [local.architecture]
}

# Read by `sam local invoke --hook-name terraform`: where the layer's content is.
resource "null_resource" "sam_metadata_aws_lambda_layer_version_dependencies" {
  triggers = {
    resource_name        = "aws_lambda_layer_version.dependencies"
    resource_type        = "LAMBDA_LAYER"
    original_source_code = abspath("${path.module}/../build/layer")
    built_output_path    = "${path.module}/${var.layer_zip}"
  }
}
