# shellcheck shell=bash
# Assertions for the shell-driven tiers (tests/image/smoke.sh, tests/node/run.sh), sourced.
# Each check prints "ok - …" or "FAILED - …"; a failed check ends the run at once (what follows
# would only fail for the same reason). `summary` prints the closing "N passed, N failed" line.
PASSED=0
FAILED=0
TIER="${TIER:-test}"
pass() { PASSED=$((PASSED + 1)); printf '  ok - %s\n' "$*" >&2; }
fail() {
  FAILED=$((FAILED + 1))
  printf '  FAILED - %s\n' "$*" >&2
  summary
  exit 1
}
# check DESCRIPTION COMMAND…: passes when COMMAND succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() { if [[ "$2" == "$3" ]]; then pass "$1 ($3)"; else fail "$1: expected '$2', got '$3'"; fi; }
# eventually TIMEOUT_S DESCRIPTION COMMAND…: retries COMMAND every second until it succeeds;
# prints how long it took.
eventually() {
  local timeout=$1 d=$2 start=$SECONDS; shift 2
  while ! "$@" >/dev/null 2>&1; do
    if (( SECONDS - start >= timeout )); then fail "$d (not within ${timeout}s)"; fi
    sleep 1
  done
  pass "$d (after $((SECONDS - start))s)"
}
summary() { printf '%s: %d passed, %d failed\n' "$TIER" "$PASSED" "$FAILED"; }
step() { printf '\033[1m==> [%s] %s\033[0m\n' "$TIER" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
