# The HTTP API: stateless, so the autoscaler may run between
# var.api.min_replicas and var.api.max_replicas of it.

locals {
  # DigitalOcean's cloud controller reads these to configure the load balancer.
  load_balancer_annotations = merge(
    {
      "service.beta.kubernetes.io/do-loadbalancer-name"                 = "${local.name}-${var.environment}-api"
      "service.beta.kubernetes.io/do-loadbalancer-protocol"             = "http"
      "service.beta.kubernetes.io/do-loadbalancer-healthcheck-protocol" = "http"
      "service.beta.kubernetes.io/do-loadbalancer-healthcheck-path"     = "/healthz"
      "service.beta.kubernetes.io/do-loadbalancer-size-unit"            = tostring(var.load_balancer_size_unit)
    },
    var.tls_certificate_id == null ? {} : {
      "service.beta.kubernetes.io/do-loadbalancer-certificate-id"         = var.tls_certificate_id
      "service.beta.kubernetes.io/do-loadbalancer-tls-ports"              = "443"
      "service.beta.kubernetes.io/do-loadbalancer-redirect-http-to-https" = "true"
    },
  )
}

resource "kubernetes_deployment_v1" "api" {
  metadata {
    name      = "${local.name}-api"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["api"]
  }

  spec {
    replicas                  = var.api.min_replicas
    revision_history_limit    = 5
    progress_deadline_seconds = 600

    selector {
      match_labels = local.selector_labels["api"]
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
        labels = local.pod_labels["api"]
      }

      spec {
        automount_service_account_token  = false
        termination_grace_period_seconds = 30

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
            match_labels = local.selector_labels["api"]
          }
        }

        container {
          name  = "api"
          image = var.image
          args  = ["serve", "--role", "api"]

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
            requests = var.api.resources.requests
            limits   = var.api.resources.limits
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

  lifecycle {
    # The autoscaler owns the replica count once the deployment exists.
    ignore_changes = [spec[0].replicas]
  }

  depends_on = [kubernetes_job_v1.migrate]
}

resource "kubernetes_service_v1" "api" {
  metadata {
    name        = "${local.name}-api"
    namespace   = kubernetes_namespace_v1.this.metadata[0].name
    labels      = local.labels["api"]
    annotations = local.load_balancer_annotations
  }

  spec {
    type                    = "LoadBalancer"
    external_traffic_policy = "Cluster"
    selector                = local.selector_labels["api"]

    port {
      name        = "http"
      port        = 80
      target_port = "http"
    }

    dynamic "port" {
      for_each = var.tls_certificate_id == null ? [] : [443]
      content {
        name        = "https"
        port        = port.value
        target_port = "http"
      }
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
      name        = kubernetes_deployment_v1.api.metadata[0].name
    }

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
