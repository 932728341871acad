# State lives in a private, versioned DigitalOcean Spaces bucket, one key per
# root. Credentials come from the environment (AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY hold a Spaces access key); the lock is a .tflock
# object next to the state.
terraform {
  backend "s3" {
    bucket       = "ledger-terraform-state"
    key          = "staging/app/terraform.tfstate"
    region       = "us-east-1"
    use_lockfile = true

    endpoints = {
      s3 = "https://fra1.digitaloceanspaces.com"
    }

    # Spaces speaks the S3 API but is not AWS.
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}
