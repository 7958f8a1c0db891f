#!/usr/bin/env bash
# The fast replay mode (the default) against the exact one (`--exact`),
# measured in the same run on the same machine (release build, all
# policies, 2 threads unless THREADS is set): wall time (best of RUNS),
# peak RSS (/usr/bin/time -v), and replayed invocation events per second
# (invocations in the trace x policies run / wall seconds).
#
#   * the shipped day (1350 functions, 927,272 invocations);
#   * traces/multiday's 14-day file (1 function) and 5-day file (8
#     functions, 409 million invocations); the exact mode on the 5-day file
#     takes about 8 minutes and 11 GB: it runs only with EXACT_5DAY=1, and
#     otherwise on its one busy Huawei public function alone (21 million
#     invocations, up to 7,457 a minute), both modes;
#   * a synthetic 30-day x 20-function trace at 100,000 invocations a
#     minute (bench/synthetic_trace.sh, written to a temp dir and removed),
#     fast mode only (the exact mode would need 1.4 TB for its invocations).
#
# Usage: bench/simulate_fast.sh [RUNS]   (SKIP_30DAY=1 to leave it out)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
THREADS="${THREADS:-2}"
MULTI="${MULTI:-../shared/traces/multiday}"
cargo build --release --no-default-features --bin pcscale >/dev/null 2>&1 ||
  cargo build --release --no-default-features --bin pcscale
BIN=target/release/pcscale
POLICIES=8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

invocations() { # total invocations of an Azure 2019 layout file (minute columns from the 5th, or 4th for minute_N)
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(minute_)?[0-9]+$/) { first = i; break } next }
           { for (i = first; i <= NF; i++) s += $i } END { printf "%.0f", s }' "$1"
}

measure() { # label events-per-run args... -> one line: label, best wall s, peak RSS MB, events/s
  local label="$1" events="$2"; shift 2
  local best="" rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$tmp/time" "$BIN" simulate --threads "$THREADS" "$@" >"$tmp/out" 2>"$tmp/err" || {
      cat "$tmp/err" >&2; return 1; }
    local t m
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tmp/time")
    m=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time")
    if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
    (( m > rss )) && rss=$m
  done
  printf '%-44s %9.2f %9.1f %12.3g\n' "$label" "$best" "$(echo "$rss / 1024" | bc -l)" "$(echo "$events / $best" | bc -l)"
  echo "$best" >"$tmp/last"
}

ratio() { printf '  -> fast is %.1fx faster than exact\n' "$(echo "$2 / $1" | bc -l)"; }

echo "machine: $(nproc) cores, $(uname -sr); runs: $RUNS (best wall time); threads: $THREADS"
printf '%-44s %9s %9s %12s\n' run "wall s" "RSS MB" "events/s"

day_inv=$(invocations traces/1350_inv.csv)
measure "shipped day, fast" $((day_inv * POLICIES)); f=$(cat "$tmp/last")
measure "shipped day, exact" $((day_inv * POLICIES)) --exact; e=$(cat "$tmp/last")
ratio "$f" "$e"

if [ -f "$MULTI/azure2019_14day_inv.csv" ]; then
  n=$(invocations "$MULTI/azure2019_14day_inv.csv")
  measure "14-day (1 function), fast" $((n * POLICIES)) --trace "$MULTI/azure2019_14day_inv.csv"; f=$(cat "$tmp/last")
  measure "14-day (1 function), exact" $((n * POLICIES)) --trace "$MULTI/azure2019_14day_inv.csv" --exact; e=$(cat "$tmp/last")
  ratio "$f" "$e"
  five="$MULTI/smartpred_5day_inv.csv"
  n=$(invocations "$five")
  measure "5-day (8 functions), fast" $((n * POLICIES)) --trace "$five"; f=$(cat "$tmp/last")
  if [ "${EXACT_5DAY:-0}" = 1 ]; then
    RUNS=1 measure "5-day (8 functions), exact" $((n * POLICIES)) --trace "$five" --exact; e=$(cat "$tmp/last")
    ratio "$f" "$e"
  fi
  pub=21206221
  measure "5-day, HuaweiPublic2023-4 only, fast" $((pub * POLICIES)) --trace "$five" --only HuaweiPublic2023-4; f=$(cat "$tmp/last")
  measure "5-day, HuaweiPublic2023-4 only, exact" $((pub * POLICIES)) --trace "$five" --only HuaweiPublic2023-4 --exact; e=$(cat "$tmp/last")
  ratio "$f" "$e"
else
  echo "($MULTI not found: multi-day files skipped; MULTI=dir to point at them)"
fi

if [ "${SKIP_30DAY:-0}" != 1 ]; then
  bench/synthetic_trace.sh "$tmp/syn" 20 30 100000 >/dev/null
  n=$(invocations "$tmp/syn/synthetic_inv.csv")
  RUNS=1 measure "synthetic 30 days x 20 functions, fast" $((n * POLICIES)) --trace "$tmp/syn/synthetic_inv.csv"
fi
