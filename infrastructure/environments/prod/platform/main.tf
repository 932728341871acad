locals {
  environment = "prod"
}

module "platform" {
  source = "../../../modules/platform"

  environment               = local.environment
  region                    = var.region
  vpc_ip_range              = var.vpc_ip_range
  kubernetes_version_prefix = var.kubernetes_version_prefix
  cluster_ha                = var.cluster_ha
  cluster_maintenance       = var.cluster_maintenance
  node_pool                 = var.node_pool
  database                  = var.database
  database_maintenance      = var.database_maintenance
  protect_database          = var.protect_database
}
