terraform {
  required_version = "~> 1.11"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.99"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
  }
}

# Credentials come from the environment: DIGITALOCEAN_TOKEN.
provider "digitalocean" {}

# The cluster was created by this environment's platform root in an earlier
# apply; its credentials are read fresh on every plan, never from a resource
# of this configuration.
provider "kubernetes" {
  host  = data.digitalocean_kubernetes_cluster.this.endpoint
  token = data.digitalocean_kubernetes_cluster.this.kube_config[0].token
  cluster_ca_certificate = base64decode(
    data.digitalocean_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
  )
}
