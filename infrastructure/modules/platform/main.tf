locals {
  name = "ledger-${var.environment}"

  # digitalocean_project accepts only these environment names.
  project_environment = {
    dev     = "Development"
    staging = "Staging"
    prod    = "Production"
  }[var.environment]

  tags = distinct(concat(["ledger", "ledger-${var.environment}"], var.extra_tags))

  # The ledger's pods select the workload pool by this label; the default pool
  # (label "system") keeps the cluster's own services: CoreDNS, Cilium's
  # operator, metrics-server.
  pool_label = "ledger.io/pool"
  workload_node_selector = {
    (local.pool_label) = "workloads"
  }

  # What one node of each size offers to pods: DigitalOcean's allocatable
  # memory for the Droplet size (2.5 GiB of a 4 GB node, 6 GiB of 8 GB, 13 GiB
  # of 16 GB) less what the DOKS DaemonSets (Cilium, CSI node plugin, node
  # agent, konnectivity) request, about 250m CPU and 350Mi per node. Estimates:
  # compare with `kubectl describe node` after creating a pool of a new size.
  node_capacity = {
    "s-2vcpu-4gb"  = { cpu_millis = 1750, memory_mib = 2200 }
    "s-4vcpu-8gb"  = { cpu_millis = 3750, memory_mib = 5800 }
    "s-8vcpu-16gb" = { cpu_millis = 7750, memory_mib = 12950 }
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
  name          = local.name
  region        = var.region
  version       = data.digitalocean_kubernetes_versions.this.latest_version
  vpc_uuid      = digitalocean_vpc.this.id
  ha            = var.cluster_ha
  auto_upgrade  = true
  surge_upgrade = true
  tags          = local.tags

  # The one way pods pull from the registry: DigitalOcean puts the registry's
  # read-only credentials in every namespace and on its default service
  # account. Terraform never handles a registry credential.
  registry_integration = true

  # The Kubernetes API answers only the listed addresses (the operators' and
  # CI's egress); the cluster's own nodes are always admitted.
  control_plane_firewall {
    enabled           = true
    allowed_addresses = var.control_plane_allowed_addresses
  }

  maintenance_policy {
    day        = var.cluster_maintenance.day
    start_time = var.cluster_maintenance.start_time
  }

  # The default pool is part of the cluster resource: changing its size
  # replaces the whole cluster. It therefore stays small and fixed (count
  # only, never size), runs the cluster's own services, and the ledger runs
  # on the separate, autoscaled pool below.
  node_pool {
    name       = "${local.name}-default"
    size       = var.system_node_pool.size
    node_count = var.system_node_pool.node_count
    tags       = local.tags
    labels = {
      "ledger.io/environment" = var.environment
      (local.pool_label)      = "system"
    }
  }
}

# The ledger's nodes. The size is in the name, so a new size is a new pool:
# Terraform creates it first (create_before_destroy), then deletes the old
# one, whose nodes DigitalOcean drains within the PodDisruptionBudgets.
resource "digitalocean_kubernetes_node_pool" "workloads" {
  cluster_id = digitalocean_kubernetes_cluster.this.id
  name       = "${local.name}-workloads-${var.workload_node_pool.size}"
  size       = var.workload_node_pool.size
  auto_scale = true
  min_nodes  = var.workload_node_pool.min_nodes
  max_nodes  = var.workload_node_pool.max_nodes
  tags       = local.tags
  labels = merge(local.workload_node_selector, {
    "ledger.io/environment" = var.environment
  })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = contains(keys(local.node_capacity), var.workload_node_pool.size)
      error_message = "No capacity estimate for node size ${var.workload_node_pool.size}: add it to local.node_capacity in modules/platform/main.tf (the app checks its requests against it)."
    }
  }
}

resource "digitalocean_project" "this" {
  name        = local.name
  description = "Reimbursement ledger, ${var.environment} environment"
  purpose     = "Web Application"
  environment = local.project_environment
  resources = concat(
    [digitalocean_kubernetes_cluster.this.urn, local.database_cluster.urn],
    digitalocean_spaces_bucket.receipts[*].urn,
  )
}
