# Sourced by the scripts in this folder: messages, and PostgreSQL's
# programs and URLs.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "$*"; exit 1; }

# pgbin NAME: the path of one of PostgreSQL's programs, on PATH or in
# Debian's versioned directory.
pgbin() {
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [[ -n "$dir" && -x "$dir/$1" ]]; then printf '%s\n' "$dir/$1"; return; fi
  die "cannot find $1: install PostgreSQL (e.g. apt-get install postgresql) or set DATABASE_URL"
}

# with_db URL NAME: the PostgreSQL URL with its database replaced by NAME.
with_db() {
  [[ "$1" =~ ^postgres(ql)?:// ]] || die "DATABASE_URL must be a postgres:// URL to create databases beside it"
  sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/'"$2"'#' <<<"$1"
}
