variable "environment" {
  description = "Name of the environment: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging or prod."
  }
}

variable "image_repository" {
  description = "Repository of the ledger image, e.g. registry.digitalocean.com/<registry>/ledger (the global root's image_repository output)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$", var.image_repository))
    error_message = "The repository must look like registry.digitalocean.com/<registry>/ledger, without a tag or digest."
  }
}

variable "image_digest" {
  description = "Digest of the ledger image to run, as printed by docker push: sha256:<64 hex digits>. The same image runs the API, the worker, the migrations and rebuilds."
  type        = string

  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.image_digest))
    error_message = "The image must be pinned by digest (sha256:<64 hex digits>), never by a mutable tag."
  }
}

variable "psql_image" {
  description = "Image providing psql (PostgreSQL alpine, user 70) for the migration job's grants, pinned by digest."
  type        = string
  default     = "postgres:17-alpine@sha256:742f40ea20b9ff2ff31db5458d127452988a2164df9e17441e191f3b72252193"

  validation {
    condition     = can(regex("^[a-z0-9./:-]+@sha256:[0-9a-f]{64}$", var.psql_image))
    error_message = "The psql image must be pinned by digest (name[:tag]@sha256:<64 hex digits>)."
  }
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

variable "database" {
  description = "The application's PostgreSQL database (the platform root's outputs): cluster ID, private host and port, database name, the runtime and migrator logins, and the connections its size admits."
  type = object({
    cluster_id       = string
    host             = string
    port             = number
    name             = string
    user             = string
    migrator_user    = string
    connection_limit = number
  })

  validation {
    condition     = alltrue([for identifier in [var.database.name, var.database.user, var.database.migrator_user] : can(regex("^[a-z_][a-z0-9_]{0,62}$", identifier))])
    error_message = "Database and user names must be lower-case PostgreSQL identifiers."
  }

  validation {
    condition     = var.database.user != var.database.migrator_user && !contains([var.database.user, var.database.migrator_user], "doadmin")
    error_message = "The runtime and migrator logins must differ from each other and from the cluster's admin (doadmin): no admin credentials in the application's namespace."
  }

  validation {
    condition     = var.database.port > 0 && var.database.port < 65536
    error_message = "The database port must be a TCP port number."
  }
}

variable "database_ca_certificate" {
  description = "PEM CA certificate of the database cluster (digitalocean_database_ca); clients verify the server against it (sslmode=verify-full)."
  type        = string

  validation {
    condition     = startswith(trimspace(var.database_ca_certificate), "-----BEGIN CERTIFICATE-----")
    error_message = "The database CA must be a PEM certificate."
  }
}

variable "database_network_cidr" {
  description = "IPv4 range that holds the database's private address (the VPC range); the ledger's pods may open connections to it on the database port, nowhere else in it."
  type        = string

  validation {
    condition     = can(cidrhost(var.database_network_cidr, 0)) && !endswith(var.database_network_cidr, "/0")
    error_message = "The database network must be a CIDR block narrower than 0.0.0.0/0, e.g. 10.110.0.0/20."
  }
}

variable "database_password" {
  description = "Password of the runtime login. Ephemeral: written only to the Kubernetes secret's write-only data, never to state or plan."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "migrator_password" {
  description = "Password of the migrator login. Ephemeral, like database_password."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "audit_signing_key" {
  description = "The Ed25519 key that signs the audit tree heads (AUDIT_SIGNING_KEY), as `ledger audit keygen` prints it. Ephemeral. Rotate by a new key of the same name; give auditors the new public key."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = startswith(var.audit_signing_key, "PRIVATE+KEY+")
    error_message = "The audit signing key must be the PRIVATE+KEY+... line of `ledger audit keygen`."
  }
}

variable "audit_key" {
  description = "Secret HMAC key that checks the audit checkpoints recorded before signed tree heads (AUDIT_KEY). Ephemeral. Keep it stable: checkpoints signed with a previous key no longer verify."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.audit_key) >= 32
    error_message = "The audit key must be at least 32 characters long."
  }
}

variable "position_key" {
  description = "32 random bytes in base64 (`openssl rand -base64 32`) that encrypt the Ledger-Position tokens the API answers (POSITION_KEY). Ephemeral. The same in every API pod; a new key makes the tokens already handed out answer 400, so rotate when few are in flight."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", var.position_key))
    error_message = "The position key must be 32 bytes in padded base64, as `openssl rand -base64 32` prints it."
  }
}

variable "account_number_key" {
  description = "32 random bytes in base64 (`openssl rand -base64 32`) that wrap the keys encrypting the members' bank account numbers (ACCOUNT_NUMBER_KEY). Ephemeral. The same in every pod; without it no stored account number can be read again, so it is kept in the team's secret store and never rotated by replacing it (docs/payments.md)."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", var.account_number_key))
    error_message = "The account number key must be 32 bytes in padded base64, as `openssl rand -base64 32` prints it."
  }
}

variable "pii_key" {
  description = "32 random bytes in base64 (`openssl rand -base64 32`) that wrap each member's personal data key (PII_KEY): descriptions, notes, reasons and e-mail addresses are sealed in the events under it. Ephemeral. The same in every pod; without it no sealed field can be read again, so it is kept in the team's secret store as long as the events (docs/privacy.md)."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", var.pii_key))
    error_message = "The personal data key must be 32 bytes in padded base64, as `openssl rand -base64 32` prints it."
  }
}

variable "receipt_store" {
  description = "Where the API and the worker keep receipts' files: a Spaces bucket (its name, region and endpoint, host only, as digitalocean_spaces_bucket exports them) for RECEIPT_STORE=s3, or null to keep them in PostgreSQL (RECEIPT_STORE=postgres). With a bucket, receipt_store_access_key_id and receipt_store_secret_access_key are required."
  type = object({
    bucket   = string
    region   = string
    endpoint = string
  })
  default = null

  validation {
    condition     = var.receipt_store == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.receipt_store.bucket))
    error_message = "The receipts' bucket name must be 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }

  validation {
    condition     = var.receipt_store == null || can(regex("^[a-z]{3}[0-9]$", var.receipt_store.region))
    error_message = "The receipts' bucket region must be a Spaces region slug such as fra1 or nyc3."
  }

  validation {
    condition     = var.receipt_store == null || can(regex("^[a-z0-9.-]+(:[0-9]+)?$", var.receipt_store.endpoint))
    error_message = "The receipts' bucket endpoint must be a host name such as fra1.digitaloceanspaces.com, without scheme or path."
  }
}

variable "receipt_store_access_key_id" {
  description = "Access key ID of a Spaces key limited to the receipts' bucket (S3_ACCESS_KEY_ID). Ephemeral. Required with receipt_store, unused without."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.receipt_store == null || can(regex("^[A-Za-z0-9]{16,128}$", var.receipt_store_access_key_id))
    error_message = "With a receipts' bucket, the access key ID is required: letters and digits, as DigitalOcean prints it."
  }
}

variable "receipt_store_secret_access_key" {
  description = "Secret of the Spaces key limited to the receipts' bucket (S3_SECRET_ACCESS_KEY). Ephemeral. Required with receipt_store, unused without."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.receipt_store == null || try(length(var.receipt_store_secret_access_key) >= 32 && trimspace(var.receipt_store_secret_access_key) == var.receipt_store_secret_access_key, false)
    error_message = "With a receipts' bucket, the secret access key is required: at least 32 characters, without surrounding spaces."
  }
}

variable "secrets_revision" {
  description = "Revision of the secrets' write-only data. Terraform writes the passwords and the audit key to Kubernetes when the secrets are created and whenever this number grows; the pods restart with it."
  type        = number

  validation {
    condition     = var.secrets_revision >= 1 && floor(var.secrets_revision) == var.secrets_revision
    error_message = "The secrets revision is a whole number from 1; raise it by one after rotating a secret."
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

variable "idempotency_ttl" {
  description = "How long the API remembers Idempotency-Keys (IDEMPOTENCY_TTL), as a Go duration."
  type        = string
  default     = "24h"

  validation {
    condition     = can(regex("^([0-9]+(h|m|s))+$", var.idempotency_ttl))
    error_message = "The idempotency TTL must be a Go duration such as 24h or 90m."
  }
}

variable "auth" {
  description = "Identity settings of the environment: the token issuer URL (AUTH_ISSUER), the audience tokens must name (AUTH_AUDIENCE) and, optionally, the issuer's key set (AUTH_JWKS_URL; null uses the issuer's OIDC discovery). The development issuer is always off."
  type = object({
    issuer   = string
    audience = string
    jwks_url = optional(string)
  })

  validation {
    condition     = can(regex("^https://[^/?#\\s]+(/[^?#\\s]*)?$", var.auth.issuer))
    error_message = "The issuer must be an https:// URL without query or fragment."
  }

  validation {
    condition     = length(trimspace(var.auth.audience)) > 0 && trimspace(var.auth.audience) == var.auth.audience
    error_message = "The audience must be a non-empty string without surrounding spaces."
  }

  validation {
    condition     = var.auth.jwks_url == null || can(regex("^https://[^/?#\\s]+/[^\\s]*$", var.auth.jwks_url))
    error_message = "The JWKS URL, when set, must be an https:// URL."
  }
}

variable "api" {
  description = "API: autoscaling bounds, CPU target (percent of the request), pool size per pod (DB_MAX_CONNS), seconds a terminating pod keeps serving before SIGTERM, and resources (requests, memory limit; no CPU limit)."
  type = object({
    min_replicas           = number
    max_replicas           = number
    target_cpu_utilization = optional(number, 70)
    db_max_conns           = number
    pre_stop_delay_seconds = optional(number, 10)
    resources = object({
      requests     = object({ cpu = string, memory = string })
      memory_limit = string
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
    condition     = var.api.db_max_conns >= 2 && var.api.db_max_conns <= 100 && floor(var.api.db_max_conns) == var.api.db_max_conns
    error_message = "The API's pool size must be a whole number between 2 and 100."
  }

  validation {
    condition     = var.api.pre_stop_delay_seconds >= 0 && var.api.pre_stop_delay_seconds <= 15
    error_message = "The pre-stop delay must be 0 to 15 seconds: the pod's grace period (45 s) also covers the 25 s shutdown."
  }

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?m?$", var.api.resources.requests.cpu)) && alltrue([for quantity in [var.api.resources.requests.memory, var.api.resources.memory_limit] : can(regex("^[0-9]+(Mi|Gi)$", quantity))])
    error_message = "CPU must be a Kubernetes quantity such as 250m or 1, memory such as 256Mi or 1Gi."
  }
}

variable "worker" {
  description = "Worker: fixed replica count (replicas of one consumer group take turns, so more add failover, not throughput), pool size per pod (DB_MAX_CONNS; each worker also holds a LISTEN connection and a delivery-horizon connection), and resources (requests, memory limit; no CPU limit)."
  type = object({
    replicas     = number
    db_max_conns = number
    resources = object({
      requests     = object({ cpu = string, memory = string })
      memory_limit = string
    })
  })

  validation {
    condition     = var.worker.replicas >= 1 && var.worker.replicas <= 3
    error_message = "Run 1 worker, or 2 to 3 for failover: more add no throughput."
  }

  validation {
    condition     = var.worker.db_max_conns >= 4 && var.worker.db_max_conns <= 100 && floor(var.worker.db_max_conns) == var.worker.db_max_conns
    error_message = "The worker's pool size must be a whole number between 4 (one per consumer group) and 100."
  }

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?m?$", var.worker.resources.requests.cpu)) && alltrue([for quantity in [var.worker.resources.requests.memory, var.worker.resources.memory_limit] : can(regex("^[0-9]+(Mi|Gi)$", quantity))])
    error_message = "CPU must be a Kubernetes quantity such as 250m or 1, memory such as 256Mi or 1Gi."
  }
}

variable "rebuild" {
  description = "The projection rebuild job: resources (requests, memory limit; no CPU limit) and how long it may run."
  type = object({
    active_deadline_seconds = optional(number, 14400)
    resources = optional(object({
      requests     = object({ cpu = string, memory = string })
      memory_limit = string
      }), {
      requests     = { cpu = "200m", memory = "256Mi" }
      memory_limit = "512Mi"
    })
  })
  default = {}

  validation {
    condition     = var.rebuild.active_deadline_seconds >= 600
    error_message = "Give a rebuild at least 600 seconds."
  }

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?m?$", var.rebuild.resources.requests.cpu)) && alltrue([for quantity in [var.rebuild.resources.requests.memory, var.rebuild.resources.memory_limit] : can(regex("^[0-9]+(Mi|Gi)$", quantity))])
    error_message = "CPU must be a Kubernetes quantity such as 250m or 1, memory such as 256Mi or 1Gi."
  }
}

variable "node_pool" {
  description = "The workload node pool (the platform root's workload_node_pool output): the labels its nodes carry, its max_nodes, and what one node offers to pods."
  type = object({
    node_selector   = map(string)
    max_nodes       = number
    node_cpu_millis = number
    node_memory_mib = number
  })

  validation {
    condition     = length(var.node_pool.node_selector) > 0 && var.node_pool.max_nodes >= 2
    error_message = "The ledger runs on a labelled pool of at least two nodes at most (one is headroom)."
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

variable "tls_certificate_name" {
  description = "Name of a DigitalOcean certificate for HTTPS on the load balancer (the name survives Let's Encrypt renewals; the ID does not); null serves plain HTTP only."
  type        = string
  default     = null

  validation {
    condition     = var.tls_certificate_name == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", var.tls_certificate_name))
    error_message = "The certificate name must be a DigitalOcean certificate name (letters, digits, dots, dashes, underscores), not an ID or a URL."
  }
}

variable "metrics_namespaces" {
  description = "Namespaces whose pods may scrape the worker's /metrics; the worker accepts no other traffic. Empty: none."
  type        = list(string)
  default     = ["monitoring"]

  validation {
    condition     = alltrue([for namespace in var.metrics_namespaces : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", namespace))])
    error_message = "Namespaces must be DNS labels."
  }
}
