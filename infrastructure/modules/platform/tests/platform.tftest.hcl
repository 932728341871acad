# Invariants of the platform module, planned with a mocked DigitalOcean
# provider. Run with `go tool task infra:check` (see README.md).

mock_provider "digitalocean" {
  mock_data "digitalocean_kubernetes_versions" {
    defaults = {
      latest_version = "1.34.1-do.0"
    }
  }
}

variables {
  environment               = "dev"
  region                    = "fra1"
  vpc_ip_range              = "10.110.0.0/20"
  kubernetes_version_prefix = "1.34."
  cluster_ha                = false

  cluster_maintenance = {
    day        = "any"
    start_time = "03:00"
  }

  control_plane_allowed_addresses = ["192.0.2.10/32"]

  system_node_pool = {
    size       = "s-2vcpu-2gb"
    node_count = 1
  }

  workload_node_pool = {
    size      = "s-2vcpu-4gb"
    min_nodes = 1
    max_nodes = 2
  }

  database = {
    version    = "15"
    size       = "db-s-1vcpu-1gb"
    node_count = 1
  }

  database_maintenance = {
    day  = "sunday"
    hour = "02:00"
  }

  protect_database = false
}

run "workloads_on_their_own_autoscaled_pool" {
  command = plan

  assert {
    condition     = digitalocean_kubernetes_cluster.this.node_pool[0].node_count == 1 && digitalocean_kubernetes_cluster.this.node_pool[0].auto_scale != true
    error_message = "The default pool must stay small and fixed."
  }

  assert {
    condition     = digitalocean_kubernetes_node_pool.workloads.auto_scale && digitalocean_kubernetes_node_pool.workloads.labels["ledger.io/pool"] == "workloads"
    error_message = "The ledger's pool must autoscale and carry the label its pods select."
  }

  assert {
    condition     = output.workload_node_pool.node_selector == { "ledger.io/pool" = "workloads" } && output.workload_node_pool.node_cpu_millis == 1750
    error_message = "The app root needs the pool's selector and capacity."
  }
}

run "control_plane_firewalled_and_one_way_to_pull" {
  command = plan

  assert {
    condition     = digitalocean_kubernetes_cluster.this.control_plane_firewall[0].enabled && digitalocean_kubernetes_cluster.this.control_plane_firewall[0].allowed_addresses == tolist(["192.0.2.10/32"])
    error_message = "The Kubernetes API must admit the listed addresses only."
  }

  assert {
    condition     = digitalocean_kubernetes_cluster.this.registry_integration
    error_message = "Pods pull through the registry integration."
  }
}

run "two_logins_neither_admin" {
  command = plan

  assert {
    condition     = digitalocean_database_user.runtime.name == "ledger" && digitalocean_database_user.migrator.name == "ledger_migrator"
    error_message = "The runtime and migrator logins are separate."
  }

  assert {
    condition     = output.database_connection_limit == 22
    error_message = "A 1 GB database admits 22 connections."
  }
}

run "open_control_plane_rejected" {
  command = plan

  variables {
    control_plane_allowed_addresses = ["0.0.0.0/0"]
  }

  expect_failures = [var.control_plane_allowed_addresses]
}

run "unknown_node_size_rejected" {
  command = plan

  variables {
    workload_node_pool = {
      size      = "s-1vcpu-1gb"
      min_nodes = 1
      max_nodes = 2
    }
  }

  expect_failures = [digitalocean_kubernetes_node_pool.workloads]
}

run "no_receipts_bucket_unless_asked" {
  command = plan

  assert {
    condition     = length(digitalocean_spaces_bucket.receipts) == 0 && output.receipts_bucket == null
    error_message = "Without receipts_bucket, the environment keeps receipts in PostgreSQL: no bucket."
  }
}

run "receipts_bucket_private_and_versioned" {
  command = plan

  variables {
    receipts_bucket = {}
  }

  assert {
    condition     = digitalocean_spaces_bucket.receipts[0].acl == "private"
    error_message = "The receipts' bucket must be private: the API serves the files itself."
  }

  assert {
    condition     = digitalocean_spaces_bucket.receipts[0].versioning[0].enabled
    error_message = "The receipts' bucket must be versioned, so a deleted receipt can be restored."
  }

  assert {
    condition     = digitalocean_spaces_bucket.receipts[0].force_destroy != true
    error_message = "Terraform must not empty the receipts' bucket to destroy it."
  }

  assert {
    condition     = one(digitalocean_spaces_bucket.receipts[0].lifecycle_rule[0].noncurrent_version_expiration[*].days) == 90 && digitalocean_spaces_bucket.receipts[0].lifecycle_rule[0].abort_incomplete_multipart_upload_days == 1
    error_message = "Noncurrent versions expire after 90 days and abandoned uploads after one, by default."
  }

  assert {
    condition     = output.receipts_bucket.bucket == "ledger-dev-receipts" && output.receipts_bucket.region == "fra1"
    error_message = "The app root needs the bucket's name and region."
  }
}

run "receipts_kept_zero_days_rejected" {
  command = plan

  variables {
    receipts_bucket = { noncurrent_version_expiration_days = 0 }
  }

  expect_failures = [var.receipts_bucket]
}
