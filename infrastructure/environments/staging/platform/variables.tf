# Values are set in terraform.tfvars; the platform module validates them.

variable "region" {
  description = "DigitalOcean region slug for the cluster, the database and the VPC."
  type        = string
}

variable "vpc_ip_range" {
  description = "Private IPv4 range of the environment's VPC (CIDR); distinct for every environment."
  type        = string
}

variable "kubernetes_version_prefix" {
  description = "Kubernetes minor release to run, e.g. \"1.34.\"; the newest patch of it is used."
  type        = string
}

variable "cluster_ha" {
  description = "Run the Kubernetes control plane in high-availability mode (cannot be turned off later)."
  type        = bool
}

variable "cluster_maintenance" {
  description = "Weekly window (UTC) for automatic Kubernetes patch upgrades."
  type = object({
    day        = string
    start_time = string
  })
}

variable "node_pool" {
  description = "Droplet size and autoscaling bounds of the node pool."
  type = object({
    size      = string
    min_nodes = number
    max_nodes = number
  })
}

variable "database" {
  description = "Managed PostgreSQL version, node size and node count."
  type = object({
    version    = string
    size       = string
    node_count = number
  })
}

variable "database_maintenance" {
  description = "Weekly window (UTC) for database maintenance."
  type = object({
    day  = string
    hour = string
  })
}

variable "protect_database" {
  description = "Refuse any plan that destroys or replaces the database (see modules/platform/database.tf)."
  type        = bool
}
