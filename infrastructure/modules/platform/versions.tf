terraform {
  # Write-only arguments and ephemeral variables need 1.11.
  required_version = ">= 1.11"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = ">= 2.60"
    }
  }
}
