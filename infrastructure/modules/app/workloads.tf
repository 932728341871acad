# The API and the worker: one image, one pod definition, two roles.
#
# The API is stateless: the autoscaler owns its replica count (replicas is
# left unset here, so Terraform never fights it) between min_replicas and
# max_replicas. Workers of one consumer group take turns on the same messages
# (failover, not throughput), so their count is fixed.

locals {
  workloads = {
    api = {
      args              = ["serve", "--role", "api"]
      replicas          = null
      db_max_conns      = var.api.db_max_conns
      resources         = var.api.resources
      termination_grace = 45
      pre_stop_delay    = var.api.pre_stop_delay_seconds
      full_scale_pods   = var.api.max_replicas + 1
      readiness_path    = "/readyz"
    }
    worker = {
      args              = ["serve", "--role", "worker"]
      replicas          = var.worker.replicas
      db_max_conns      = var.worker.db_max_conns
      resources         = var.worker.resources
      termination_grace = 60
      pre_stop_delay    = 0
      full_scale_pods   = var.worker.replicas + 1
      # A worker's /readyz turns 503 while a projector is halted on a poison
      # event or a consumer group is stalled: alert on it (and on the
      # ledger_subscriber_* metrics), but never gate a rollout on it, or the
      # release that fixes the fault could not replace the failing pods.
      readiness_path = "/healthz"
    }
  }

  # Environment of the serving roles, besides local.ledger_env.
  serve_env = {
    HTTP_ADDR       = ":${local.http_port}"
    IDEMPOTENCY_TTL = var.idempotency_ttl
  }
}

resource "kubernetes_deployment_v1" "this" {
  for_each = local.workloads

  metadata {
    name      = "${local.name}-${each.key}"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels[each.key]
  }

  spec {
    replicas                  = each.value.replicas == null ? null : tostring(each.value.replicas)
    revision_history_limit    = 5
    progress_deadline_seconds = 600

    selector {
      match_labels = local.selector_labels[each.key]
    }

    # A new pod must be ready before an old one stops.
    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "1"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.pod_labels[each.key]
        annotations = {
          # A new revision of the secrets restarts the pods.
          "ledger.io/secrets-revision" = tostring(var.secrets_revision)
        }
      }

      spec {
        automount_service_account_token  = false
        termination_grace_period_seconds = each.value.termination_grace
        node_selector                    = var.node_pool.node_selector

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
            match_labels = local.selector_labels[each.key]
          }
        }

        container {
          name  = each.key
          image = local.image
          args  = each.value.args

          # Serves the API (api role), /healthz, /readyz and /metrics.
          port {
            name           = "http"
            container_port = local.http_port
          }

          dynamic "env" {
            for_each = merge(local.ledger_env, local.serve_env, local.receipt_env, { DB_MAX_CONNS = tostring(each.value.db_max_conns) })
            content {
              name  = env.key
              value = env.value
            }
          }

          dynamic "env" {
            for_each = toset(local.runtime_secret_keys)
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

          # No CPU limit: it would only throttle a pod while the node has idle
          # CPU. The memory limit stays: memory cannot be throttled.
          resources {
            requests = each.value.resources.requests
            limits = {
              memory = each.value.resources.memory_limit
            }
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
              path = each.value.readiness_path
              port = "http"
            }
            period_seconds    = 5
            timeout_seconds   = 2
            failure_threshold = 2
          }

          # The load balancer and kube-proxy take a few seconds to stop
          # sending to a terminating pod: it keeps serving meanwhile, and only
          # then receives SIGTERM. The image has no shell, so the ledger
          # binary waits.
          dynamic "lifecycle" {
            for_each = each.value.pre_stop_delay > 0 ? [each.value.pre_stop_delay] : []
            content {
              pre_stop {
                exec {
                  command = ["/usr/local/bin/ledger", "sleep", "${lifecycle.value}s"]
                }
              }
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

  depends_on = [kubernetes_job_v1.migrate]
}

# The API and the worker were two resources before they shared one.
moved {
  from = kubernetes_deployment_v1.api
  to   = kubernetes_deployment_v1.this["api"]
}

moved {
  from = kubernetes_deployment_v1.worker
  to   = kubernetes_deployment_v1.this["worker"]
}

# Node drains and cluster upgrades evict at most one pod of each workload at a
# time; with the surge above, a rollout never drops below the desired count.
resource "kubernetes_pod_disruption_budget_v1" "this" {
  for_each = local.workloads

  metadata {
    name      = "${local.name}-${each.key}"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels[each.key]
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.selector_labels[each.key]
    }
  }
}

resource "kubernetes_horizontal_pod_autoscaler_v2" "api" {
  metadata {
    name      = "${local.name}-api"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["api"]
  }

  spec {
    min_replicas = var.api.min_replicas
    max_replicas = var.api.max_replicas

    scale_target_ref {
      api_version = "apps/v1"
      kind        = "Deployment"
      name        = kubernetes_deployment_v1.this["api"].metadata[0].name
    }

    # Utilization is measured against the CPU request.
    metric {
      type = "Resource"
      resource {
        name = "cpu"
        target {
          type                = "Utilization"
          average_utilization = var.api.target_cpu_utilization
        }
      }
    }

    behavior {
      scale_down {
        stabilization_window_seconds = 300
        select_policy                = "Max"
        policy {
          type           = "Pods"
          value          = 1
          period_seconds = 60
        }
      }
    }
  }
}
