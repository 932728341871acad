locals {
  name = "ledger-${var.environment}"

  # digitalocean_project accepts only these environment names.
  project_environment = {
    dev     = "Development"
    staging = "Staging"
    prod    = "Production"
  }[var.environment]

  tags = distinct(concat(["ledger", "ledger-${var.environment}"], var.extra_tags))

  node_labels = {
    "ledger.io/environment" = var.environment
  }
}

resource "digitalocean_vpc" "this" {
  name        = local.name
  region      = var.region
  ip_range    = var.vpc_ip_range
  description = "Private network of the ledger ${var.environment} cluster and database"
}

# The newest patch of the chosen minor release. Reading it from the data source
# instead of pinning a slug keeps plans clean after the provider's automatic
# patch upgrades.
data "digitalocean_kubernetes_versions" "this" {
  version_prefix = var.kubernetes_version_prefix
}

resource "digitalocean_kubernetes_cluster" "this" {
  name                 = local.name
  region               = var.region
  version              = data.digitalocean_kubernetes_versions.this.latest_version
  vpc_uuid             = digitalocean_vpc.this.id
  ha                   = var.cluster_ha
  auto_upgrade         = true
  surge_upgrade        = true
  registry_integration = true
  tags                 = local.tags

  maintenance_policy {
    day        = var.cluster_maintenance.day
    start_time = var.cluster_maintenance.start_time
  }

  node_pool {
    name       = "${local.name}-default"
    size       = var.node_pool.size
    auto_scale = true
    min_nodes  = var.node_pool.min_nodes
    max_nodes  = var.node_pool.max_nodes
    tags       = local.tags
    labels     = local.node_labels
  }
}

resource "digitalocean_project" "this" {
  name        = local.name
  description = "Reimbursement ledger, ${var.environment} environment"
  purpose     = "Web Application"
  environment = local.project_environment
  resources = [
    digitalocean_kubernetes_cluster.this.urn,
    local.database_cluster.urn,
  ]
}
