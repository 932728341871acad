# Sizes and counts are set in terraform.tfvars; the app module validates them.
# image_digest and audit_key are never written to a file: pass them with
# TF_VAR_image_digest and TF_VAR_audit_key (see infrastructure/README.md).

variable "image_digest" {
  description = "Digest of the ledger image to run, as printed by docker push: sha256:<64 hex digits>."
  type        = string

  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.image_digest))
    error_message = "The image digest must look like sha256:<64 hex digits>."
  }
}

variable "audit_key" {
  description = "Secret HMAC key for audit checkpoints (AUDIT_KEY), at least 32 characters. Keep it stable across applies."
  type        = string
  sensitive   = true
}

variable "log_level" {
  description = "Log level of the ledger processes: debug, info, warn or error."
  type        = string
}

variable "db_max_conns" {
  description = "PostgreSQL connection pool size of each pod (DB_MAX_CONNS); replicas x pool size must fit the database."
  type        = number
}

variable "api" {
  description = "API autoscaling bounds, CPU target and container resources."
  type = object({
    min_replicas           = number
    max_replicas           = number
    target_cpu_utilization = optional(number, 70)
    resources = object({
      requests = object({ cpu = string, memory = string })
      limits   = object({ cpu = string, memory = string })
    })
  })
}

variable "worker" {
  description = "Fixed worker replica count and container resources."
  type = object({
    replicas = number
    resources = object({
      requests = object({ cpu = string, memory = string })
      limits   = object({ cpu = string, memory = string })
    })
  })
}

variable "load_balancer_size_unit" {
  description = "Size units of the API's load balancer."
  type        = number
}

variable "tls_certificate_id" {
  description = "ID of a DigitalOcean certificate for HTTPS on the load balancer, or null for plain HTTP."
  type        = string
  default     = null
}
