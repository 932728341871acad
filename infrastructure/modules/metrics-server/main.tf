# metrics-server: the resource metrics API (metrics.k8s.io) that the API's
# HorizontalPodAutoscaler and `kubectl top` read. DOKS does not install it.
# The objects of the upstream release manifest (components.yaml of v0.8.0),
# with DigitalOcean's setting for its kubelets (InternalIP addresses).

locals {
  name      = "metrics-server"
  namespace = "kube-system"
  labels = {
    "k8s-app"                      = local.name
    "app.kubernetes.io/managed-by" = "terraform"
  }
  selector = {
    "k8s-app" = local.name
  }
}

resource "kubernetes_service_account_v1" "this" {
  metadata {
    name      = local.name
    namespace = local.namespace
    labels    = local.labels
  }
}

# Lets the admin, edit and view roles read pod and node metrics.
resource "kubernetes_cluster_role_v1" "aggregated_metrics_reader" {
  metadata {
    name = "system:aggregated-metrics-reader"
    labels = merge(local.labels, {
      "rbac.authorization.k8s.io/aggregate-to-admin" = "true"
      "rbac.authorization.k8s.io/aggregate-to-edit"  = "true"
      "rbac.authorization.k8s.io/aggregate-to-view"  = "true"
    })
  }

  rule {
    api_groups = ["metrics.k8s.io"]
    resources  = ["pods", "nodes"]
    verbs      = ["get", "list", "watch"]
  }
}

resource "kubernetes_cluster_role_v1" "metrics_server" {
  metadata {
    name   = "system:metrics-server"
    labels = local.labels
  }

  rule {
    api_groups = [""]
    resources  = ["nodes/metrics"]
    verbs      = ["get"]
  }

  rule {
    api_groups = [""]
    resources  = ["pods", "nodes"]
    verbs      = ["get", "list", "watch"]
  }
}

resource "kubernetes_role_binding_v1" "auth_reader" {
  metadata {
    name      = "metrics-server-auth-reader"
    namespace = local.namespace
    labels    = local.labels
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = "extension-apiserver-authentication-reader"
  }

  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account_v1.this.metadata[0].name
    namespace = local.namespace
  }
}

resource "kubernetes_cluster_role_binding_v1" "this" {
  for_each = {
    "metrics-server:system:auth-delegator" = "system:auth-delegator"
    "system:metrics-server"                = kubernetes_cluster_role_v1.metrics_server.metadata[0].name
  }

  metadata {
    name   = each.key
    labels = local.labels
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = each.value
  }

  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account_v1.this.metadata[0].name
    namespace = local.namespace
  }
}

resource "kubernetes_service_v1" "this" {
  metadata {
    name      = local.name
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    selector = local.selector

    port {
      name        = "https"
      port        = 443
      protocol    = "TCP"
      target_port = "https"
    }
  }
}

resource "kubernetes_deployment_v1" "this" {
  metadata {
    name      = local.name
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    replicas = tostring(var.replicas)

    selector {
      match_labels = local.selector
    }

    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "1"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.labels
      }

      spec {
        service_account_name = kubernetes_service_account_v1.this.metadata[0].name
        priority_class_name  = "system-cluster-critical"
        node_selector        = var.node_selector

        security_context {
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector
          }
        }

        container {
          name  = local.name
          image = var.image
          args = [
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
          ]

          port {
            name           = "https"
            container_port = 10250
            protocol       = "TCP"
          }

          readiness_probe {
            http_get {
              path   = "/readyz"
              port   = "https"
              scheme = "HTTPS"
            }
            initial_delay_seconds = 20
            period_seconds        = 10
            failure_threshold     = 3
          }

          liveness_probe {
            http_get {
              path   = "/livez"
              port   = "https"
              scheme = "HTTPS"
            }
            period_seconds    = 10
            failure_threshold = 3
          }

          resources {
            requests = {
              cpu    = "100m"
              memory = "200Mi"
            }
            limits = {
              memory = "400Mi"
            }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            run_as_user                = 1000
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "tmp-dir"
            mount_path = "/tmp"
          }
        }

        volume {
          name = "tmp-dir"
          empty_dir {}
        }
      }
    }
  }
}

resource "kubernetes_pod_disruption_budget_v1" "this" {
  count = var.replicas > 1 ? 1 : 0

  metadata {
    name      = local.name
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    min_available = "1"
    selector {
      match_labels = local.selector
    }
  }
}

resource "kubernetes_api_service_v1" "this" {
  metadata {
    name   = "v1beta1.metrics.k8s.io"
    labels = local.labels
  }

  spec {
    group                    = "metrics.k8s.io"
    group_priority_minimum   = 100
    version                  = "v1beta1"
    version_priority         = 100
    insecure_skip_tls_verify = true

    service {
      name      = kubernetes_service_v1.this.metadata[0].name
      namespace = local.namespace
      port      = 443
    }
  }

  depends_on = [kubernetes_deployment_v1.this]
}
