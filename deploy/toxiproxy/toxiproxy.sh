#!/usr/bin/env bash
# Toxiproxy (github.com/Shopify/toxiproxy), the TCP proxy the fault suite puts between
# the services and PostgreSQL and Kafka. Built once from the Go module proxy with the
# machine's Go toolchain into a git-ignored cache; no release tarball, no Docker.
#
# Usage: deploy/toxiproxy/toxiproxy.sh install | path
#
#   install   build toxiproxy-server (first time) and print its path.
#   path      print the path of toxiproxy-server; exit 3 if it is not built yet.
#
# Environment (defaults in brackets; <repo> = two levels above this script):
#   CHANGEWARD_TOXIPROXY_HOME   where the binary is kept   [<repo>/.cache/toxiproxy]
#   GO                          the go command             [go]
#
# The suite starts the server itself (`toxiproxy-server -host 127.0.0.1 -port N`) and
# drives it through its HTTP API on that port.
set -euo pipefail

readonly TOXIPROXY_VERSION=v2.12.0
readonly MODULE=github.com/Shopify/toxiproxy/v2

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
HOME_DIR="$(realpath -m "${CHANGEWARD_TOXIPROXY_HOME:-$REPO_ROOT/.cache/toxiproxy}")"
BINARY="$HOME_DIR/bin/toxiproxy-server"
STAMP_FILE="$HOME_DIR/version.stamp"
GO="${GO:-go}"

log() { echo "toxiproxy: $*" >&2; }
die() { echo "toxiproxy: error: $*" >&2; exit 1; }

usage() {
  sed -n '/^# Usage:/,/^#   path/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

built() {
  [[ -x "$BINARY" && -f "$STAMP_FILE" && "$(<"$STAMP_FILE")" == "$TOXIPROXY_VERSION" ]]
}

cmd_install() {
  mkdir -p "$HOME_DIR"
  [[ -e "$HOME_DIR/.gitignore" ]] || echo '*' >"$HOME_DIR/.gitignore"
  # Parallel callers (test sessions) build once, under a lock.
  exec 9>"$HOME_DIR/.lock"
  flock -w 600 9 || die "timed out waiting for another build in $HOME_DIR"
  if ! built; then
    command -v "$GO" >/dev/null || die "go not found: needed once to build Toxiproxy"
    log "building $MODULE/cmd/server@$TOXIPROXY_VERSION into $HOME_DIR/bin"
    local gobin
    gobin="$(mktemp -d "$HOME_DIR/gobin.XXXXXX")"
    GOBIN="$gobin" GOFLAGS=-mod=mod "$GO" install "$MODULE/cmd/server@$TOXIPROXY_VERSION" ||
      { rm -rf "$gobin"; die "go install failed"; }
    mkdir -p "$HOME_DIR/bin"
    mv "$gobin/server" "$BINARY"
    rm -rf "$gobin"
    echo "$TOXIPROXY_VERSION" >"$STAMP_FILE"
  fi
  echo "$BINARY"
}

cmd_path() {
  built || { log "not built yet; run: $0 install"; exit 3; }
  echo "$BINARY"
}

case "${1:-}" in
  install) cmd_install ;;
  path) cmd_path ;;
  *) usage ;;
esac
