# Production: HA control plane, a standby database node, nodes to spread the
# API and both workers, and a database that no plan may destroy.
region                    = "fra1"
vpc_ip_range              = "10.112.0.0/20"
kubernetes_version_prefix = "1.34."
cluster_ha                = true

# Staging upgrades on Tuesday, production follows on Sunday.
cluster_maintenance = {
  day        = "sunday"
  start_time = "03:00"
}

node_pool = {
  size      = "s-4vcpu-8gb"
  min_nodes = 3
  max_nodes = 6
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

protect_database = true
