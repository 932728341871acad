# Production: HA control plane, a standby database node, and a database that
# no plan may destroy.
#
# The environment's settings are the module's arguments: modules/platform
# declares their types and validates them.
module "platform" {
  source = "../../../modules/platform"

  environment               = "prod"
  region                    = "fra1"
  vpc_ip_range              = "10.112.0.0/20"
  kubernetes_version_prefix = "1.34."
  cluster_ha                = true

  # Staging upgrades on Tuesday, production follows on Sunday.
  cluster_maintenance = {
    day        = "sunday"
    start_time = "03:00"
  }

  control_plane_allowed_addresses = var.control_plane_allowed_addresses

  # The cluster's own services only. The size is the one the cluster was
  # created with and stays for its life: a new size replaces the cluster (a
  # new cluster would take s-2vcpu-2gb). Only the count may change.
  system_node_pool = {
    size       = "s-4vcpu-8gb"
    node_count = 2
  }

  # The ledger's nodes, sized from its requests (see the app root).
  workload_node_pool = {
    size      = "s-2vcpu-4gb"
    min_nodes = 2
    max_nodes = 4
  }

  # 4 GB admits 97 connections; the second node is a hot standby.
  database = {
    version    = "15"
    size       = "db-s-2vcpu-4gb"
    node_count = 2
  }

  database_maintenance = {
    day  = "sunday"
    hour = "04:00"
  }

  # Receipts' files (RECEIPT_STORE=s3 in the app root): ledger-prod-receipts,
  # private and versioned; a deleted receipt can be restored for 90 days.
  receipts_bucket = {
    noncurrent_version_expiration_days = 90
  }

  protect_database = true
}
