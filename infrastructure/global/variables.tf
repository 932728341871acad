variable "registry_name" {
  description = "Name of the container registry; it becomes the path in registry.digitalocean.com/<name>/ledger and must be unique across DigitalOcean."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.registry_name))
    error_message = "The registry name must be 1 to 63 lower-case letters, digits or dashes, not starting or ending with a dash."
  }
}

variable "registry_tier" {
  description = "Subscription tier of the container registry: starter (one repository), basic or professional."
  type        = string

  validation {
    condition     = contains(["starter", "basic", "professional"], var.registry_tier)
    error_message = "The registry tier must be starter, basic or professional."
  }
}

variable "region" {
  description = "DigitalOcean region that stores the registry's images; the same as the clusters' region keeps pulls fast."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]$", var.region))
    error_message = "The region must be a DigitalOcean region slug such as fra1, ams3 or nyc1."
  }
}
