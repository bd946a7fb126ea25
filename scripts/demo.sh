#!/usr/bin/env bash
# syncer demo (`npm run demo`): a real sync and retrieve between two operators, lab-a and lab-b,
# each with its own working repository, its own bare git remote and its own config file, sharing
# one embedded local etcd. Everything happens in a temporary directory (kept with DEMO_KEEP=1);
# the embedded etcd used here is separate from your own (XDG_DATA_HOME points into the temp dir).
#
# Works with or without a TTY (`npm run demo < /dev/null | cat`): it never prompts.
# Exits non-zero as soon as any step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -t 1 ]; then bold=$'\e[1m'; dim=$'\e[2m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
else bold=''; dim=''; green=''; red=''; reset=''; fi

STEP=0
step() { STEP=$((STEP + 1)); printf '\n%s==> [%d] %s%s\n' "$bold" "$STEP" "$*" "$reset"; }
note() { printf '    %s\n' "$*"; }
die() { printf '%sdemo failed: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
step "Checking prerequisites (node, git, etcd) and installing what is missing"
command -v node >/dev/null 2>&1 || die "node is not installed: install Node.js >= 20.19 (https://nodejs.org or your distribution)"
command -v npm >/dev/null 2>&1 || die "npm is not installed: install Node.js >= 20.19 with npm"
# The project's one set-up step (also used by `npm test` and .ci/run): apt-get as root on Debian,
# else it prints the command to run; then `npm ci` when node_modules/ is missing.
bash "$ROOT/scripts/setup.sh" demo || die "set-up failed (see above)"
ETCD_BIN="${SYNCER_ETCD_BIN:-etcd}"   # syncer runs $SYNCER_ETCD_BIN when set, else etcd from PATH
note "node $(node --version)"
note "$(git --version)"
note "$("$ETCD_BIN" --version 2>&1 | sed -n 1p)"
if [ ! -f dist/main.js ]; then
  note "dist/ is missing: npm run build"
  npm run build
else
  note "dist/ present (run \`npm run build\` after changing src/)"
fi

# ---------------------------------------------------------------------------------------------
step "Creating a private playground in a temporary directory"
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/syncer-demo.XXXXXX")"
note "DEMO=$DEMO"

# Isolate everything from the user's own setup: config, data (the embedded etcd), git identity.
# Variables from the caller's environment would override the demo's config files: drop them.
for v in $(compgen -e | grep '^SYNCER_' || true); do unset "$v"; done
[ "$ETCD_BIN" = etcd ] || export SYNCER_ETCD_BIN="$ETCD_BIN"
unset CI || true
export HOME="$DEMO/home"
export XDG_DATA_HOME="$DEMO/data"     # the embedded etcd lives in $XDG_DATA_HOME/syncer/etcd
export XDG_CONFIG_HOME="$DEMO/config/shared"  # each operator gets its own below (see lab())
export SYNCER_NO_INPUT=1              # never prompt, even on a TTY
export GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$DEMO/config/lab-a" "$DEMO/config/lab-b"
git config --global user.name "syncer demo"
git config --global user.email "demo@syncer.invalid"
git config --global init.defaultBranch main

SYNCER_JS="$ROOT/bin/syncer.js"
syncer() { node "$SYNCER_JS" "$@"; }
# `lab OP CMD...` runs CMD as operator OP: its own per-user config dir (signing key, pinned keys of
# peers), as if on its own machine. Both operators share XDG_DATA_HOME, i.e. the embedded etcd.
lab() { local op="$1"; shift; XDG_CONFIG_HOME="$DEMO/config/$op" "$@"; }

# Show a command (with the temp dir abbreviated to $DEMO), then run it; stderr is merged into
# stdout so the output stays in order when piped.
quote() {
  case "$1" in
    '' | *[!A-Za-z0-9_./:=@,+-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}
run() {
  local shown="" who="" skip=0 arg
  if [ "$1" = lab ]; then who="[$2] "; skip=2; fi   # show `[lab-a] $ syncer ...`
  for arg in "${@:$((skip + 1))}"; do shown+="${shown:+ }$(quote "$arg")"; done
  printf '%s%s$ %s%s\n' "$dim" "$who" "${shown//$DEMO/\$DEMO}" "$reset"
  "$@" 2>&1
}

cleanup() {
  local status=$?
  set +e
  if [ -n "${DEMO:-}" ] && [ -d "$DEMO" ]; then
    printf '\n%s==> Cleaning up%s\n' "$bold" "$reset"
    if [ "$status" -ne 0 ] && [ -f "$XDG_DATA_HOME/syncer/etcd/etcd.log" ]; then
      echo "    last lines of the embedded etcd log:"
      tail -n 15 "$XDG_DATA_HOME/syncer/etcd/etcd.log" | sed 's/^/      /'
    fi
    printf '%s$ syncer etcd stop%s\n' "$dim" "$reset"
    syncer etcd stop 2>&1 | sed 's/^/    /'
    if [ "${DEMO_KEEP:-0}" = "1" ]; then
      echo "    DEMO_KEEP=1: kept $DEMO"
      echo "    (to look around: export HOME=$DEMO/home XDG_DATA_HOME=$DEMO/data XDG_CONFIG_HOME=$DEMO/config/lab-b;"
      echo "     syncer --config $DEMO/lab-b.json ls)"
    else
      rm -rf "$DEMO"
      echo "    removed $DEMO (DEMO_KEEP=1 keeps it)"
    fi
  fi
  if [ "$status" -eq 0 ]; then
    printf '\n%sdemo OK%s\n' "$green" "$reset"
  else
    printf '\n%sdemo FAILED (exit %d) at step %d%s\n' "$red" "$status" "$STEP" "$reset" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "Setting up two operators, each with a working repository and its own bare remote"
for op in lab-a lab-b; do
  git init --quiet --bare "$DEMO/remotes/$op.git"
  # Lets peers fetch only the dataset's files (partial clone) from a file:// remote.
  git -C "$DEMO/remotes/$op.git" config uploadpack.allowFilter true
  git init --quiet "$DEMO/$op"
  git -C "$DEMO/$op" remote add origin "file://$DEMO/remotes/$op.git"
  note "$op: repo \$DEMO/$op, remote origin = file://\$DEMO/remotes/$op.git"
done
CFG_A="$DEMO/lab-a.json"
CFG_B="$DEMO/lab-b.json"

# ---------------------------------------------------------------------------------------------
step "syncer init for both operators (flags, no prompts; etcd.hosts unset = embedded local etcd)"
run lab lab-a syncer --config "$CFG_A" init --operator lab-a --repo "$DEMO/lab-a" --import-dir "$DEMO/imports-a" --embedded
run lab lab-b syncer --config "$CFG_B" init --operator lab-b --repo "$DEMO/lab-b" --import-dir "$DEMO/imports-b" --embedded
note "lab-a's config file (mode $(stat -c %a "$CFG_A")):"
sed 's/^/      /' "$CFG_A"; echo
run syncer etcd status

# ---------------------------------------------------------------------------------------------
step "lab-a writes a small dataset weather/ and runs syncer sync --hub weather"
mkdir -p "$DEMO/lab-a/weather"
cat > "$DEMO/lab-a/weather/stations.csv" <<'EOF'
station,name,lat,lon
BER,Berlin Tempelhof,52.47,13.40
MUC,Munich Airport,48.35,11.79
EOF
cat > "$DEMO/lab-a/weather/observations.csv" <<'EOF'
station,time_utc,temp_c,wind_ms
BER,2026-01-01T00:00:00Z,1.4,3.2
BER,2026-01-01T01:00:00Z,1.1,3.6
MUC,2026-01-01T00:00:00Z,-2.3,1.8
MUC,2026-01-01T01:00:00Z,-2.9,1.5
EOF
# Something unrelated in the repo: sync commits only the dataset path (and .syncer/operator.json).
echo "scratch notes, not part of any dataset" > "$DEMO/lab-a/NOTES.txt"
run lab lab-a syncer --config "$CFG_A" sync --hub weather
note "git history of lab-a (NOTES.txt stays uncommitted):"
git -C "$DEMO/lab-a" log --stat --format='%h %s' | sed '/^$/d; s/^/      /'
git -C "$DEMO/lab-a" status --short | sed 's/^/      status: /'
TAG="$(git -C "$DEMO/remotes/lab-a.git" tag -l 'syncer/weather/*' | tail -n 1)"
[ -n "$TAG" ] || die "no syncer/weather/<date> tag on lab-a's remote"
note "tag $TAG on lab-a's remote; its message is the advertisement:"
git -C "$DEMO/remotes/lab-a.git" tag -l --format='%(contents)' "$TAG" | sed '/^$/d; s/^/      /'

# ---------------------------------------------------------------------------------------------
step "The registry (etcd keys under syncer/)"
ENDPOINT="$(syncer --json etcd status | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).endpoint||""))')"
[ -n "$ENDPOINT" ] || die "the embedded etcd is not running"
if command -v etcdctl >/dev/null 2>&1; then
  run env ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINT" get --prefix syncer/ --keys-only | sed '/^$/d'
else
  note "(etcdctl not installed: apt-get install etcd-client to look at the keys)"
fi

# ---------------------------------------------------------------------------------------------
step "lab-b browses the registry"
run lab lab-b syncer --config "$CFG_B" ls
run lab lab-b syncer --config "$CFG_B" ls weather
DATE="$(lab lab-b syncer --config "$CFG_B" --json ls | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const h=JSON.parse(s).find(x=>x.hub==="weather");console.log(h?h.latestDate:"")})')"
[ -n "$DATE" ] || die "lab-b does not see the weather hub"
run lab lab-b syncer --config "$CFG_B" ls weather "$DATE"

# ---------------------------------------------------------------------------------------------
step "lab-b retrieves lab-a's latest weather dataset"
run lab lab-b syncer --config "$CFG_B" retrieve --hub weather --date latest --operator lab-a
TARGET="$DEMO/imports-b/weather/$DATE/lab-a"
[ -d "$TARGET/weather" ] || die "retrieved data not found at $TARGET/weather"
note "retrieved files (\$DEMO/imports-b/weather/$DATE/lab-a):"
(cd "$TARGET" && find . -path ./.git -prune -o -type f -print | sort | sed 's/^/      /')
note "weather/observations.csv:"
sed 's/^/      /' "$TARGET/weather/observations.csv"

advertised_commit() {
  lab lab-b syncer --config "$CFG_B" --json ls weather "$DATE" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const e=JSON.parse(s).find(x=>x.operator==="lab-a");console.log(e?e.commit:"")})'
}
check_head() {
  local advertised head
  advertised="$(advertised_commit)"
  head="$(git -C "$TARGET" rev-parse HEAD)"
  note "advertised commit: $advertised"
  note "checkout HEAD:     $head"
  [ -n "$advertised" ] && [ "$advertised" = "$head" ] || die "HEAD of the checkout is not the advertised commit"
  note "${green}HEAD equals the advertised commit${reset}"
}
check_head
note "lab-b pinned lab-a's signing key on first read (like ssh known_hosts):"
run lab lab-b syncer --config "$CFG_B" operators
note "the checkout is detached and sparse (only weather/ is materialised):"
note "  branch: $(git -C "$TARGET" symbolic-ref -q --short HEAD || echo '(detached HEAD)')"
note "  sparse-checkout: $(git -C "$TARGET" sparse-checkout list | tr '\n' ' ')"
note "  partial clone filter: $(git -C "$TARGET" config --get remote.origin.partialclonefilter || echo '(none: full clone)')"
[ ! -e "$TARGET/NOTES.txt" ] || die "NOTES.txt should not have been synced"

# ---------------------------------------------------------------------------------------------
step "lab-a adds observations and syncs again; lab-b's retrieve updates its checkout in place"
echo "BER,2026-01-01T02:00:00Z,0.8,4.1" >> "$DEMO/lab-a/weather/observations.csv"
run lab lab-a syncer --config "$CFG_A" sync --hub weather --message "weather: add 02:00 observation"
run lab lab-b syncer --config "$CFG_B" retrieve --hub weather --date latest --operator lab-a
check_head
note "last line of weather/observations.csv: $(tail -n 1 "$TARGET/weather/observations.csv")"
[ "$(tail -n 1 "$TARGET/weather/observations.csv")" = "BER,2026-01-01T02:00:00Z,0.8,4.1" ] || die "the update did not arrive"

step "Done: lab-b holds exactly the commit lab-a advertised"
