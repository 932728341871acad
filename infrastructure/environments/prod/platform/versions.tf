terraform {
  required_version = "~> 1.11"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.99"
    }
  }
}

# Credentials come from the environment: DIGITALOCEAN_TOKEN, and a Spaces key
# in SPACES_ACCESS_KEY_ID / SPACES_SECRET_ACCESS_KEY for the receipts' bucket.
provider "digitalocean" {}
