# Staging: production's shape at a smaller size, to rehearse releases.
#
# The environment's settings are the module's arguments: modules/platform
# declares their types and validates them.
module "platform" {
  source = "../../../modules/platform"

  environment               = "staging"
  region                    = "fra1"
  vpc_ip_range              = "10.111.0.0/20"
  kubernetes_version_prefix = "1.34."
  cluster_ha                = false

  cluster_maintenance = {
    day        = "tuesday"
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
    min_nodes = 2
    max_nodes = 3
  }

  # 2 GB admits 47 connections.
  database = {
    version    = "15"
    size       = "db-s-1vcpu-2gb"
    node_count = 1
  }

  database_maintenance = {
    day  = "tuesday"
    hour = "04:00"
  }

  # Receipts' files (RECEIPT_STORE=s3 in the app root): ledger-staging-receipts,
  # private and versioned; a deleted receipt can be restored for 90 days.
  receipts_bucket = {
    noncurrent_version_expiration_days = 90
  }

  protect_database = false
}
