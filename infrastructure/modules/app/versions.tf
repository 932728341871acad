terraform {
  # Cross-variable validation needs 1.9; the roots' S3 lock file needs 1.10.
  required_version = ">= 1.10"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.36"
    }
  }
}
