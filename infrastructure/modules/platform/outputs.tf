output "project_id" {
  description = "ID of the DigitalOcean project that groups the environment's resources."
  value       = digitalocean_project.this.id
}

output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = digitalocean_vpc.this.id
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

output "database_cluster_id" {
  description = "ID of the managed PostgreSQL cluster."
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
  description = "Login of the application's database user."
  value       = digitalocean_database_user.app.name
}

output "database_password" {
  description = "Password of the application's database user."
  value       = digitalocean_database_user.app.password
  sensitive   = true
}

output "database_admin_user" {
  description = "Login of the cluster's administrative user, used only to grant the application user its privileges."
  value       = local.database_cluster.user
}

output "database_admin_password" {
  description = "Password of the cluster's administrative user."
  value       = local.database_cluster.password
  sensitive   = true
}

output "database_connection_limit" {
  description = "Connections the database size admits for applications (25 per GiB of memory, minus 3 reserved). Replicas times pool size must stay below it."
  value       = local.database_connection_limit
}
