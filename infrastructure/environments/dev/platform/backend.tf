# State key of this root; the shared settings are in backend.s3.tfbackend:
#   terraform -chdir=infrastructure/environments/dev/platform init -backend-config=../../../backend.s3.tfbackend
terraform {
  backend "s3" {
    key = "dev/platform/terraform.tfstate"
  }
}
