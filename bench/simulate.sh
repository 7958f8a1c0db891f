#!/usr/bin/env bash
# Times `pcscale simulate` on the bundled 1350-function day (release build)
# and prints ratios against baselines measured in the same run, so the
# figures survive a noisy shared machine:
#   * "no-pc"   : trace parse + workload generation + the platform replay of
#                 on-demand only (no autoscaler at all);
#   * "pcscale" : the same plus pcscale's policy through the real tick
#                 (one run_tick per function per simulated minute);
#   * "all"     : every policy of the comparison (the default command).
# Each configuration runs RUNS times (default 5); the minimum wall time is
# reported. Peak RSS for 1/4, 1/2 and all functions shows memory growing
# with functions, not invocations.
#
# Usage: bench/simulate.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
cargo build --release --bin pcscale >/dev/null 2>&1 || cargo build --release --bin pcscale
BIN=target/release/pcscale

best() { # best wall seconds of RUNS runs of: $BIN simulate "$@"
  local best=""
  for _ in $(seq "$RUNS"); do
    local s e t
    s=$(date +%s.%N)
    "$BIN" simulate "$@" >/dev/null
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  printf '%.3f' "$best"
}

rss() { # peak RSS in MB of one run
  /usr/bin/time -f '%M' "$BIN" simulate "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'
}

echo "machine: $(nproc) cores, $(uname -sr)"
echo "runs per configuration: $RUNS (minimum wall time, seconds)"
base=$(best --compare no-pc)
pcs=$(best --compare none)
all=$(best)
all1=$(best --threads 1)
printf '%-34s %8s %8s\n' configuration seconds "x no-pc"
printf '%-34s %8s %8s\n' "no-pc only (baseline)" "$base" "1.00"
printf '%-34s %8s %8.2f\n' "pcscale via run_tick (+ no-pc)" "$pcs" "$(echo "$pcs / $base" | bc -l)"
printf '%-34s %8s %8.2f\n' "all 8 policies, 2 threads" "$all" "$(echo "$all / $base" | bc -l)"
printf '%-34s %8s %8.2f\n' "all 8 policies, 1 thread" "$all1" "$(echo "$all1 / $base" | bc -l)"
echo
echo "peak RSS, all policies:"
for n in 337 675 1350; do
  printf '  %4s functions: %s MB\n' "$n" "$(rss --functions "$n")"
done
