output "namespace" {
  description = "Kubernetes namespace of the ledger."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "image" {
  description = "Image (pinned by digest) the API, the worker and the last migration run."
  value       = var.image
}

output "migration_job" {
  description = "Name of the job that migrated the database for the current image."
  value       = kubernetes_job_v1.migrate.metadata[0].name
}

output "api_service" {
  description = "Name of the API's LoadBalancer service."
  value       = kubernetes_service_v1.api.metadata[0].name
}

output "api_address" {
  description = "Public IP address of the API's load balancer, once DigitalOcean has assigned one."
  value       = try(kubernetes_service_v1.api.status[0].load_balancer[0].ingress[0].ip, null)
}

output "database_connection_budget" {
  description = "Connections the ledger may open at worst (autoscaled API, workers, rollout surge and migration), to compare with the database's limit."
  value       = local.connection_budget
}
