variable "environment" {
  description = "Name of the environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging or prod."
  }
}

variable "image" {
  description = "Ledger image pinned by digest, e.g. registry.digitalocean.com/ledger/ledger@sha256:<64 hex>. The same image runs the API, the worker and the migrations."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "The image must be pinned by digest (repository@sha256:<64 hex digits>), never by a mutable tag."
  }
}

variable "registry_docker_config" {
  description = "Docker config JSON with read access to the container registry, used as the pods' image pull secret."
  type        = string
  sensitive   = true
}

variable "run_as_user" {
  description = "Numeric user and group the ledger image runs as (the distroless nonroot user)."
  type        = number
  default     = 65532

  validation {
    condition     = var.run_as_user > 0
    error_message = "The ledger never runs as root: the user ID must be positive."
  }
}

variable "psql_image" {
  description = "Image providing psql for the job that grants the application user its database privileges."
  type        = string
  default     = "postgres:17-alpine"
}

variable "database" {
  description = "Connection details of the application's PostgreSQL database (the platform root's outputs) and the number of connections its size admits."
  type = object({
    cluster_id       = string
    host             = string
    port             = number
    name             = string
    user             = string
    connection_limit = number
  })

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database.name)) && can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database.user))
    error_message = "Database and user names must be lower-case PostgreSQL identifiers."
  }

  validation {
    condition     = var.database.port > 0 && var.database.port < 65536
    error_message = "The database port must be a TCP port number."
  }
}

variable "database_password" {
  description = "Password of the application's database user."
  type        = string
  sensitive   = true
}

variable "database_admin" {
  description = "Administrative login of the database cluster, used only by the job that grants the application user its privileges."
  type = object({
    user     = string
    password = string
  })
  sensitive = true
}

variable "audit_key" {
  description = "Secret HMAC key for audit checkpoints (AUDIT_KEY). Keep it stable: checkpoints signed with a previous key no longer verify."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.audit_key) >= 32
    error_message = "The audit key must be at least 32 characters long."
  }
}

variable "log_level" {
  description = "Log level of the ledger processes (LOG_LEVEL)."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log level must be one of debug, info, warn or error."
  }
}

variable "db_max_conns" {
  description = "Size of each pod's PostgreSQL connection pool (DB_MAX_CONNS). Together with the replica counts it must fit the database's connection limit."
  type        = number
  default     = 10

  validation {
    condition     = var.db_max_conns >= 2 && var.db_max_conns <= 100 && floor(var.db_max_conns) == var.db_max_conns
    error_message = "The pool size must be a whole number between 2 and 100."
  }
}

variable "api" {
  description = "API replicas (the autoscaler stays between min_replicas and max_replicas), its CPU utilization target in percent, and the container's resource requests and limits."
  type = object({
    min_replicas           = number
    max_replicas           = number
    target_cpu_utilization = optional(number, 70)
    resources = object({
      requests = object({ cpu = string, memory = string })
      limits   = object({ cpu = string, memory = string })
    })
  })

  validation {
    condition     = var.api.min_replicas >= 1 && var.api.min_replicas <= var.api.max_replicas
    error_message = "The API needs min_replicas >= 1 and min_replicas <= max_replicas."
  }

  validation {
    condition     = var.api.target_cpu_utilization >= 10 && var.api.target_cpu_utilization <= 95
    error_message = "The CPU utilization target must be between 10 and 95 percent."
  }

  validation {
    condition = alltrue([
      for quantity in [var.api.resources.requests.cpu, var.api.resources.limits.cpu] : can(regex("^[0-9]+(\\.[0-9]+)?m?$", quantity))
      ]) && alltrue([
      for quantity in [var.api.resources.requests.memory, var.api.resources.limits.memory] : can(regex("^[0-9]+(Mi|Gi)$", quantity))
    ])
    error_message = "CPU must be a Kubernetes quantity such as 250m or 1, memory such as 256Mi or 1Gi."
  }
}

variable "worker" {
  description = "Fixed worker replica count (replicas of one consumer group take turns, so more adds failover, not throughput) and the container's resource requests and limits."
  type = object({
    replicas = number
    resources = object({
      requests = object({ cpu = string, memory = string })
      limits   = object({ cpu = string, memory = string })
    })
  })

  validation {
    condition     = var.worker.replicas >= 1 && var.worker.replicas <= 3
    error_message = "Run 1 worker, or 2 to 3 for failover: more add no throughput."
  }

  validation {
    condition = alltrue([
      for quantity in [var.worker.resources.requests.cpu, var.worker.resources.limits.cpu] : can(regex("^[0-9]+(\\.[0-9]+)?m?$", quantity))
      ]) && alltrue([
      for quantity in [var.worker.resources.requests.memory, var.worker.resources.limits.memory] : can(regex("^[0-9]+(Mi|Gi)$", quantity))
    ])
    error_message = "CPU must be a Kubernetes quantity such as 250m or 1, memory such as 256Mi or 1Gi."
  }
}

variable "load_balancer_size_unit" {
  description = "Size units of the DigitalOcean load balancer in front of the API (each unit adds connection capacity)."
  type        = number
  default     = 1

  validation {
    condition     = var.load_balancer_size_unit >= 1 && var.load_balancer_size_unit <= 100
    error_message = "The load balancer takes 1 to 100 size units."
  }
}

variable "tls_certificate_id" {
  description = "ID of a DigitalOcean certificate for HTTPS on the load balancer; null serves plain HTTP only."
  type        = string
  default     = null
}
