# Staging's own settings, planned with mocked providers and the platform's outputs
# as the staging platform root produces them (2 to 3 s-2vcpu-4gb nodes,
# 47 connections for its database). Run with `go tool task infra:check`.

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
      cluster_name              = "ledger-staging"
      database_cluster_id       = "3f1c2d4e-0000-4000-8000-000000000001"
      database_host             = "private-ledger-staging-do-user-1-0.db.ondigitalocean.com"
      database_port             = 25060
      database_name             = "ledger"
      database_user             = "ledger"
      database_migrator_user    = "ledger_migrator"
      database_connection_limit = 47
      vpc_ip_range              = "10.111.0.0/20"
      receipts_bucket = {
        bucket   = "ledger-staging-receipts"
        region   = "fra1"
        endpoint = "fra1.digitaloceanspaces.com"
      }
      workload_node_pool = {
        name            = "ledger-staging-workloads-s-2vcpu-4gb"
        size            = "s-2vcpu-4gb"
        node_selector   = { "ledger.io/pool" = "workloads" }
        min_nodes       = 2
        max_nodes       = 3
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

  receipt_store_access_key_id     = "DO00EXAMPLEKEY000000"
  receipt_store_secret_access_key = "example-secret-example-secret-example-secret"
}

run "staging_budget_leaves_room_for_a_rebuild_and_an_operator" {
  command = plan

  assert {
    condition     = output.database_connection_budget.rebuild >= 3 && output.database_connection_budget.operator >= 1
    error_message = "The budget must reserve a rebuild job (3 connections) and one operator session."
  }

  assert {
    condition     = output.database_connection_budget.total <= 47
    error_message = "The worst case, rebuild and operator included, must fit the database's 47 connections."
  }
}

run "staging_fits_its_node_pool" {
  command = plan

  assert {
    condition     = output.capacity.fits
    error_message = "The requests at full scale must fit max_nodes - 1 nodes."
  }
}

run "staging_keeps_receipts_in_its_bucket" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for workload in module.app.deployment_env : [
        for name, value in {
          RECEIPT_STORE = "s3"
          S3_ENDPOINT   = "fra1.digitaloceanspaces.com"
          S3_BUCKET     = "ledger-staging-receipts"
          S3_REGION     = "fra1"
        } : lookup(workload.env, name, null) == value
      ]
    ]))
    error_message = "The API and the worker must store receipts in the platform's bucket (RECEIPT_STORE=s3)."
  }

  assert {
    condition = alltrue([
      for workload in module.app.deployment_env :
      workload.secret_env["S3_ACCESS_KEY_ID"] == "ledger-runtime" && workload.secret_env["S3_SECRET_ACCESS_KEY"] == "ledger-runtime"
    ])
    error_message = "The bucket's key must reach the pods from the runtime secret."
  }
}
