variable "image" {
  description = "metrics-server image, pinned by digest."
  type        = string
  default     = "registry.k8s.io/metrics-server/metrics-server:v0.8.0@sha256:89258156d0e9af60403eafd44da9676fd66f600c7934d468ccc17e42b199aee2"

  validation {
    condition     = can(regex("^[a-z0-9./:-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "The metrics-server image must be pinned by digest (name[:tag]@sha256:<64 hex digits>)."
  }
}

variable "replicas" {
  description = "metrics-server replicas: 2 keep the autoscalers fed through a node drain."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 3
    error_message = "Run 1 to 3 replicas."
  }
}

variable "node_selector" {
  description = "Labels of the nodes metrics-server runs on (the cluster's default pool)."
  type        = map(string)
  default     = {}
}
