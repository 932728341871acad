variable "key" {
  description = "State key of the root to read, e.g. dev/platform/terraform.tfstate."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9/_-]+/terraform\\.tfstate$", var.key))
    error_message = "The key must name a root's state, e.g. global/terraform.tfstate or dev/platform/terraform.tfstate."
  }
}
