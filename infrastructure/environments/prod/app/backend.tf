# State key of this root; the shared settings are in backend.s3.tfbackend:
#   terraform -chdir=infrastructure/environments/prod/app init -backend-config=../../../backend.s3.tfbackend
terraform {
  backend "s3" {
    key = "prod/app/terraform.tfstate"
  }
}
