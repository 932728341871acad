variable "environment" {
  description = "Name of the environment: dev, staging or prod. It prefixes every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging or prod."
  }
}

variable "region" {
  description = "DigitalOcean region slug for the cluster, the database and the VPC, e.g. fra1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]$", var.region))
    error_message = "The region must be a DigitalOcean region slug such as fra1, ams3 or nyc1."
  }
}

variable "vpc_ip_range" {
  description = "Private IPv4 range of the environment's VPC in CIDR notation. It must not overlap another VPC of the account."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_ip_range, 0)) && tonumber(split("/", var.vpc_ip_range)[1]) <= 24
    error_message = "The VPC range must be an IPv4 CIDR block of at least /24, e.g. 10.110.0.0/20."
  }
}

variable "kubernetes_version_prefix" {
  description = "Kubernetes minor release to run, as a prefix of the DigitalOcean version slug (e.g. \"1.33.\"). The newest patch of that release is used."
  type        = string

  validation {
    condition     = can(regex("^1\\.[0-9]+\\.$", var.kubernetes_version_prefix))
    error_message = "The version prefix must look like \"1.33.\" (major.minor and a trailing dot)."
  }
}

variable "cluster_ha" {
  description = "Run the Kubernetes control plane in high-availability mode. Cannot be turned off once enabled."
  type        = bool
}

variable "cluster_maintenance" {
  description = "Weekly window (UTC) in which DigitalOcean applies automatic Kubernetes patch upgrades."
  type = object({
    day        = string
    start_time = string
  })

  validation {
    condition     = contains(["any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], var.cluster_maintenance.day)
    error_message = "The maintenance day must be a lower-case week day or \"any\"."
  }

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.cluster_maintenance.start_time))
    error_message = "The maintenance start time must be HH:MM in 24-hour UTC, e.g. 03:00."
  }
}

variable "control_plane_allowed_addresses" {
  description = "Addresses (IPv4 or CIDR) allowed to reach the cluster's Kubernetes API: the operators' VPN egress and CI's runners. Terraform's app root needs it too."
  type        = list(string)

  validation {
    condition     = length(var.control_plane_allowed_addresses) > 0
    error_message = "List at least one address: an empty list would leave the control plane firewall with nobody to admit."
  }

  validation {
    condition     = alltrue([for address in var.control_plane_allowed_addresses : can(cidrhost(strcontains(address, "/") ? address : "${address}/32", 0))])
    error_message = "Each address must be an IPv4 address or CIDR block, e.g. 198.51.100.7 or 198.51.100.0/24."
  }

  validation {
    condition     = !anytrue([for address in var.control_plane_allowed_addresses : endswith(address, "/0")])
    error_message = "0.0.0.0/0 opens the Kubernetes API to everyone; list the addresses that need it."
  }
}

variable "system_node_pool" {
  description = "The cluster's default node pool, for the cluster's own services (CoreDNS, metrics-server). Its size is fixed for the life of the cluster: changing it replaces the cluster. Only node_count may change."
  type = object({
    size       = string
    node_count = number
  })

  validation {
    condition     = can(regex("^[a-z0-9]+(-[a-z0-9]+)+$", var.system_node_pool.size))
    error_message = "The node size must be a Droplet size slug such as s-2vcpu-2gb."
  }

  validation {
    condition     = var.system_node_pool.node_count >= 1 && var.system_node_pool.node_count <= 3
    error_message = "The default pool runs 1 to 3 nodes: it hosts only the cluster's own services."
  }
}

variable "workload_node_pool" {
  description = "Droplet size and autoscaling bounds of the pool that runs the ledger. A new size creates a new pool and drains the old one."
  type = object({
    size      = string
    min_nodes = number
    max_nodes = number
  })

  validation {
    condition     = can(regex("^[a-z0-9]+(-[a-z0-9]+)+$", var.workload_node_pool.size))
    error_message = "The node size must be a Droplet size slug such as s-2vcpu-4gb."
  }

  validation {
    condition     = var.workload_node_pool.min_nodes >= 1 && var.workload_node_pool.min_nodes <= var.workload_node_pool.max_nodes
    error_message = "The workload pool needs min_nodes >= 1 and min_nodes <= max_nodes."
  }

  validation {
    condition     = var.workload_node_pool.max_nodes >= 2 && var.workload_node_pool.max_nodes <= 20
    error_message = "max_nodes must be 2 to 20: one node of headroom for drains and upgrades, and above 20 is almost certainly a typo."
  }
}

variable "database" {
  description = "Managed PostgreSQL cluster: engine major version, node size, node count (2 or 3 add standby nodes for failover), the application's database, its runtime login (user) and the login that owns the schema (migrator_user)."
  type = object({
    version       = string
    size          = string
    node_count    = number
    name          = optional(string, "ledger")
    user          = optional(string, "ledger")
    migrator_user = optional(string, "ledger_migrator")
  })

  validation {
    condition     = contains(["15", "16", "17"], var.database.version)
    error_message = "The PostgreSQL version must be 15, 16 or 17."
  }

  validation {
    condition     = can(regex("^[a-z0-9_]+(-[a-z0-9_]+)*-[0-9]+vcpu-[0-9]+gb$", var.database.size))
    error_message = "The database size must be a slug such as db-s-1vcpu-1gb or db-s-2vcpu-4gb."
  }

  validation {
    condition     = var.database.node_count >= 1 && var.database.node_count <= 3
    error_message = "A managed PostgreSQL cluster has 1 to 3 nodes."
  }

  validation {
    condition     = alltrue([for identifier in [var.database.name, var.database.user, var.database.migrator_user] : can(regex("^[a-z_][a-z0-9_]{0,62}$", identifier))])
    error_message = "Database and user names must be lower-case PostgreSQL identifiers."
  }

  validation {
    condition     = var.database.user != var.database.migrator_user && !contains([var.database.user, var.database.migrator_user], "doadmin")
    error_message = "The runtime and migrator logins must differ from each other and from the cluster's admin (doadmin)."
  }
}

variable "database_maintenance" {
  description = "Weekly window (UTC) in which DigitalOcean maintains the database cluster."
  type = object({
    day  = string
    hour = string
  })

  validation {
    condition     = contains(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], var.database_maintenance.day)
    error_message = "The database maintenance day must be a lower-case week day."
  }

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):00$", var.database_maintenance.hour))
    error_message = "The database maintenance hour must be a full hour in 24-hour UTC, e.g. 04:00."
  }
}

variable "protect_database" {
  description = "Refuse any plan that destroys or replaces the database cluster or the database. Set it when the environment is created; see database.tf before changing it later."
  type        = bool
}

variable "receipts_bucket" {
  description = "A private, versioned Spaces bucket for receipts' files, ledger-<env>-receipts in the environment's region, or null for none (the app then keeps receipts in PostgreSQL). A deleted or replaced receipt stays as a noncurrent version for noncurrent_version_expiration_days; uploads left incomplete are aborted after abort_incomplete_upload_days."
  type = object({
    noncurrent_version_expiration_days = optional(number, 90)
    abort_incomplete_upload_days       = optional(number, 1)
  })
  default = null

  validation {
    condition     = var.receipts_bucket == null || try(var.receipts_bucket.noncurrent_version_expiration_days >= 1 && floor(var.receipts_bucket.noncurrent_version_expiration_days) == var.receipts_bucket.noncurrent_version_expiration_days, false)
    error_message = "Noncurrent versions of receipts must be kept a whole number of days, at least 1."
  }

  validation {
    condition     = var.receipts_bucket == null || try(var.receipts_bucket.abort_incomplete_upload_days >= 1 && floor(var.receipts_bucket.abort_incomplete_upload_days) == var.receipts_bucket.abort_incomplete_upload_days, false)
    error_message = "Incomplete uploads must be aborted after a whole number of days, at least 1."
  }
}

variable "extra_tags" {
  description = "Tags added to the cluster, its nodes and the database besides the ledger and environment tags."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for tag in var.extra_tags : can(regex("^[A-Za-z0-9:_-]{1,255}$", tag))])
    error_message = "Tags may contain only letters, digits, colons, dashes and underscores."
  }
}
