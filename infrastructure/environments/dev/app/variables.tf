# What changes at every apply and is never committed. The roots pass these
# straight to modules/app, which declares their types and validates them.
# Set them with TF_VAR_... (see infrastructure/README.md).

variable "image_digest" {
  description = "Digest of the ledger image to run, as printed by docker push: sha256:<64 hex digits>."
  type        = string
}

variable "database_password" {
  description = "Password of the runtime login (doctl databases user get). Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "migrator_password" {
  description = "Password of the migrator login (doctl databases user get). Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "audit_signing_key" {
  description = "The Ed25519 key that signs the audit tree heads (AUDIT_SIGNING_KEY), from `ledger audit keygen`, kept in the team's secret store. Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "position_key" {
  description = "The key of the Ledger-Position tokens (POSITION_KEY), `openssl rand -base64 32`, from the team's secret store. Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "account_number_key" {
  description = "The key that wraps the bank account numbers' keys (ACCOUNT_NUMBER_KEY), `openssl rand -base64 32`, from the team's secret store. Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "pii_key" {
  description = "The key that wraps the members' personal data keys (PII_KEY), `openssl rand -base64 32`, from the team's secret store. Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "audit_key" {
  description = "Secret HMAC key for audit checkpoints (AUDIT_KEY), at least 32 characters, from the team's secret store. Never stored: written to Kubernetes only."
  type        = string
  sensitive   = true
  ephemeral   = true
}
