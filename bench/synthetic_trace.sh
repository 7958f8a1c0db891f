#!/usr/bin/env bash
# Writes a synthetic Azure 2019 layout trace of FUNCTIONS functions x DAYS
# days with a mean of RATE invocations a minute each (a diurnal sine of
# +-30 %, each function with its own phase), plus its _run.csv and _mem.csv
# (the median function's durations and the median app's memory of the
# bundled day, as traces/multiday/SOURCES.md assumes for its functions).
#
# Usage: bench/synthetic_trace.sh DIR [FUNCTIONS] [DAYS] [RATE] -> DIR/synthetic_inv.csv
set -euo pipefail
dir="$1"; fns="${2:-20}"; days="${3:-30}"; rate="${4:-100000}"
mkdir -p "$dir"
awk -v fns="$fns" -v minutes="$((days * 1440))" -v rate="$rate" 'BEGIN {
  printf "HashOwner,HashApp,HashFunction,Trigger";
  for (m = 1; m <= minutes; m++) printf ",%d", m;
  printf "\n";
  pi = 3.141592653589793;
  for (f = 0; f < fns; f++) {
    id = sprintf("synthetic%02d", f);
    printf "%s,%s,%s,http", id, id, id;
    for (m = 0; m < minutes; m++)
      printf ",%d", int(rate * (1 + 0.3 * sin(2 * pi * m / 1440 + f)) + 0.5);
    printf "\n";
  }
}' > "$dir/synthetic_inv.csv"
{
  echo "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100"
  for f in $(seq 0 $((fns - 1))); do
    id=$(printf 'synthetic%02d' "$f")
    echo "$id,$id,$id,688,1000,16,10901,16,80,362,514,774,3334,10901"
  done
} > "$dir/synthetic_run.csv"
{
  echo "HashOwner,HashApp,SampleCount,AverageAllocatedMb"
  for f in $(seq 0 $((fns - 1))); do
    id=$(printf 'synthetic%02d' "$f")
    echo "$id,$id,100,142"
  done
} > "$dir/synthetic_mem.csv"
echo "$dir/synthetic_inv.csv"
