#!/usr/bin/env bash
# The cold starts / cost frontier of pcscale's cold-start-aware policy on the
# bundled Azure day, against the vendor baselines, all from one build and one
# set of arrivals (same seed). Prints one row per policy variant.
#   bench/frontier.sh            # the grid recorded in bench/RESULTS.md
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin pcscale
bin=target/release/pcscale
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

row() { # NAME JSON
  python3 -c '
import json,sys
name=sys.argv[1]; d=json.load(sys.stdin)
for p in d["policies"]:
    if p["policy"] in ("no-pc",) and name!="baselines": continue
    label = p["policy"] if name=="baselines" else name
    print("%-44s %7d %8.2f %10.6f %6d" % (label, p["cold_starts"], p["cost_total"], p["dollars_per_avoided_cold_start"] or 0, p["lambda_write_calls"]))
' "$1"
}

printf '%-44s %7s %8s %10s %6s\n' policy cold cost\$ \$/avoided writes
"$bin" simulate --compare no-pc,aws-tt-avg,aws-tt-max,tencent,alibaba,oracle --output json 2>/dev/null | row baselines
policy() { # T LOOKBACK BASEFACTOR FOLLOW TARGET
  cat > "$tmp/p.json" <<JSON
{"pk":"function:simulated:live","sk":"policy","MinCapacity":0,"MaxCapacity":1000,
 "TargetTracking":{"TargetValue":$5,"ScaleInCooldown":600,
  "ColdStarts":{"MinColdStartsPerInstanceHour":$1,"LookbackMinutes":$2,"BaseLoadFactor":$3,"FollowDemand":$4}}}
JSON
  "$bin" simulate --policy "$tmp/p.json" --compare pcscale --output json 2>/dev/null |
    row "pcscale T=$1 lookback=$2 base=$3 follow=$4 tv=$5"
}
for t in 0.75 1 1.25 1.5 2; do policy "$t" 480 1.0 false 0.7; done
for t in 0.75 1; do policy "$t" 720 1.0 false 0.7; done
for t in 1 1.5; do policy "$t" 480 0 false 0.7; done
policy 1 480 1.0 true 1.0
cat > "$tmp/p.json" <<JSON
{"pk":"function:simulated:live","sk":"policy","MinCapacity":0,"MaxCapacity":1000,
 "TargetTracking":{"TargetValue":0.7,"ScaleInCooldown":600}}
JSON
"$bin" simulate --policy "$tmp/p.json" --compare pcscale --output json 2>/dev/null | row "pcscale demand-following tv=0.7 (no ColdStarts)"
