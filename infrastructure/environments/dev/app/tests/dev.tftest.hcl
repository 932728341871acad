# Dev's own settings, planned with mocked providers and the platform's outputs
# as the dev platform root produces them (its connection limit, 22, is
# asserted by modules/platform/tests). Run with `go tool task infra:check`.

mock_provider "digitalocean" {
  mock_data "digitalocean_kubernetes_cluster" {
    defaults = {
      endpoint = "https://cluster.invalid"
      kube_config = [{
        token                  = "mock"
        cluster_ca_certificate = "bW9jaw=="
      }]
    }
  }

  mock_data "digitalocean_database_ca" {
    defaults = {
      certificate = "-----BEGIN CERTIFICATE-----\nMIIBmock\n-----END CERTIFICATE-----\n"
    }
  }
}

mock_provider "kubernetes" {}

override_data {
  target = module.global_state.data.terraform_remote_state.this
  values = {
    outputs = {
      image_repository = "registry.digitalocean.com/reimbursement-ledger/ledger"
    }
  }
}

override_data {
  target = module.platform_state.data.terraform_remote_state.this
  values = {
    outputs = {
      cluster_name              = "ledger-dev"
      database_cluster_id       = "3f1c2d4e-0000-4000-8000-000000000001"
      database_host             = "private-ledger-dev-do-user-1-0.db.ondigitalocean.com"
      database_port             = 25060
      database_name             = "ledger"
      database_user             = "ledger"
      database_migrator_user    = "ledger_migrator"
      database_connection_limit = 22
      vpc_ip_range              = "10.110.0.0/20"
      workload_node_pool = {
        name            = "ledger-dev-workloads-s-2vcpu-4gb"
        size            = "s-2vcpu-4gb"
        node_selector   = { "ledger.io/pool" = "workloads" }
        min_nodes       = 1
        max_nodes       = 2
        node_cpu_millis = 1750
        node_memory_mib = 2200
      }
    }
  }
}

variables {
  image_digest       = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  database_password  = "runtime-password"
  migrator_password  = "migrator-password"
  audit_key          = "test-audit-key-test-audit-key-test-audit-key"
  audit_signing_key  = "PRIVATE+KEY+ledger.test/audit+501ffdf2+AYiSVeyDOmgTB+7GaKNxXSrw7NUg8hu1npbDmWLDpW/P"
  position_key       = "q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o="
  account_number_key = "Zk3pQ8sV1xN4bR7tY0wE2uI5oA9cL6hJ3mG8dF1kT4s="
  pii_key            = "cGlpLWtleS1mb3ItdGVzdHMtb25seS0zMi1ieXRlcyE="
}

run "dev_budget_leaves_room_for_a_rebuild_and_an_operator" {
  command = plan

  assert {
    condition     = output.database_connection_budget.rebuild >= 3 && output.database_connection_budget.operator >= 1
    error_message = "Dev's budget must reserve a rebuild job (3 connections) and one operator session."
  }

  assert {
    condition     = output.database_connection_budget.total <= 22
    error_message = "Dev's worst case, rebuild and operator included, must fit the 22 connections of its 1 GB database."
  }
}

run "dev_fits_its_node_pool" {
  command = plan

  assert {
    condition     = output.capacity.fits
    error_message = "Dev's requests at full scale must fit max_nodes - 1 nodes."
  }
}

run "dev_images_pinned" {
  command = plan

  assert {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", output.image)) && can(regex("@sha256:[0-9a-f]{64}$", module.metrics_server.image))
    error_message = "The ledger and metrics-server images must be pinned by digest."
  }
}

run "dev_keeps_receipts_in_postgres" {
  command = plan

  assert {
    condition = alltrue([
      for workload in module.app.deployment_env :
      workload.env["RECEIPT_STORE"] == "postgres" && length([for name in concat(keys(workload.env), keys(workload.secret_env)) : name if startswith(name, "S3_")]) == 0
    ])
    error_message = "Dev has no bucket: receipts stay in PostgreSQL and no S3_ setting reaches the pods."
  }
}
