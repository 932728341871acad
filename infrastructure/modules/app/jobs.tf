# Database work outside the serving pods, as the migrator login (the owner of
# the schema):
#
# - migrate: `ledger migrate` with the new image, then psql grants the runtime
#   login its privileges on every table and sequence, present and future. The
#   job is named after the image digest, so each release runs it once, and
#   Terraform waits for it before it touches the deployments: a failed
#   migration stops the apply with the old pods still serving. It is the only
#   place migrations run (MIGRATE_ON_START is false in every pod). It sets no
#   ttl_seconds_after_finished: Kubernetes would delete the finished job and
#   the next plan would create it again.
# - rebuild: a suspended CronJob that never runs on a schedule; an operator
#   starts it with `kubectl create job --from=cronjob/...` (see README.md).

locals {
  runtime_grants = [
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"${var.database.user}\"",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"${var.database.user}\"",
    # Tables the migrator creates later (migrations, rebuilt projections).
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO \"${var.database.user}\"",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO \"${var.database.user}\"",
  ]
  migrate_job_name  = "${local.name}-migrate-${local.image_version}"
  rebuild_cron_name = "${local.name}-rebuild-reimbursements"

  # The official PostgreSQL (alpine) image runs psql as this user.
  psql_user_id = 70

  migrate_resources = {
    requests = { cpu = "50m", memory = "64Mi" }
    limits   = { memory = "128Mi" }
  }
  psql_resources = {
    requests = { cpu = "10m", memory = "32Mi" }
    limits   = { memory = "64Mi" }
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
        node_selector                   = var.node_pool.node_selector

        security_context {
          run_as_non_root = true
          run_as_user     = var.run_as_user
          run_as_group    = var.run_as_user
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        # Init containers run first and in order: the grants only after the
        # migration succeeded.
        init_container {
          name  = "migrate"
          image = local.image
          args  = ["migrate"]

          dynamic "env" {
            for_each = merge(local.ledger_env, { DB_MAX_CONNS = tostring(local.migrate_max_conns) })
            content {
              name  = env.key
              value = env.value
            }
          }

          env {
            name = "DATABASE_URL"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.migrator.metadata[0].name
                key  = "DATABASE_URL"
              }
            }
          }

          resources {
            requests = local.migrate_resources.requests
            limits   = local.migrate_resources.limits
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "database-ca"
            mount_path = local.ca_mount_path
            read_only  = true
          }
        }

        container {
          name    = "grant-runtime"
          image   = var.psql_image
          command = concat(["psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--dbname=$(DATABASE_URL)"], flatten([for statement in local.runtime_grants : ["--command", statement]]))

          env {
            name = "DATABASE_URL"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.migrator.metadata[0].name
                key  = "DATABASE_URL"
              }
            }
          }

          resources {
            requests = local.psql_resources.requests
            limits   = local.psql_resources.limits
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_user                = local.psql_user_id
            run_as_group               = local.psql_user_id
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "database-ca"
            mount_path = local.ca_mount_path
            read_only  = true
          }
        }

        volume {
          name = "database-ca"
          config_map {
            name = kubernetes_config_map_v1.database_ca.metadata[0].name
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

  lifecycle {
    # Checked on every plan, before anything rolls out.
    precondition {
      condition     = local.connection_budget_total <= var.database.connection_limit
      error_message = "Database connection budget exceeded: ${jsonencode(local.connection_budget)} = ${local.connection_budget_total}, but the database admits ${var.database.connection_limit}. Lower db_max_conns or the replica counts, or choose a larger database size."
    }

    precondition {
      condition     = local.capacity.fits
      error_message = "The ledger's requests at full scale (${local.capacity.requested.cpu_millis}m CPU, ${local.capacity.requested.memory_mib}Mi) do not fit in max_nodes - 1 = ${var.node_pool.max_nodes - 1} nodes of the workload pool (${local.capacity.headroom_nodes.cpu_millis}m, ${local.capacity.headroom_nodes.memory_mib}Mi): raise max_nodes or the node size in the platform root, or lower the requests."
    }
  }
}

resource "kubernetes_cron_job_v1" "rebuild" {
  metadata {
    name      = local.rebuild_cron_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["rebuild"]
  }

  spec {
    # Never scheduled: suspended, it is a job template kept ready and in
    # step with the release. The schedule is required but never fires.
    suspend                       = true
    schedule                      = "0 3 1 1 *"
    concurrency_policy            = "Forbid"
    successful_jobs_history_limit = 1
    failed_jobs_history_limit     = 1

    job_template {
      metadata {
        labels = local.pod_labels["rebuild"]
      }

      spec {
        # An interrupted rebuild resumes where it stopped.
        backoff_limit              = 3
        active_deadline_seconds    = var.rebuild.active_deadline_seconds
        ttl_seconds_after_finished = 86400

        template {
          metadata {
            labels = local.pod_labels["rebuild"]
          }

          spec {
            restart_policy                  = "Never"
            automount_service_account_token = false
            node_selector                   = var.node_pool.node_selector

            security_context {
              run_as_non_root = true
              run_as_user     = var.run_as_user
              run_as_group    = var.run_as_user
              seccomp_profile {
                type = "RuntimeDefault"
              }
            }

            container {
              name  = "rebuild"
              image = local.image
              args  = ["projections", "rebuild", "reimbursements"]

              dynamic "env" {
                for_each = merge(local.ledger_env, { DB_MAX_CONNS = tostring(local.rebuild_max_conns) })
                content {
                  name  = env.key
                  value = env.value
                }
              }

              # The rebuild swaps tables: it needs the owner of the schema.
              env {
                name = "DATABASE_URL"
                value_from {
                  secret_key_ref {
                    name = kubernetes_secret_v1.migrator.metadata[0].name
                    key  = "DATABASE_URL"
                  }
                }
              }

              resources {
                requests = var.rebuild.resources.requests
                limits = {
                  memory = var.rebuild.resources.memory_limit
                }
              }

              security_context {
                allow_privilege_escalation = false
                read_only_root_filesystem  = true
                capabilities {
                  drop = ["ALL"]
                }
              }

              volume_mount {
                name       = "tmp"
                mount_path = "/tmp"
              }

              volume_mount {
                name       = "database-ca"
                mount_path = local.ca_mount_path
                read_only  = true
              }
            }

            volume {
              name = "tmp"
              empty_dir {
                size_limit = "64Mi"
              }
            }

            volume {
              name = "database-ca"
              config_map {
                name = kubernetes_config_map_v1.database_ca.metadata[0].name
              }
            }
          }
        }
      }
    }
  }
}
