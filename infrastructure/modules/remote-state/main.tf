# Outputs of another root, read from its state in the Spaces bucket. Only the
# outputs are read, and only what that root chose to output: the platform
# roots output nothing secret.
#
# The bucket settings repeat those of ../../backend.s3.tfbackend, which a
# data source cannot read; change both together.
data "terraform_remote_state" "this" {
  backend = "s3"

  config = {
    bucket    = "ledger-terraform-state"
    key       = var.key
    region    = "us-east-1"
    endpoints = { s3 = "https://fra1.digitaloceanspaces.com" }

    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}
