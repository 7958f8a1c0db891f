#!/usr/bin/env python3
"""How fast each mode reacts in AWS, measured in the simulator.

Each scenario is a synthetic one-function `timestamp,concurrency` trace
replayed by `pcscale simulate --compare none --timeline`, through the real
tick, with CloudWatch publishing each minute `--metric-delay` seconds after
it ends (60, 120, 180: what AWS takes) and pcscale assuming the deployed
default `PCSCALE_METRIC_DELAY_SECONDS` (180), once with the deployed
`QuietEveryMinutes` 3 (an alias idle for 30 minutes is decided every third
minute) and once deciding every alias every tick. The reaction time is the
number of minutes from the first minute of the rise to the first minute
whose end has the provisioned concurrency the rise needs usable (the
timeline's `pcscale_pc_usable`).

  * demand mode: 0 -> 70 concurrent at minute 60, TargetValue 0.7 -> 100;
  * utilisation mode: 5 concurrent on PC 10 (MinCapacity 10), then 30 at
    minute 60: AWS's formula cannot see past 100 %, so it steps
    10 -> 15 -> 22 -> 32 -> 43; the first step and full cover are shown;
  * cold-start mode (the default policy): 10 concurrent for one minute every
    15 minutes from minute 60 (a timer whose every run is 10 cold starts):
    the minute the first PC unit is usable, and full cover of a run.

Usage: bench/reaction.py [path/to/pcscale]   (default target/release/pcscale)
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/pcscale"
RISE = 60
MINUTES = 150
T0 = 1_700_000_040 - (1_700_000_040 % 86400)  # a midnight, UTC


def trace(path, level):
    with open(path, "w") as f:
        f.write("timestamp,concurrency\n")
        for m in range(MINUTES):
            f.write(f"{T0 + 60 * m},{level(m)}\n")


def policy(path, tt, min_capacity=0):
    doc = {
        "pk": "function:simulated:live",
        "MinCapacity": min_capacity,
        "MaxCapacity": 1000,
        "TargetTracking": tt,
    }
    with open(path, "w") as f:
        json.dump(doc, f)


def timeline(dir, name, delay, policy_path, trace_path, quiet):
    out = os.path.join(dir, f"{name}-{delay}-{quiet}.csv")
    args = [BIN, "simulate", "--trace", trace_path, "--compare", "none",
            "--min-peak", "0", "--warmup", "0", "--metric-delay", str(delay),
            "--quiet-every", str(quiet), "--timeline", out, "--output", "json"]
    if policy_path:
        args += ["--policy", policy_path]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    usable = [0] * MINUTES  # minutes left out of the timeline are idle, without PC
    with open(out) as f:
        for r in csv.DictReader(f):
            usable[int(r["minute"])] = int(r["pcscale_pc_usable"])
    return usable


def first(usable, need, since=RISE):
    for m in range(since, len(usable)):
        if usable[m] >= need:
            return m - since + 1  # the minute's end: minutes since the rise began
    return None


def main():
    d = tempfile.mkdtemp(prefix="pcscale-reaction-")
    demand_t, util_t, cold_t = (os.path.join(d, n) for n in ("demand.csv", "util.csv", "cold.csv"))
    trace(demand_t, lambda m: 70 if m >= RISE else 0)
    trace(util_t, lambda m: 30 if m >= RISE else 5)
    trace(cold_t, lambda m: 10 if m >= RISE and (m - RISE) % 15 == 0 else 0)
    demand_p, util_p = os.path.join(d, "demand.json"), os.path.join(d, "util.json")
    policy(demand_p, {"TargetValue": 0.7, "ScaleOutCooldown": 0, "ScaleInCooldown": 600})
    policy(util_p, {"TargetValue": 0.7, "Metric": "ProvisionedConcurrencyUtilization",
                    "ScaleOutCooldown": 0, "ScaleInCooldown": 600}, min_capacity=10)
    print("| mode | CloudWatch delay | deployed (quiet aliases every 3 min) | every alias every tick |")
    print("|---|---|---|---|")
    runs = lambda name, policy_path, trace_path, delay: [
        timeline(d, name, delay, policy_path, trace_path, q) for q in (3, 1)]
    for delay in (60, 120, 180):
        a, b = runs("demand", demand_p, demand_t, delay)
        print(f"| demand (0 -> 70, needs 100) | {delay} s | {first(a, 100)} | {first(b, 100)} |")
    for delay in (60, 120, 180):
        a, b = runs("util", util_p, util_t, delay)
        print(f"| utilisation (5 -> 30 on PC 10): first step / full 43 | {delay} s | "
              f"{first(a, 11)} / {first(a, 43)} | {first(b, 11)} / {first(b, 43)} |")
    for delay in (60, 120, 180):
        a, b = runs("cold", None, cold_t, delay)
        print(f"| cold-start, default policy (10 every 15 min): first unit | {delay} s | "
              f"{first(a, 1)} | {first(b, 1)} |")


if __name__ == "__main__":
    main()
