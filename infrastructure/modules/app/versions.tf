terraform {
  # Write-only arguments and ephemeral variables need 1.11; data_wo works from
  # provider 3.2.1 on (earlier releases fail after creating such a secret).
  required_version = ">= 1.11"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 3.2.1"
    }
  }
}
