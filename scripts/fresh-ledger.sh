# Sourced by the scripts that test a running ledger (postman-run,
# docs-browser-test): builds the binary, serves it on a free port of
# 127.0.0.1 over a fresh database, and takes both down again on exit.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/fresh-ledger.sh"
#   start_fresh_ledger NAME [PORT]   # sets base_url; PORT empty: any free one
#   show_ledger_log [LINES]
#
# The database (NAME_<random>) is created on the PostgreSQL that
# scripts/dev-postgres finds or starts, or beside $DATABASE_URL when set. The
# ledger runs with its development token issuer on (AUTH_DEV_ISSUER=true;
# AUTH_ISSUER and AUTH_JWKS_URL cleared, since a ledger that trusts a real
# issuer refuses it), so that tests fetch tokens from POST /v1/dev/tokens. It
# signs its audit tree heads with $AUDIT_SIGNING_KEY, or the local
# development key below, and checks older HMAC checkpoints with $AUDIT_KEY,
# or a random key for this run.
# An EXIT trap stops the ledger, drops the database and removes the build.
# Needs postgres.sh sourced first.

fresh_work=""
fresh_db=""
fresh_admin_url=""
fresh_pid=""
base_url=""

stop_fresh_ledger() {
  local status=$?
  set +e
  if [[ -n "$fresh_pid" ]] && kill -0 "$fresh_pid" 2>/dev/null; then
    kill -TERM "$fresh_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$fresh_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$fresh_pid" 2>/dev/null
    wait "$fresh_pid" 2>/dev/null
  fi
  if [[ -n "$fresh_admin_url" ]]; then
    "$(pgbin psql)" -X -q -d "$fresh_admin_url" -c "DROP DATABASE IF EXISTS \"$fresh_db\" WITH (FORCE)" >/dev/null 2>&1 ||
      say "could not drop database $fresh_db; drop it by hand"
  fi
  [[ -z "$fresh_work" ]] || rm -rf "$fresh_work"
  exit "$status"
}

show_ledger_log() {
  say "last lines of the ledger's log:"
  tail -n "${1:-40}" "$fresh_work/ledger.log" >&2 || true
}

start_fresh_ledger() {
  local name="$1" port="${2:-}"
  trap stop_fresh_ledger EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  fresh_work="$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")"
  fresh_db="${name//-/_}_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"

  say "building the ledger"
  go build -o "$fresh_work/ledger" ./backend/cmd/ledger

  local db_url
  if [[ -n "${DATABASE_URL:-}" ]]; then
    fresh_admin_url="$(with_db "$DATABASE_URL" postgres)"
    db_url="$(with_db "$DATABASE_URL" "$fresh_db")"
    "$(pgbin psql)" -X -q -v ON_ERROR_STOP=1 -d "$fresh_admin_url" -c "CREATE DATABASE \"$fresh_db\"" >/dev/null
  else
    db_url="$(./scripts/dev-postgres "$fresh_db")"
    fresh_admin_url="$(with_db "$db_url" postgres)"
  fi
  say "database $fresh_db"

  # A free port: the one asked for, or the first that nothing listens on.
  port_taken() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  if [[ -n "$port" ]]; then
    ! port_taken "$port" || die "port $port is taken"
  else
    local start candidate
    start=$((18080 + RANDOM % 1000))
    for candidate in $(seq "$start" $((start + 200))); do
      if ! port_taken "$candidate"; then port="$candidate"; break; fi
    done
    [[ -n "$port" ]] || die "no free port between $start and $((start + 200))"
  fi
  base_url="http://127.0.0.1:$port"

  say "starting the ledger on $base_url (log: $fresh_work/ledger.log)"
  local audit_key="${AUDIT_KEY:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}"
  # A local development key only, not a secret: production sets its own
  # AUDIT_SIGNING_KEY (`ledger audit keygen`).
  AUDIT_SIGNING_KEY="${AUDIT_SIGNING_KEY:-PRIVATE+KEY+localhost/reimbursement-ledger+00e7b219+AdGePFnJeHTyDACO5wCSZZz5ajffd0oqLkP1w1d1z7oE}"
  export AUDIT_SIGNING_KEY
  DATABASE_URL="$db_url" HTTP_ADDR="127.0.0.1:$port" AUDIT_KEY="$audit_key" \
    AUTH_DEV_ISSUER=true AUTH_ISSUER="" AUTH_JWKS_URL="" \
    "$fresh_work/ledger" serve >"$fresh_work/ledger.log" 2>&1 &
  fresh_pid=$!

  for _ in $(seq 1 300); do
    if ! kill -0 "$fresh_pid" 2>/dev/null; then
      show_ledger_log
      die "the ledger stopped before it was ready"
    fi
    if curl -fsS -o /dev/null --max-time 2 "$base_url/readyz" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  show_ledger_log
  die "the ledger was not ready after 30 seconds"
}
