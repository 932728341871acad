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
    for component in ["api", "worker", "migrate", "rebuild"] : component => {
      "app.kubernetes.io/name"      = local.name
      "app.kubernetes.io/component" = component
    }
  }
  labels = {
    for component, selector in local.selector_labels : component => merge(local.common_labels, selector)
  }

  # The digest names the release: pod templates carry it as their version and
  # the migration job is named after it, so a new image means a new job.
  image         = "${var.image_repository}@${var.image_digest}"
  image_version = substr(trimprefix(var.image_digest, "sha256:"), 0, 12)
  pod_labels = {
    for component, labels in local.labels : component => merge(labels, {
      "app.kubernetes.io/version" = local.image_version
      # Selected by the network policy that lets pods reach the database.
      "ledger.io/database-client" = "true"
    })
  }

  runtime_secret_name  = "${local.name}-runtime"
  migrator_secret_name = "${local.name}-migrator"
  ca_config_map_name   = "${local.name}-database-ca"
  ca_mount_path        = "/etc/ledger/database-ca"

  # verify-full: the server's certificate must chain to the database
  # cluster's own CA (mounted from a ConfigMap) and name the host.
  database_url_query = "sslmode=verify-full&sslrootcert=${local.ca_mount_path}/ca.crt"
  database_logins = {
    runtime  = var.database.user
    migrator = var.database.migrator_user
  }
  # Without the password: for outputs and tests.
  database_endpoints = {
    for role, login in local.database_logins : role => format(
      "postgres://%s@%s:%d/%s?%s", urlencode(login), var.database.host, var.database.port, var.database.name, local.database_url_query,
    )
  }
  # Ephemeral: built from ephemeral passwords, written only to the secrets'
  # write-only data.
  database_urls = {
    runtime = format(
      "postgres://%s:%s@%s:%d/%s?%s", urlencode(var.database.user), urlencode(var.database_password),
      var.database.host, var.database.port, var.database.name, local.database_url_query,
    )
    migrator = format(
      "postgres://%s:%s@%s:%d/%s?%s", urlencode(var.database.migrator_user), urlencode(var.migrator_password),
      var.database.host, var.database.port, var.database.name, local.database_url_query,
    )
  }

  # Environment of every ledger container. Migrations run only in the
  # migration job, and the development token issuer is off everywhere: it is
  # not a variable on purpose.
  ledger_env = merge(
    {
      LOG_LEVEL        = var.log_level
      MIGRATE_ON_START = "false"
      AUTH_DEV_ISSUER  = "false"
      AUTH_ISSUER      = var.auth.issuer
      AUTH_AUDIENCE    = var.auth.audience
    },
    var.auth.jwks_url == null ? {} : { AUTH_JWKS_URL = var.auth.jwks_url },
  )

  # Receipts' files: in a Spaces bucket when there is one, else in PostgreSQL.
  # Only the serving roles store or read them; migrations and rebuilds do not.
  receipt_env = var.receipt_store == null ? { RECEIPT_STORE = "postgres" } : {
    RECEIPT_STORE = "s3"
    S3_ENDPOINT   = var.receipt_store.endpoint
    S3_BUCKET     = var.receipt_store.bucket
    S3_REGION     = var.receipt_store.region
  }

  # Ephemeral, like database_urls: written only to the runtime secret.
  receipt_store_keys = var.receipt_store == null ? {} : {
    S3_ACCESS_KEY_ID     = var.receipt_store_access_key_id
    S3_SECRET_ACCESS_KEY = var.receipt_store_secret_access_key
  }

  # Keys of the runtime secret that the serving roles read as environment
  # variables.
  runtime_secret_keys = concat(
    ["DATABASE_URL", "AUDIT_KEY", "AUDIT_SIGNING_KEY", "POSITION_KEY", "ACCOUNT_NUMBER_KEY"],
    var.receipt_store == null ? [] : ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"],
  )

  # Connections at worst, against the database's limit: every API replica the
  # autoscaler may add and every worker, each with one more pod while a
  # rollout surges (a terminating pod holds its pool until it exits); a worker
  # also holds two connections outside its pool: the LISTEN connection that
  # wakes its subscribers and the one they read the delivery horizon on
  # before each batch. On top: the migration
  # job, one projection rebuild, and one operator's psql session.
  migrate_max_conns = 2
  rebuild_max_conns = 3 # advisory-lock connection, reader, writer
  operator_sessions = 1
  connection_budget = {
    api      = (var.api.max_replicas + 1) * var.api.db_max_conns
    worker   = (var.worker.replicas + 1) * (var.worker.db_max_conns + 2)
    migrate  = local.migrate_max_conns
    rebuild  = local.rebuild_max_conns
    operator = local.operator_sessions
  }
  connection_budget_total = sum(values(local.connection_budget))
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

# The database cluster's CA certificate: public, so a ConfigMap.
resource "kubernetes_config_map_v1" "database_ca" {
  metadata {
    name      = local.ca_config_map_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  data = {
    "ca.crt" = var.database_ca_certificate
  }
}

# Secret values are write-only: Terraform sends them to Kubernetes when the
# secret is created or var.secrets_revision changes, and keeps none of them in
# its state or plan. Bump the revision after rotating a password or the audit
# key; the pod templates carry it too, so the pods restart with the new value.
resource "kubernetes_secret_v1" "runtime" {
  metadata {
    name      = local.runtime_secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  type = "Opaque"
  data_wo = merge({
    DATABASE_URL       = local.database_urls.runtime
    AUDIT_KEY          = var.audit_key
    AUDIT_SIGNING_KEY  = var.audit_signing_key
    POSITION_KEY       = var.position_key
    ACCOUNT_NUMBER_KEY = var.account_number_key
    PII_KEY            = var.pii_key
  }, local.receipt_store_keys)
  data_wo_revision = var.secrets_revision
}

# Read only by the migration job and projection rebuilds.
resource "kubernetes_secret_v1" "migrator" {
  metadata {
    name      = local.migrator_secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.common_labels
  }

  type = "Opaque"
  data_wo = {
    DATABASE_URL = local.database_urls.migrator
  }
  data_wo_revision = var.secrets_revision
}
