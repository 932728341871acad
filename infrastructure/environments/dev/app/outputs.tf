output "namespace" {
  description = "Kubernetes namespace of the ledger."
  value       = module.app.namespace
}

output "image" {
  description = "Image, pinned by digest, that the environment runs."
  value       = module.app.image
}

output "migration_job" {
  description = "Job that migrated the database for the current image."
  value       = module.app.migration_job
}

output "rebuild_cron_job" {
  description = "Suspended CronJob that rebuild jobs are created from."
  value       = module.app.rebuild_cron_job
}

output "api_address" {
  description = "Public IP address of the API's load balancer."
  value       = module.app.api_address
}

output "database_connection_budget" {
  description = "Worst-case connections of the ledger by consumer, their total and the database's limit."
  value       = module.app.database_connection_budget
}

output "capacity" {
  description = "The ledger's requests at full scale against the workload pool."
  value       = module.app.capacity
}
