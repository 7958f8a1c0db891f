#!/usr/bin/env bash
# The test command (README, .ci/run): installs the emulators if needed,
# starts ONE pair for the whole run, runs the tests, stops them.
#
#   scripts/test.sh                       # every target: cargo test --all-targets
#   scripts/test.sh --test e2e_tick       # only that target
#   scripts/test.sh [cargo test arguments]
#
# Arguments go to `cargo test --no-fail-fast`. Unless they choose targets
# themselves (--lib, --bin(s), --test(s), --bench(es), --example(s), --doc,
# --all-targets), --all-targets is added, so `scripts/test.sh -- --nocapture`
# or a test-name filter still covers every target. PCSCALE_TEST_SH_DRY_RUN=1
# prints the cargo command and exits before anything is installed or started.
#
# moto (DynamoDB) and LocalStack in host mode (CloudWatch, Lambda) listen on
# 127.0.0.1 and free ports; the tests find them through
# PCSCALE_TEST_MOTO_URL / PCSCALE_TEST_LOCALSTACK_URL and pass them to the
# code under test only as AWS_ENDPOINT_URL_* (tests/support). Test binaries
# run alone (`cargo test --test e2e_tick`) start their own pair instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Whether the arguments (before a lone `--`) choose cargo's targets.
chooses_targets() {
  local a
  for a in "$@"; do
    case "$a" in
      --) return 1 ;;
      --lib | --bins | --tests | --benches | --examples | --doc | --all-targets) return 0 ;;
      --bin | --bin=* | --test | --test=* | --bench | --bench=* | --example | --example=*) return 0 ;;
    esac
  done
  return 1
}
cargo_args=(test --no-fail-fast)
if ! chooses_targets "$@"; then cargo_args+=(--all-targets); fi
cargo_args+=("$@")
if [ "${PCSCALE_TEST_SH_DRY_RUN:-}" = 1 ]; then
  echo "cargo ${cargo_args[*]}"
  exit 0
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_setup=$(now)
scripts/setup-emulators.sh
echo "test.sh: emulator venvs ready in $(since "$t_setup") s" >&2

PY=.venv/bin/python
dir=$(mktemp -d "${TMPDIR:-/tmp}/pcscale-test.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  # LocalStack's own shutdown can hang on its Lambda service: give it a
  # moment, then stop what is left, by PID.
  for _ in $(seq 1 20); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then
    echo "test.sh: failed (exit $rc); emulator logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until GET URL answers 200 (60 s at most).
wait_ready() { # NAME URL LOG
  "$PY" - "$@" <<'EOF'
import sys, time, urllib.request
name, url, log = sys.argv[1:4]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.stderr.write(f"test.sh: {name} not ready after 60 s; last lines of {log}:\n")
sys.stderr.writelines(open(log).readlines()[-30:])
sys.exit(1)
EOF
}

t_emu=$(now)
moto_port=$(free_port)
ls_port=$(free_port)
"$PY" tests/support/emulator.py moto --port "$moto_port" --watch-pid $$ \
  >"$dir/moto.log" 2>&1 &
pids+=($!)
"$PY" tests/support/emulator.py localstack --port "$ls_port" --data-dir "$dir/localstack" \
  --watch-pid $$ >"$dir/localstack.log" 2>&1 &
pids+=($!)
wait_ready moto "http://127.0.0.1:$moto_port/moto-api/" "$dir/moto.log"
wait_ready localstack "http://127.0.0.1:$ls_port/_localstack/health" "$dir/localstack.log"
echo "test.sh: moto on 127.0.0.1:$moto_port, LocalStack on 127.0.0.1:$ls_port, up in $(since "$t_emu") s" >&2

export PCSCALE_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
export PCSCALE_TEST_LOCALSTACK_URL="http://127.0.0.1:$ls_port"
t_test=$(now)
cargo "${cargo_args[@]}"
echo "test.sh: cargo ${cargo_args[*]} passed in $(since "$t_test") s (total $(since "$t_setup") s)" >&2
