# Invariants of the app module, planned with a mocked Kubernetes provider (no
# cluster needed). Run with `go tool task infra:check` (see README.md).

mock_provider "kubernetes" {}

variables {
  environment      = "dev"
  image_repository = "registry.digitalocean.com/reimbursement-ledger/ledger"
  image_digest     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

  database = {
    cluster_id       = "3f1c2d4e-0000-4000-8000-000000000001"
    host             = "private-ledger-dev-do-user-1-0.db.ondigitalocean.com"
    port             = 25060
    name             = "ledger"
    user             = "ledger"
    migrator_user    = "ledger_migrator"
    connection_limit = 22
  }
  database_ca_certificate = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
  database_network_cidr   = "10.110.0.0/20"

  database_password  = "runtime-password"
  migrator_password  = "migrator-password"
  audit_key          = "test-audit-key-test-audit-key-test-audit-key"
  audit_signing_key  = "PRIVATE+KEY+ledger.test/audit+501ffdf2+AYiSVeyDOmgTB+7GaKNxXSrw7NUg8hu1npbDmWLDpW/P"
  position_key       = "q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o="
  account_number_key = "Zk3pQ8sV1xN4bR7tY0wE2uI5oA9cL6hJ3mG8dF1kT4s="
  pii_key            = "cGlpLWtleS1mb3ItdGVzdHMtb25seS0zMi1ieXRlcyE="
  secrets_revision   = 1

  auth = {
    issuer   = "https://auth.dev.ledger.example.com/"
    audience = "ledger-api"
  }

  node_pool = {
    node_selector   = { "ledger.io/pool" = "workloads" }
    max_nodes       = 2
    node_cpu_millis = 1750
    node_memory_mib = 2200
  }

  api = {
    min_replicas = 1
    max_replicas = 1
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

  tls_certificate_name = "ledger-dev-api"
}

run "no_admin_credentials_in_the_namespace" {
  command = plan

  # The only secrets in the namespace hold the runtime and migrator logins.
  assert {
    condition = toset([
      kubernetes_secret_v1.runtime.metadata[0].name,
      kubernetes_secret_v1.migrator.metadata[0].name,
    ]) == toset(["ledger-runtime", "ledger-migrator"])
    error_message = "The namespace must hold exactly the runtime and migrator secrets."
  }

  assert {
    condition     = alltrue([for url in values(output.database_endpoints) : !strcontains(url, "doadmin")])
    error_message = "No connection URL may use the cluster's admin login."
  }

  # Secret values are write-only: nothing of them in the plan or state.
  assert {
    condition     = kubernetes_secret_v1.runtime.data_wo_revision == 1 && kubernetes_secret_v1.migrator.data_wo_revision == 1
    error_message = "The secrets must be written through data_wo, with a revision."
  }

  # Schema changes only as the migrator; serving only as the runtime login.
  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this : alltrue([
        for env in workload.spec[0].template[0].spec[0].container[0].env :
        env.value_from[0].secret_key_ref[0].name == "ledger-runtime" if length(env.value_from) > 0
      ])
    ])
    error_message = "The API and the worker must read only the runtime secret."
  }

  assert {
    condition = alltrue([
      for env in kubernetes_job_v1.migrate.spec[0].template[0].spec[0].init_container[0].env :
      env.value_from[0].secret_key_ref[0].name == "ledger-migrator" if length(env.value_from) > 0
    ])
    error_message = "The migration must run as the migrator."
  }
}

run "admin_login_rejected" {
  command = plan

  variables {
    database = {
      cluster_id       = "3f1c2d4e-0000-4000-8000-000000000001"
      host             = "private-ledger-dev-do-user-1-0.db.ondigitalocean.com"
      port             = 25060
      name             = "ledger"
      user             = "doadmin"
      migrator_user    = "ledger_migrator"
      connection_limit = 22
    }
  }

  expect_failures = [var.database]
}

run "every_image_carries_a_digest" {
  command = plan

  assert {
    condition = alltrue([
      for image in concat(
        [for workload in kubernetes_deployment_v1.this : workload.spec[0].template[0].spec[0].container[0].image],
        [for container in kubernetes_job_v1.migrate.spec[0].template[0].spec[0].init_container : container.image],
        [for container in kubernetes_job_v1.migrate.spec[0].template[0].spec[0].container : container.image],
        [for container in kubernetes_cron_job_v1.rebuild.spec[0].job_template[0].spec[0].template[0].spec[0].container : container.image],
      ) : can(regex("@sha256:[0-9a-f]{64}$", image))
    ])
    error_message = "Every container image must be pinned by digest."
  }
}

run "tagged_psql_image_rejected" {
  command = plan

  variables {
    psql_image = "postgres:17-alpine"
  }

  expect_failures = [var.psql_image]
}

run "development_issuer_off_and_no_migration_at_start" {
  command = plan

  assert {
    condition = alltrue([
      for container in concat(
        [for workload in kubernetes_deployment_v1.this : workload.spec[0].template[0].spec[0].container[0]],
        kubernetes_job_v1.migrate.spec[0].template[0].spec[0].init_container,
        kubernetes_cron_job_v1.rebuild.spec[0].job_template[0].spec[0].template[0].spec[0].container,
      ) : lookup({ for env in container.env : env.name => env.value if env.value != null }, "AUTH_DEV_ISSUER", "unset") == "false"
    ])
    error_message = "AUTH_DEV_ISSUER must be \"false\" in every ledger container."
  }

  assert {
    condition = alltrue([
      for container in concat(
        [for workload in kubernetes_deployment_v1.this : workload.spec[0].template[0].spec[0].container[0]],
        kubernetes_job_v1.migrate.spec[0].template[0].spec[0].init_container,
        kubernetes_cron_job_v1.rebuild.spec[0].job_template[0].spec[0].template[0].spec[0].container,
      ) : lookup({ for env in container.env : env.name => env.value if env.value != null }, "MIGRATE_ON_START", "unset") == "false"
    ])
    error_message = "MIGRATE_ON_START must be \"false\" in every ledger container: the migration job alone migrates."
  }

  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this :
      lookup({ for env in workload.spec[0].template[0].spec[0].container[0].env : env.name => env.value if env.value != null }, "AUTH_ISSUER", "unset") == "https://auth.dev.ledger.example.com/"
    ])
    error_message = "The serving pods must get the environment's issuer."
  }
}

run "insecure_issuer_rejected" {
  command = plan

  variables {
    auth = {
      issuer   = "http://auth.dev.ledger.example.com/"
      audience = "ledger-api"
    }
  }

  expect_failures = [var.auth]
}

run "connections_verify_the_server" {
  command = plan

  assert {
    condition     = alltrue([for url in values(output.database_endpoints) : strcontains(url, "sslmode=verify-full&sslrootcert=/etc/ledger/database-ca/ca.crt")])
    error_message = "Every connection must verify the server against the database's CA."
  }

  assert {
    condition     = kubernetes_config_map_v1.database_ca.data["ca.crt"] == var.database_ca_certificate
    error_message = "The database CA must be mounted from the ConfigMap."
  }
}

run "connection_budget_leaves_room_for_a_rebuild_and_an_operator" {
  command = plan

  assert {
    condition     = output.database_connection_budget.rebuild >= 3 && output.database_connection_budget.operator >= 1
    error_message = "The budget must reserve a rebuild job (3 connections) and an operator session."
  }

  assert {
    condition     = output.database_connection_budget.total <= output.database_connection_budget.limit
    error_message = "The worst case must fit the database."
  }
}

run "connection_budget_exceeded" {
  command = plan

  variables {
    worker = {
      replicas     = 1
      db_max_conns = 5
      resources = {
        requests     = { cpu = "50m", memory = "128Mi" }
        memory_limit = "256Mi"
      }
    }
  }

  # 2 x 2 + 2 x (5 + 2) + 2 + 3 + 1 = 24 > 22
  expect_failures = [kubernetes_job_v1.migrate]
}

run "sized_from_requests" {
  command = plan

  assert {
    condition     = output.capacity.requested.cpu_millis == 550 && output.capacity.requested.memory_mib == 832 && output.capacity.fits
    error_message = "Full-scale requests: 3 API x 100m + 2 workers x 50m + migration 50m + rebuild 200m = 650m; 384 + 256 + 64 + 256 = 960Mi, on one node."
  }

  # CPU limits would only throttle; memory limits stay.
  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this :
      keys(workload.spec[0].template[0].spec[0].container[0].resources[0].limits) == tolist(["memory"])
    ])
    error_message = "The deployments must set a memory limit and no CPU limit."
  }
}

run "too_big_for_the_pool" {
  command = plan

  variables {
    node_pool = {
      node_selector   = { "ledger.io/pool" = "workloads" }
      max_nodes       = 2
      node_cpu_millis = 500
      node_memory_mib = 2200
    }
  }

  expect_failures = [kubernetes_job_v1.migrate]
}

run "certificate_by_name" {
  command = plan

  assert {
    condition     = kubernetes_service_v1.api.metadata[0].annotations["service.beta.kubernetes.io/do-loadbalancer-certificate-name"] == "ledger-dev-api"
    error_message = "The load balancer must find its certificate by name."
  }

  assert {
    condition     = !contains(keys(kubernetes_service_v1.api.metadata[0].annotations), "service.beta.kubernetes.io/do-loadbalancer-certificate-id")
    error_message = "A certificate id changes at every renewal: never use it."
  }
}

run "autoscaler_owns_the_api_replicas" {
  command = plan

  assert {
    condition     = kubernetes_deployment_v1.this["worker"].spec[0].replicas == "1"
    error_message = "The worker count is fixed by Terraform."
  }

  assert {
    condition     = kubernetes_horizontal_pod_autoscaler_v2.api.spec[0].min_replicas == 1 && kubernetes_horizontal_pod_autoscaler_v2.api.spec[0].max_replicas == 1
    error_message = "The autoscaler keeps the API between min_replicas and max_replicas."
  }

  assert {
    condition     = length(kubernetes_deployment_v1.this["api"].spec[0].template[0].spec[0].container[0].lifecycle) == 1
    error_message = "The API must wait before SIGTERM (preStop) so the load balancer stops sending first."
  }
}

run "network_denied_by_default" {
  command = plan

  assert {
    condition     = toset(kubernetes_network_policy_v1.default_deny.spec[0].policy_types) == toset(["Ingress", "Egress"])
    error_message = "The namespace must deny all traffic by default."
  }

  assert {
    condition     = kubernetes_network_policy_v1.database.spec[0].egress[0].to[0].ip_block[0].cidr == "10.110.0.0/20" && kubernetes_network_policy_v1.database.spec[0].egress[0].ports[0].port == "25060"
    error_message = "Database egress goes to the VPC on the database port only."
  }

  assert {
    condition     = length(kubernetes_network_policy_v1.worker[0].spec[0].ingress[0].from) == 1
    error_message = "The worker accepts traffic from the metrics namespaces only."
  }
}

run "short_position_key_rejected" {
  command = plan

  variables {
    # 24 bytes (openssl rand -base64 24): AES-256 needs 32.
    position_key = "Qm9ndXMta2V5LW9mLTI0LWJ5dGVzLSEh"
  }

  expect_failures = [var.position_key]
}

run "short_account_number_key_rejected" {
  command = plan

  variables {
    account_number_key = "Qm9ndXMta2V5LW9mLTI0LWJ5dGVzLSEh"
  }

  expect_failures = [var.account_number_key]
}

run "short_pii_key_rejected" {
  command = plan

  variables {
    pii_key = "Qm9ndXMta2V5LW9mLTI0LWJ5dGVzLSEh"
  }

  expect_failures = [var.pii_key]
}

run "receipts_in_postgres_without_a_bucket" {
  command = plan

  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this : {
        for env in workload.spec[0].template[0].spec[0].container[0].env : env.name => env.value if length(env.value_from) == 0
      }["RECEIPT_STORE"] == "postgres"
    ])
    error_message = "Without a bucket, the API and the worker keep receipts in PostgreSQL."
  }

  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this : length([
        for env in workload.spec[0].template[0].spec[0].container[0].env : env.name if startswith(env.name, "S3_")
      ]) == 0
    ])
    error_message = "Without a bucket, no S3_ setting may reach the pods."
  }

  assert {
    condition     = length(kubernetes_network_policy_v1.worker_receipts) == 0
    error_message = "Without a bucket, the worker gets no egress to the internet."
  }
}

run "receipts_in_a_bucket" {
  command = plan

  variables {
    receipt_store = {
      bucket   = "ledger-dev-receipts"
      region   = "fra1"
      endpoint = "fra1.digitaloceanspaces.com"
    }
    receipt_store_access_key_id     = "DO00EXAMPLEKEY000000"
    receipt_store_secret_access_key = "example-secret-example-secret-example-secret"
  }

  # Plain settings on both serving roles.
  assert {
    condition = alltrue(flatten([
      for workload in kubernetes_deployment_v1.this : [
        for name, value in {
          RECEIPT_STORE = "s3"
          S3_ENDPOINT   = "fra1.digitaloceanspaces.com"
          S3_BUCKET     = "ledger-dev-receipts"
          S3_REGION     = "fra1"
        } : lookup({ for env in workload.spec[0].template[0].spec[0].container[0].env : env.name => env.value if length(env.value_from) == 0 }, name, null) == value
      ]
    ]))
    error_message = "The API and the worker must get RECEIPT_STORE=s3 and the bucket's endpoint, name and region."
  }

  # The key only from the runtime secret, never as a plain value.
  assert {
    condition = alltrue([
      for workload in kubernetes_deployment_v1.this : {
        for env in workload.spec[0].template[0].spec[0].container[0].env :
        env.name => "${env.value_from[0].secret_key_ref[0].name}/${env.value_from[0].secret_key_ref[0].key}" if length(env.value_from) > 0 && startswith(env.name, "S3_")
        } == {
        S3_ACCESS_KEY_ID     = "ledger-runtime/S3_ACCESS_KEY_ID"
        S3_SECRET_ACCESS_KEY = "ledger-runtime/S3_SECRET_ACCESS_KEY"
      }
    ])
    error_message = "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must come from the runtime secret."
  }

  # Migrations and rebuilds touch no receipt.
  assert {
    condition = length([
      for env in kubernetes_job_v1.migrate.spec[0].template[0].spec[0].init_container[0].env : env.name if startswith(env.name, "S3_")
    ]) == 0
    error_message = "The migration job must not get the receipts' bucket key."
  }

  assert {
    condition     = kubernetes_network_policy_v1.worker_receipts[0].spec[0].egress[0].ports[0].port == "443"
    error_message = "With a bucket, the worker may reach Spaces over HTTPS."
  }
}

run "bucket_without_a_key_rejected" {
  command = plan

  variables {
    receipt_store = {
      bucket   = "ledger-dev-receipts"
      region   = "fra1"
      endpoint = "fra1.digitaloceanspaces.com"
    }
  }

  expect_failures = [var.receipt_store_access_key_id, var.receipt_store_secret_access_key]
}

run "bucket_endpoint_with_a_scheme_rejected" {
  command = plan

  variables {
    receipt_store = {
      bucket   = "ledger-dev-receipts"
      region   = "fra1"
      endpoint = "https://fra1.digitaloceanspaces.com"
    }
    receipt_store_access_key_id     = "DO00EXAMPLEKEY000000"
    receipt_store_secret_access_key = "example-secret-example-secret-example-secret"
  }

  expect_failures = [var.receipt_store]
}
