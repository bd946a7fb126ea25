#!/usr/bin/env bash
# The one set-up step of the project: `npm run demo`, `npm test` and `.ci/run` all call it.
#
#   bash scripts/setup.sh demo   what the demo needs: node >= 20.19, git, etcd (+ etcdctl)
#   bash scripts/setup.sh test   what the test suite needs: the above and git-lfs, faketime,
#                                openssl, python3, PostgreSQL, OpenSSH's sshd and ssh, lighttpd
#                                with TLS (the tests start these servers themselves on loopback)
#
# Missing system packages are installed with apt-get when running as root on Debian/Ubuntu;
# otherwise the script prints the one apt-get command to run and exits 1. Then node_modules is
# installed with `npm ci` when it is missing. Idempotent and quiet when everything is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

profile="${1:-test}"
case "$profile" in
  demo | test) ;;
  *) echo "usage: bash scripts/setup.sh demo|test" >&2; exit 2 ;;
esac

say() { printf 'setup: %s\n' "$*" >&2; }

node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  say "Node.js $(node --version) is too old: syncer needs >= 20.19"
  exit 1
}

# "check:package" pairs: a check passes when the command is on PATH or the file exists.
ETCD_BIN="${SYNCER_ETCD_BIN:-etcd}"
needs=("$ETCD_BIN:etcd-server" "etcdctl:etcd-client" "git:git")
if [ "$profile" = test ]; then
  needs+=(
    "git-lfs:git-lfs"
    "faketime:faketime"
    "openssl:openssl"
    "python3:python3"
    "/usr/sbin/sshd:openssh-server"
    "ssh:openssh-client"
    "ssh-keygen:openssh-client"
    "/usr/sbin/lighttpd:lighttpd"
    "/usr/lib/lighttpd/mod_openssl.so:lighttpd-mod-openssl"
    "/usr/lib/git-core/git-http-backend:git"
    "pg:postgresql"
  )
fi

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    # PostgreSQL's server binaries are not on PATH: look where Debian puts them.
    pg) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for pair in "${needs[@]}"; do
  check="${pair%:*}"
  pkg="${pair##*:}"
  present "$check" || missing+=("$pkg")
done
# one name per package, in order
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Packages with services (sshd, lighttpd, postgresql) must not start them here: the tests
    # start their own on free loopback ports. policy-rc.d is Debian's switch for that.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1; fi
    status=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || status=$?
    [ "$made_policy" -eq 0 ] || rm -f "$policy"
    [ "$status" -eq 0 ] || { say "apt-get install failed (exit $status)"; exit 1; }
  else
    say "missing: ${missing[*]}"
    say "install them, then run this again:"
    say "    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules (npm ci)"
  npm ci --no-audit --no-fund >&2
fi
