locals {
  environment = "dev"

  global   = module.global_state.outputs
  platform = module.platform_state.outputs
}

module "global_state" {
  source = "../../../modules/remote-state"
  key    = "global/terraform.tfstate"
}

module "platform_state" {
  source = "../../../modules/remote-state"
  key    = "${local.environment}/platform/terraform.tfstate"
}

data "digitalocean_kubernetes_cluster" "this" {
  name = local.platform.cluster_name
}

data "digitalocean_database_ca" "this" {
  cluster_id = local.platform.database_cluster_id
}

# The resource metrics API for the API's autoscaler, on the default pool.
module "metrics_server" {
  source = "../../../modules/metrics-server"

  replicas      = 1
  node_selector = { "ledger.io/pool" = "system" }
}

# The environment's settings are the module's arguments: modules/app declares
# their types and validates them.
module "app" {
  source = "../../../modules/app"

  environment      = local.environment
  image_repository = local.global.image_repository
  image_digest     = var.image_digest

  database = {
    cluster_id       = local.platform.database_cluster_id
    host             = local.platform.database_host
    port             = local.platform.database_port
    name             = local.platform.database_name
    user             = local.platform.database_user
    migrator_user    = local.platform.database_migrator_user
    connection_limit = local.platform.database_connection_limit
  }
  database_ca_certificate = data.digitalocean_database_ca.this.certificate
  database_network_cidr   = local.platform.vpc_ip_range
  node_pool               = local.platform.workload_node_pool

  database_password  = var.database_password
  migrator_password  = var.migrator_password
  audit_key          = var.audit_key
  audit_signing_key  = var.audit_signing_key
  position_key       = var.position_key
  account_number_key = var.account_number_key
  pii_key            = var.pii_key
  # Raise by one after rotating a database password or the audit key.
  secrets_revision = 1

  auth = {
    issuer   = "https://auth.dev.ledger.example.com/"
    audience = "ledger-api"
  }

  log_level = "debug"

  # Connection budget of the 1 GB database (22): API (2 + 1 surge) x 2 = 6,
  # worker (1 + 1 surge) x (4 + 1 LISTEN) = 10, migration 2, one rebuild 3,
  # one operator session 1: 22.
  # Requests at full scale: 650m CPU, 960Mi, on one s-2vcpu-4gb node of the
  # two the pool may grow to.
  api = {
    min_replicas = 1
    max_replicas = 1 # dev's 22 connections hold one API pod beside the worker's pool, horizon and LISTEN connections
    db_max_conns = 2
    resources = {
      requests     = { cpu = "100m", memory = "128Mi" }
      memory_limit = "256Mi"
    }
  }

  worker = {
    replicas     = 1
    db_max_conns = 4
    resources = {
      requests     = { cpu = "50m", memory = "128Mi" }
      memory_limit = "256Mi"
    }
  }

  load_balancer_size_unit = 1
}
