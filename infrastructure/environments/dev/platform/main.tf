# Development: smallest sizes, single nodes, no HA; torn down freely.
#
# The environment's settings are the module's arguments: modules/platform
# declares their types and validates them.
module "platform" {
  source = "../../../modules/platform"

  environment               = "dev"
  region                    = "fra1"
  vpc_ip_range              = "10.110.0.0/20"
  kubernetes_version_prefix = "1.34."
  cluster_ha                = false

  cluster_maintenance = {
    day        = "any"
    start_time = "03:00"
  }

  control_plane_allowed_addresses = var.control_plane_allowed_addresses

  # The cluster's own services only. The size is the one the cluster was
  # created with and stays for its life: a new size replaces the cluster (a
  # new cluster would take s-2vcpu-2gb). Only the count may change.
  system_node_pool = {
    size       = "s-2vcpu-4gb"
    node_count = 1
  }

  # The ledger's nodes, sized from its requests (see the app root).
  workload_node_pool = {
    size      = "s-2vcpu-4gb"
    min_nodes = 1
    max_nodes = 2
  }

  # 1 GB admits 22 connections.
  database = {
    version    = "15"
    size       = "db-s-1vcpu-1gb"
    node_count = 1
  }

  database_maintenance = {
    day  = "sunday"
    hour = "02:00"
  }

  protect_database = false
}
