# The app root of the same environment reads these through its remote state.

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
  description = "Login of the application's database user."
  value       = module.platform.database_user
}

output "database_password" {
  description = "Password of the application's database user."
  value       = module.platform.database_password
  sensitive   = true
}

output "database_admin_user" {
  description = "Login of the database cluster's administrative user."
  value       = module.platform.database_admin_user
}

output "database_admin_password" {
  description = "Password of the database cluster's administrative user."
  value       = module.platform.database_admin_password
  sensitive   = true
}

output "database_connection_limit" {
  description = "Connections the database size admits for applications."
  value       = module.platform.database_connection_limit
}
