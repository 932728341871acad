# State key of this root; the shared settings are in backend.s3.tfbackend:
#   terraform -chdir=infrastructure/environments/prod/platform init -backend-config=../../../backend.s3.tfbackend
terraform {
  backend "s3" {
    key = "prod/platform/terraform.tfstate"
  }
}
