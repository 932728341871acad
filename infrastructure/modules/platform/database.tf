# prevent_destroy only accepts a literal, so a module cannot take it from a
# variable. The database cluster and the database inside it therefore exist in
# two variants, and var.protect_database selects one of them when the
# environment is created:
#
#   protected   - lifecycle.prevent_destroy = true: any plan that would destroy
#                 or replace it fails (production).
#   unprotected - can be torn down with the environment (dev, staging).
#
# Both variants take the same arguments; keep them identical. The flag is
# meant to be set once: flipping it on a live environment changes the resource
# address, so move the state first (terraform state mv ...unprotected[0]
# ...protected[0]) or the plan will try to replace the database.

locals {
  database_cluster = var.protect_database ? digitalocean_database_cluster.protected[0] : digitalocean_database_cluster.unprotected[0]
  database         = var.protect_database ? digitalocean_database_db.protected[0] : digitalocean_database_db.unprotected[0]

  # Managed PostgreSQL allows 25 connections per GiB of memory and keeps 3 for
  # its own maintenance: a 1 GB node serves 22 application connections.
  database_memory_gib       = tonumber(regex("-([0-9]+)gb$", var.database.size)[0])
  database_connection_limit = local.database_memory_gib * 25 - 3
}

resource "digitalocean_database_cluster" "protected" {
  count = var.protect_database ? 1 : 0

  name                 = local.name
  engine               = "pg"
  version              = var.database.version
  size                 = var.database.size
  node_count           = var.database.node_count
  region               = var.region
  private_network_uuid = digitalocean_vpc.this.id
  tags                 = local.tags

  maintenance_window {
    day  = var.database_maintenance.day
    hour = var.database_maintenance.hour
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_database_cluster" "unprotected" {
  count = var.protect_database ? 0 : 1

  name                 = local.name
  engine               = "pg"
  version              = var.database.version
  size                 = var.database.size
  node_count           = var.database.node_count
  region               = var.region
  private_network_uuid = digitalocean_vpc.this.id
  tags                 = local.tags

  maintenance_window {
    day  = var.database_maintenance.day
    hour = var.database_maintenance.hour
  }
}

resource "digitalocean_database_db" "protected" {
  count = var.protect_database ? 1 : 0

  cluster_id = local.database_cluster.id
  name       = var.database.name

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_database_db" "unprotected" {
  count = var.protect_database ? 0 : 1

  cluster_id = local.database_cluster.id
  name       = var.database.name
}

# Two logins, neither of them the cluster's admin. Users created through the
# API get the "normal" role and own nothing:
#   migrator - granted CREATE on the public schema once, by an operator (see
#              infrastructure/README.md, "Bootstrapping a new database"); it
#              owns the tables, runs `ledger migrate` and projection rebuilds,
#              and grants the runtime login its table privileges.
#   runtime  - what `ledger serve` connects as: reads and writes rows, never
#              changes the schema.
resource "digitalocean_database_user" "runtime" {
  cluster_id = local.database_cluster.id
  name       = var.database.user
}

resource "digitalocean_database_user" "migrator" {
  cluster_id = local.database_cluster.id
  name       = var.database.migrator_user
}

moved {
  from = digitalocean_database_user.app
  to   = digitalocean_database_user.runtime
}

# Only the Kubernetes cluster may open connections; there is no public access.
resource "digitalocean_database_firewall" "this" {
  cluster_id = local.database_cluster.id

  rule {
    type  = "k8s"
    value = digitalocean_kubernetes_cluster.this.id
  }
}
