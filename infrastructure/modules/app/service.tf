# The API's public entry: a DigitalOcean load balancer, configured by the
# cloud controller from these annotations.

locals {
  load_balancer_annotations = merge(
    {
      "service.beta.kubernetes.io/do-loadbalancer-name"                 = "${local.name}-${var.environment}-api"
      "service.beta.kubernetes.io/do-loadbalancer-protocol"             = "http"
      "service.beta.kubernetes.io/do-loadbalancer-healthcheck-protocol" = "http"
      "service.beta.kubernetes.io/do-loadbalancer-healthcheck-path"     = "/healthz"
      "service.beta.kubernetes.io/do-loadbalancer-size-unit"            = tostring(var.load_balancer_size_unit)
    },
    # By name, not id: a Let's Encrypt certificate gets a new id at every
    # renewal but keeps its name, and the cloud controller follows it.
    var.tls_certificate_name == null ? {} : {
      "service.beta.kubernetes.io/do-loadbalancer-certificate-name"       = var.tls_certificate_name
      "service.beta.kubernetes.io/do-loadbalancer-tls-ports"              = "443"
      "service.beta.kubernetes.io/do-loadbalancer-redirect-http-to-https" = "true"
    },
  )
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
      for_each = var.tls_certificate_name == null ? [] : [443]
      content {
        name        = "https"
        port        = port.value
        target_port = "http"
      }
    }
  }
}
