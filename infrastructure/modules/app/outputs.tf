output "namespace" {
  description = "Kubernetes namespace of the ledger."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "image" {
  description = "Image (pinned by digest) the API, the worker, the last migration and rebuilds run."
  value       = local.image
}

output "migration_job" {
  description = "Name of the job that migrated the database for the current image."
  value       = kubernetes_job_v1.migrate.metadata[0].name
}

output "rebuild_cron_job" {
  description = "Suspended CronJob to start a rebuild of the reimbursements projection from: kubectl create job --from=cronjob/<name>."
  value       = kubernetes_cron_job_v1.rebuild.metadata[0].name
}

output "api_service" {
  description = "Name of the API's LoadBalancer service."
  value       = kubernetes_service_v1.api.metadata[0].name
}

output "api_address" {
  description = "Public IP address of the API's load balancer, once DigitalOcean has assigned one."
  value       = try(kubernetes_service_v1.api.status[0].load_balancer[0].ingress[0].ip, null)
}

output "database_endpoints" {
  description = "Connection URLs of the runtime and migrator logins, without passwords."
  value       = local.database_endpoints
}

output "database_connection_budget" {
  description = "Connections the ledger may open at worst, by consumer (API, workers, migration, rebuild, operator session), and their total, against the database's limit."
  value = merge(local.connection_budget, {
    total = local.connection_budget_total
    limit = var.database.connection_limit
  })
}

output "capacity" {
  description = "CPU (millicores) and memory (MiB) the ledger requests at full scale, against max_nodes - 1 nodes of the workload pool."
  value       = local.capacity
}

output "deployment_env" {
  description = "Environment of the API's and the worker's containers as their pod templates carry it: plain values (env), and the secret each secret variable is read from (secret_env). No secret value."
  value = {
    for component, deployment in kubernetes_deployment_v1.this : component => {
      env = {
        for env in deployment.spec[0].template[0].spec[0].container[0].env : env.name => env.value if length(env.value_from) == 0
      }
      secret_env = {
        for env in deployment.spec[0].template[0].spec[0].container[0].env : env.name => env.value_from[0].secret_key_ref[0].name if length(env.value_from) > 0
      }
    }
  }
}
