# The background workers. Replicas of one consumer group take turns on the
# same messages (failover, not throughput), so the count is fixed by
# var.worker.replicas and no autoscaler touches it: 1 is enough where a short
# pause is acceptable, 2 keeps a standby ready.

resource "kubernetes_deployment_v1" "worker" {
  metadata {
    name      = "${local.name}-worker"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["worker"]
  }

  spec {
    replicas                  = var.worker.replicas
    revision_history_limit    = 5
    progress_deadline_seconds = 600

    selector {
      match_labels = local.selector_labels["worker"]
    }

    # The standby takes over while the new pod starts: never fewer than the
    # fixed count.
    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "1"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.pod_labels["worker"]
      }

      spec {
        automount_service_account_token  = false
        termination_grace_period_seconds = 60

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

        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector_labels["worker"]
          }
        }

        container {
          name  = "worker"
          image = var.image
          args  = ["serve", "--role", "worker"]

          # Serves /healthz, /readyz and /metrics; no Service exposes it.
          port {
            name           = "http"
            container_port = local.http_port
          }

          dynamic "env" {
            for_each = local.runtime_env
            content {
              name  = env.key
              value = env.value
            }
          }

          dynamic "env" {
            for_each = toset(["DATABASE_URL", "AUDIT_KEY"])
            content {
              name = env.value
              value_from {
                secret_key_ref {
                  name = kubernetes_secret_v1.runtime.metadata[0].name
                  key  = env.value
                }
              }
            }
          }

          resources {
            requests = var.worker.resources.requests
            limits   = var.worker.resources.limits
          }

          startup_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
            period_seconds    = 2
            failure_threshold = 30
          }

          liveness_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
            period_seconds    = 10
            timeout_seconds   = 2
            failure_threshold = 3
          }

          readiness_probe {
            http_get {
              path = "/readyz"
              port = "http"
            }
            period_seconds    = 5
            timeout_seconds   = 2
            failure_threshold = 2
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
        }

        volume {
          name = "tmp"
          empty_dir {
            size_limit = "64Mi"
          }
        }
      }
    }
  }

  depends_on = [kubernetes_job_v1.migrate]
}

# Node drains and cluster upgrades evict at most one pod of each workload at a
# time; with the surge above, a rollout never drops below the desired count.
resource "kubernetes_pod_disruption_budget_v1" "this" {
  for_each = {
    api    = local.selector_labels["api"]
    worker = local.selector_labels["worker"]
  }

  metadata {
    name      = "${local.name}-${each.key}"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels[each.key]
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = each.value
    }
  }
}
