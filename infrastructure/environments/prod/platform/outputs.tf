# The app root of the same environment reads these through its remote state:
# nothing secret (see modules/platform/outputs.tf).

output "cluster_name" {
  description = "Name of the Kubernetes cluster."
  value       = module.platform.cluster_name
}

output "cluster_id" {
  description = "ID of the Kubernetes cluster."
  value       = module.platform.cluster_id
}

output "kubernetes_version" {
  description = "Kubernetes version slug of the cluster."
  value       = module.platform.kubernetes_version
}

output "project_id" {
  description = "ID of the environment's DigitalOcean project."
  value       = module.platform.project_id
}

output "vpc_ip_range" {
  description = "Private IPv4 range of the environment's VPC."
  value       = module.platform.vpc_ip_range
}

output "workload_node_pool" {
  description = "The pool that runs the ledger: name, node labels, bounds and per-node capacity."
  value       = module.platform.workload_node_pool
}

output "database_cluster_id" {
  description = "ID of the managed PostgreSQL cluster."
  value       = module.platform.database_cluster_id
}

output "database_host" {
  description = "Private hostname of the PostgreSQL primary."
  value       = module.platform.database_host
}

output "database_port" {
  description = "TCP port of the PostgreSQL cluster."
  value       = module.platform.database_port
}

output "database_name" {
  description = "Name of the application's database."
  value       = module.platform.database_name
}

output "database_user" {
  description = "Runtime login of the ledger."
  value       = module.platform.database_user
}

output "database_migrator_user" {
  description = "Login that owns the schema (migrations, rebuilds)."
  value       = module.platform.database_migrator_user
}

output "database_connection_limit" {
  description = "Connections the database size admits for applications."
  value       = module.platform.database_connection_limit
}

output "receipts_bucket" {
  description = "The receipts' Spaces bucket: name, region and endpoint."
  value       = module.platform.receipts_bucket
}
