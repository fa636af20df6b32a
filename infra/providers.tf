# Terraform and provider versions, and the tags every resource carries.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
    # random: the agent master key is generated once and kept in state.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    # null: only for the `sam_metadata_*` resources `sam local --hook-name terraform` reads.
    null = {
      source  = "hashicorp/null"
      version = "~> 3.2"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
