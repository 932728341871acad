# Two jobs prepare the database before any new pod starts:
#
# 1. database_grants: users created through the DigitalOcean API own nothing,
#    and since PostgreSQL 15 the public schema is closed to them. The cluster's
#    admin grants the application user what it needs; the statements are
#    idempotent. The job is named after the statements and the database
#    cluster, so it runs again only when either changes.
# 2. migrate: `ledger migrate` with the new image. It is named after the image
#    digest, so each release runs it once, and Terraform waits for it to
#    succeed before it touches the deployments. A failed migration stops the
#    apply with the old pods still serving.
#
# Neither job sets ttl_seconds_after_finished: Kubernetes would delete the
# finished job and the next plan would create it again.

locals {
  grant_statements = [
    "GRANT CONNECT, TEMPORARY ON DATABASE \"${var.database.name}\" TO \"${var.database.user}\"",
    "GRANT USAGE, CREATE ON SCHEMA public TO \"${var.database.user}\"",
  ]
  grants_job_name  = "${local.name}-database-grants-${substr(sha256(join(";", concat([var.database.cluster_id], local.grant_statements))), 0, 10)}"
  migrate_job_name = "${local.name}-migrate-${local.image_version}"

  # The official PostgreSQL image runs psql as this user.
  psql_user_id = 70
}

resource "kubernetes_job_v1" "database_grants" {
  metadata {
    name      = local.grants_job_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["database-grants"]
  }

  spec {
    backoff_limit           = 3
    active_deadline_seconds = 300

    template {
      metadata {
        labels = local.labels["database-grants"]
      }

      spec {
        restart_policy                  = "Never"
        automount_service_account_token = false

        security_context {
          run_as_non_root = true
          run_as_user     = local.psql_user_id
          run_as_group    = local.psql_user_id
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name    = "psql"
          image   = var.psql_image
          command = concat(["psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--dbname=$(ADMIN_DATABASE_URL)"], flatten([for statement in local.grant_statements : ["--command", statement]]))

          env {
            name = "ADMIN_DATABASE_URL"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.database_admin.metadata[0].name
                key  = "DATABASE_URL"
              }
            }
          }

          resources {
            requests = {
              cpu    = "10m"
              memory = "32Mi"
            }
            limits = {
              memory = "64Mi"
            }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }
        }
      }
    }
  }

  wait_for_completion = true

  timeouts {
    create = "5m"
    update = "5m"
  }
}

resource "kubernetes_job_v1" "migrate" {
  metadata {
    name      = local.migrate_job_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.pod_labels["migrate"]
  }

  spec {
    backoff_limit           = 2
    active_deadline_seconds = 900

    template {
      metadata {
        labels = local.pod_labels["migrate"]
      }

      spec {
        restart_policy                  = "Never"
        automount_service_account_token = false

        image_pull_secrets {
          name = kubernetes_secret_v1.registry.metadata[0].name
        }

        security_context {
          run_as_non_root = true
          run_as_user     = var.run_as_user
          run_as_group    = var.run_as_user
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        container {
          name  = "migrate"
          image = var.image
          args  = ["migrate"]

          env {
            name  = "LOG_LEVEL"
            value = var.log_level
          }

          env {
            name  = "DB_MAX_CONNS"
            value = tostring(local.migrate_max_conns)
          }

          env {
            name = "DATABASE_URL"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.runtime.metadata[0].name
                key  = "DATABASE_URL"
              }
            }
          }

          resources {
            requests = {
              cpu    = "50m"
              memory = "64Mi"
            }
            limits = {
              memory = "128Mi"
            }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }
        }
      }
    }
  }

  wait_for_completion = true

  timeouts {
    create = "15m"
    update = "15m"
  }

  depends_on = [kubernetes_job_v1.database_grants]
}
