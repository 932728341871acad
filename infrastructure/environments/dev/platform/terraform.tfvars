# Development: smallest sizes, single nodes, no HA; torn down freely.
region                    = "fra1"
vpc_ip_range              = "10.110.0.0/20"
kubernetes_version_prefix = "1.34."
cluster_ha                = false

cluster_maintenance = {
  day        = "any"
  start_time = "03:00"
}

node_pool = {
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
