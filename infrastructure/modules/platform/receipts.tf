# Receipts' files, outside the database: the ledger stores each under
# receipts/<id> (RECEIPT_STORE=s3). Private: the API hands the bytes out
# itself, after checking who asks. Versioned: a receipt deleted or replaced by
# mistake can be restored until its noncurrent version expires. Terraform
# refuses to destroy the bucket while it holds objects (no force_destroy).
#
# Creating a bucket goes through the Spaces API: the provider needs a Spaces
# key in SPACES_ACCESS_KEY_ID / SPACES_SECRET_ACCESS_KEY (see README.md). The
# ledger gets its own key, limited to this bucket, as an app root variable.
resource "digitalocean_spaces_bucket" "receipts" {
  count = var.receipts_bucket == null ? 0 : 1

  name   = "${local.name}-receipts"
  region = var.region
  acl    = "private"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    id      = "receipts-versions-and-uploads"
    enabled = true

    abort_incomplete_multipart_upload_days = var.receipts_bucket.abort_incomplete_upload_days

    noncurrent_version_expiration {
      days = var.receipts_bucket.noncurrent_version_expiration_days
    }
  }
}
