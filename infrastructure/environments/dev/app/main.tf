locals {
  environment = "dev"

  # Same bucket and settings as backend.tf (a backend block cannot share them).
  state_backend = {
    bucket    = "ledger-terraform-state"
    region    = "us-east-1"
    endpoints = { s3 = "https://fra1.digitaloceanspaces.com" }

    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }

  global   = data.terraform_remote_state.global.outputs
  platform = data.terraform_remote_state.platform.outputs
}

data "terraform_remote_state" "global" {
  backend = "s3"
  config  = merge(local.state_backend, { key = "global/terraform.tfstate" })
}

data "terraform_remote_state" "platform" {
  backend = "s3"
  config  = merge(local.state_backend, { key = "${local.environment}/platform/terraform.tfstate" })
}

data "digitalocean_kubernetes_cluster" "this" {
  name = local.platform.cluster_name
}

# Read-only registry credentials for the pods' image pull secret.
resource "digitalocean_container_registry_docker_credentials" "pull" {
  registry_name = local.global.registry_name
  write         = false
}

module "app" {
  source = "../../../modules/app"

  environment            = local.environment
  image                  = "${local.global.image_repository}@${var.image_digest}"
  registry_docker_config = digitalocean_container_registry_docker_credentials.pull.docker_credentials

  database = {
    cluster_id       = local.platform.database_cluster_id
    host             = local.platform.database_host
    port             = local.platform.database_port
    name             = local.platform.database_name
    user             = local.platform.database_user
    connection_limit = local.platform.database_connection_limit
  }
  database_password = local.platform.database_password
  database_admin = {
    user     = local.platform.database_admin_user
    password = local.platform.database_admin_password
  }

  audit_key               = var.audit_key
  log_level               = var.log_level
  db_max_conns            = var.db_max_conns
  api                     = var.api
  worker                  = var.worker
  load_balancer_size_unit = var.load_balancer_size_unit
  tls_certificate_id      = var.tls_certificate_id
}
