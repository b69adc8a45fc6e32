# shellcheck shell=bash
# What the scripts that build Go programs into a cache under the home folder share (sourced by
# hack/helm.sh, hack/kstatus/build.sh and hack/localcluster/cluster.sh): finding the Go
# toolchain, one build at a time per cache folder, and a progress line every 30 s while a long
# build runs. The caller defines `log` (to stderr) and `die`.

# Sets GO: $GO if set, else `go` on PATH, else /usr/local/go/bin/go; dies without one.
go_find() {
  if [[ -n "${GO:-}" ]]; then return 0; fi
  if command -v go >/dev/null 2>&1; then GO=go
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
  else die "no Go toolchain found (set GO=/path/to/go)"
  fi
}

# Takes the build lock of a cache folder on file descriptor 9 (held until the script exits or
# closes it), saying so when another build holds it.
go_build_lock() { # DIR WHAT
  exec 9>"$1/.build.lock"
  if ! flock -n 9; then
    log "another build of $2 is running; waiting for it…"
    flock 9
  fi
}

GO_TICKER_PID=""
# Prints "still building NAME… Ns" every 30 s until go_ticker_stop.
go_ticker_start() { # NAME START_EPOCH_SECONDS [PREFIX]
  local name=$1 start=$2 prefix=${3:-  }
  # The trap kills its sleep too, so no stray child keeps our stderr open.
  ( sp=""; trap 'kill $sp 2>/dev/null; exit 0' TERM
    while :; do sleep 30 & sp=$!; wait "$sp"; log "${prefix}still building ${name}… $(( $(date +%s) - start ))s"; done ) &
  GO_TICKER_PID=$!
}

go_ticker_stop() {
  if [[ -n "$GO_TICKER_PID" ]]; then
    kill "$GO_TICKER_PID" 2>/dev/null || true
    wait "$GO_TICKER_PID" 2>/dev/null || true
  fi
  GO_TICKER_PID=""
}
