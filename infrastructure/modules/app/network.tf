# Network policies: nothing in or out of the namespace unless allowed below.
#
#   every pod        -> cluster DNS (kube-system, k8s-app=kube-dns), port 53
#   database clients -> the VPC range on the database port (the managed
#                       database's private address is in the VPC)
#   API              <- its HTTP port from any source: the load balancer
#                       reaches it through node ports, so the source address
#                       depends on the CNI's SNAT; every other port is closed
#   API              -> HTTPS to the token issuer (OIDC discovery and keys)
#   worker           <- its HTTP port (/metrics) from the metrics namespaces only
#   worker           -> HTTPS to public addresses, only with a receipts' bucket
#                       (Spaces has no fixed address; the API already has it)
#
# Kubelet probes come from the node itself, which the CNI always admits.

resource "kubernetes_network_policy_v1" "default_deny" {
  metadata {
    name      = "default-deny"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]
  }
}

resource "kubernetes_network_policy_v1" "dns" {
  metadata {
    name      = "allow-dns"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  spec {
    pod_selector {}
    policy_types = ["Egress"]

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "kube-system"
          }
        }
        pod_selector {
          match_labels = {
            "k8s-app" = "kube-dns"
          }
        }
      }

      dynamic "ports" {
        for_each = ["UDP", "TCP"]
        content {
          protocol = ports.value
          port     = "53"
        }
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "database" {
  metadata {
    name      = "allow-database"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  spec {
    pod_selector {
      match_labels = {
        "ledger.io/database-client" = "true"
      }
    }
    policy_types = ["Egress"]

    egress {
      to {
        ip_block {
          cidr = var.database_network_cidr
        }
      }
      ports {
        protocol = "TCP"
        port     = tostring(var.database.port)
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "api" {
  metadata {
    name      = "${local.name}-api"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["api"]
  }

  spec {
    pod_selector {
      match_labels = local.selector_labels["api"]
    }
    policy_types = ["Ingress", "Egress"]

    ingress {
      ports {
        protocol = "TCP"
        port     = "http"
      }
    }

    egress {
      to {
        ip_block {
          cidr = "0.0.0.0/0"
          # Nothing private: only the issuer on the internet.
          except = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
        }
      }
      ports {
        protocol = "TCP"
        port     = "443"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "worker" {
  count = length(var.metrics_namespaces) > 0 ? 1 : 0

  metadata {
    name      = "${local.name}-worker"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["worker"]
  }

  spec {
    pod_selector {
      match_labels = local.selector_labels["worker"]
    }
    policy_types = ["Ingress"]

    ingress {
      from {
        namespace_selector {
          match_expressions {
            key      = "kubernetes.io/metadata.name"
            operator = "In"
            values   = var.metrics_namespaces
          }
        }
      }
      ports {
        protocol = "TCP"
        port     = "http"
      }
    }
  }
}

# Spaces answers on public addresses that are not fixed: with a receipts'
# bucket, the worker may reach any public address on 443, as the API does.
resource "kubernetes_network_policy_v1" "worker_receipts" {
  count = var.receipt_store == null ? 0 : 1

  metadata {
    name      = "${local.name}-worker-receipts"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["worker"]
  }

  spec {
    pod_selector {
      match_labels = local.selector_labels["worker"]
    }
    policy_types = ["Egress"]

    egress {
      to {
        ip_block {
          cidr   = "0.0.0.0/0"
          except = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
        }
      }
      ports {
        protocol = "TCP"
        port     = "443"
      }
    }
  }
}
