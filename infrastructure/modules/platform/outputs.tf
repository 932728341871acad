# Only what the app root needs, and nothing secret: the app root reads these
# outputs through its remote state, so a password here would be copied into
# its state. The logins' passwords stay in this root's state (DigitalOcean
# generates them) and reach Kubernetes as write-only values; see README.md.

output "project_id" {
  description = "ID of the DigitalOcean project that groups the environment's resources."
  value       = digitalocean_project.this.id
}

output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = digitalocean_vpc.this.id
}

output "vpc_ip_range" {
  description = "Private IPv4 range of the VPC; the database's private address is inside it (the app's network policies allow egress to it)."
  value       = digitalocean_vpc.this.ip_range
}

output "cluster_id" {
  description = "ID of the Kubernetes cluster."
  value       = digitalocean_kubernetes_cluster.this.id
}

output "cluster_name" {
  description = "Name of the Kubernetes cluster; the app root looks its credentials up by this name."
  value       = digitalocean_kubernetes_cluster.this.name
}

output "kubernetes_version" {
  description = "Kubernetes version slug the cluster was created or last upgraded with."
  value       = digitalocean_kubernetes_cluster.this.version
}

output "workload_node_pool" {
  description = "The pool that runs the ledger: its name, the node labels its pods select, its bounds, and what one node offers to pods (estimate), for the app's capacity check."
  value = {
    name            = digitalocean_kubernetes_node_pool.workloads.name
    size            = digitalocean_kubernetes_node_pool.workloads.size
    node_selector   = local.workload_node_selector
    min_nodes       = var.workload_node_pool.min_nodes
    max_nodes       = var.workload_node_pool.max_nodes
    node_cpu_millis = local.node_capacity[var.workload_node_pool.size].cpu_millis
    node_memory_mib = local.node_capacity[var.workload_node_pool.size].memory_mib
  }
}

output "database_cluster_id" {
  description = "ID of the managed PostgreSQL cluster (for doctl, and for the database's CA certificate)."
  value       = local.database_cluster.id
}

output "database_host" {
  description = "Private hostname of the PostgreSQL primary, reachable from inside the VPC only."
  value       = local.database_cluster.private_host
}

output "database_port" {
  description = "TCP port of the PostgreSQL cluster."
  value       = local.database_cluster.port
}

output "database_name" {
  description = "Name of the application's database."
  value       = local.database.name
}

output "database_user" {
  description = "Runtime login of the ledger (no schema changes)."
  value       = digitalocean_database_user.runtime.name
}

output "database_migrator_user" {
  description = "Login that owns the schema: migrations and projection rebuilds."
  value       = digitalocean_database_user.migrator.name
}

output "database_connection_limit" {
  description = "Connections the database size admits for applications (25 per GiB of memory, minus 3 reserved)."
  value       = local.database_connection_limit
}

output "receipts_bucket" {
  description = "The receipts' Spaces bucket: its name, region and endpoint (host, no scheme), as the app's receipt_store takes them; null when the environment has none."
  value = one([
    for bucket in digitalocean_spaces_bucket.receipts : {
      bucket   = bucket.name
      region   = bucket.region
      endpoint = bucket.endpoint
    }
  ])
}
