locals {
  name      = "ledger"
  namespace = "ledger"
  http_port = 8080

  common_labels = {
    "app.kubernetes.io/name"       = local.name
    "app.kubernetes.io/part-of"    = "reimbursement-ledger"
    "app.kubernetes.io/managed-by" = "terraform"
    "ledger.io/environment"        = var.environment
  }

  # Selectors are immutable on a Deployment: they carry only the name and the
  # component, never the version.
  selector_labels = {
    for component in ["api", "worker", "migrate", "database-grants"] : component => {
      "app.kubernetes.io/name"      = local.name
      "app.kubernetes.io/component" = component
    }
  }
  labels = {
    for component, selector in local.selector_labels : component => merge(local.common_labels, selector)
  }

  # The digest names the release: pod templates carry it as their version and
  # the migration job is named after it, so a new image means a new job.
  image_digest  = split("@sha256:", var.image)[1]
  image_version = substr(local.image_digest, 0, 12)
  pod_labels = {
    for component, labels in local.labels : component => merge(labels, { "app.kubernetes.io/version" = local.image_version })
  }

  secret_name       = "${local.name}-runtime"
  admin_secret_name = "${local.name}-database-admin"
  pull_secret_name  = "${local.name}-registry"

  database_url = format(
    "postgres://%s:%s@%s:%d/%s?sslmode=require",
    urlencode(var.database.user), urlencode(var.database_password),
    var.database.host, var.database.port, var.database.name,
  )
  database_admin_url = format(
    "postgres://%s:%s@%s:%d/%s?sslmode=require",
    urlencode(var.database_admin.user), urlencode(var.database_admin.password),
    var.database.host, var.database.port, var.database.name,
  )

  # Settings shared by the API and the worker; secrets are added separately
  # from the Kubernetes secret.
  runtime_env = {
    HTTP_ADDR    = ":${local.http_port}"
    LOG_LEVEL    = var.log_level
    DB_MAX_CONNS = tostring(var.db_max_conns)
  }

  # Worst case of open connections: every API replica the autoscaler may add
  # and every worker, each with one extra pod while a rolling update surges,
  # plus the migration job.
  migrate_max_conns = 2
  connection_budget = (var.api.max_replicas + 1 + var.worker.replicas + 1) * var.db_max_conns + local.migrate_max_conns
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = local.namespace
    labels = merge(local.common_labels, {
      # Every pod of the ledger must satisfy the restricted Pod Security
      # Standard: non-root, no privilege escalation, no capabilities.
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
    })
  }
}

resource "kubernetes_secret_v1" "runtime" {
  metadata {
    name      = local.secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  type = "Opaque"
  data = {
    DATABASE_URL = local.database_url
    AUDIT_KEY    = var.audit_key
  }

  lifecycle {
    precondition {
      condition     = local.connection_budget <= var.database.connection_limit
      error_message = "Database connection budget exceeded: (api.max_replicas + 1 + worker.replicas + 1) x db_max_conns + ${local.migrate_max_conns} = ${local.connection_budget}, but the database admits ${var.database.connection_limit}. Lower db_max_conns or the replica counts, or choose a larger database size."
    }
  }
}

# Read only by the job that grants the application user its privileges.
resource "kubernetes_secret_v1" "database_admin" {
  metadata {
    name      = local.admin_secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels["database-grants"]
  }

  type = "Opaque"
  data = {
    DATABASE_URL = local.database_admin_url
  }
}

resource "kubernetes_secret_v1" "registry" {
  metadata {
    name      = local.pull_secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  type = "kubernetes.io/dockerconfigjson"
  data = {
    ".dockerconfigjson" = var.registry_docker_config
  }
}
