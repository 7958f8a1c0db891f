#!/usr/bin/env bash
# The shipped day (traces/1350_inv.csv, all 8 policies) in the fast mode
# against `--exact`, in the same run: CPU time (user + system, which the
# machine's other load disturbs less than wall time) and wall time, best of
# RUNS, the two modes alternating; then the ratio fast / exact and every
# row of both tables side by side (spill-over, cold starts, cost), with
# the largest difference.
#
# Usage: bench/fast_vs_exact_day.sh [RUNS]   (THREADS=1 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
THREADS="${THREADS:-1}"
cargo build --release --no-default-features --bin pcscale >/dev/null 2>&1 ||
  cargo build --release --no-default-features --bin pcscale
BIN=target/release/pcscale
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best_cpu_fast="" best_cpu_exact="" best_wall_fast="" best_wall_exact=""
for r in $(seq "$RUNS"); do
  for mode in fast exact; do
    flag=(); [ "$mode" = exact ] && flag=(--exact)
    /usr/bin/time -f '%U %S %e' -o "$tmp/time" "$BIN" simulate --threads "$THREADS" "${flag[@]}" \
      --output json >"$tmp/$mode.json" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    read -r u s e <"$tmp/time"
    cpu=$(echo "$u + $s" | bc -l)
    printf 'run %d %-5s cpu %6.2f s  wall %6.2f s\n' "$r" "$mode" "$cpu" "$e"
    eval "bc_=\${best_cpu_$mode}"; eval "bw_=\${best_wall_$mode}"
    if [ -z "$bc_" ] || (( $(echo "$cpu < $bc_" | bc -l) )); then eval "best_cpu_$mode=$cpu"; fi
    if [ -z "$bw_" ] || (( $(echo "$e < $bw_" | bc -l) )); then eval "best_wall_$mode=$e"; fi
  done
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads: $THREADS; best of $RUNS"
printf 'best cpu:  fast %.2f s, exact %.2f s, fast / exact = %.3f\n' \
  "$best_cpu_fast" "$best_cpu_exact" "$(echo "$best_cpu_fast / $best_cpu_exact" | bc -l)"
printf 'best wall: fast %.2f s, exact %.2f s, fast / exact = %.3f\n' \
  "$best_wall_fast" "$best_wall_exact" "$(echo "$best_wall_fast / $best_wall_exact" | bc -l)"
python3 - "$tmp/exact.json" "$tmp/fast.json" <<'PY'
import json, sys
e, f = (json.load(open(p)) for p in sys.argv[1:3])
print("| policy | spill-over exact | fast | diff | cold starts exact | fast | diff | cost $ exact | fast | diff |")
print("|---|---|---|---|---|---|---|---|---|---|")
worst = 0.0
for a, b in zip(e["policies"], f["policies"]):
    cells = [a["policy"]]
    for key, fmt in (("spill_over", "{}"), ("cold_starts", "{}"), ("cost_total", "{:.3f}")):
        x, y = a[key], b[key]
        d = 0.0 if x == y else (y - x) / x * 100 if x else float("inf")
        worst = max(worst, abs(d))
        cells += [fmt.format(x), fmt.format(y), f"{d:+.2f} %"]
    print("| " + " | ".join(cells) + " |")
print(f"largest difference on any row: {worst:.2f} %")
PY
