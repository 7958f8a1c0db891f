#!/usr/bin/env python3
"""Sweeps pcscale policy settings on the bundled day through the real tick
(`pcscale simulate --compare none`) and prints cold starts, cost and dollars
per avoided cold start of each, next to the baselines of one full run.

Usage: bench/frontier.py [extra `pcscale simulate` flags...]
Needs a release build (`cargo build --release`)."""
import json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pcscale")
EXTRA = sys.argv[1:]

def simulate(policy=None, compare="none"):
    args = [BIN, "--output", "json", "simulate", "--compare", compare] + EXTRA
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        if policy is not None:
            json.dump(policy, f)
            args += ["--policy", f.name]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return {r["policy"]: r for r in json.loads(out)["policies"]}

def item(tt):
    return {"pk": "function:simulated:live", "sk": "policy", "MinCapacity": 0,
            "MaxCapacity": 1000, "TargetTracking": tt}

def demand(tv, cooldown=600):
    return {"TargetValue": tv, "Metric": "ConcurrentExecutions", "ScaleInCooldown": cooldown}

def cold(t, lookback=480, follow=False, tv=0.7, periodic=True, **base):
    cs = {"MinColdStartsPerInstanceHour": t, "LookbackMinutes": lookback,
          "KeepAliveSeconds": 300, "FollowDemand": follow, "PreWarmPeriodic": periodic}
    cs.update(base)
    return dict(demand(tv), ColdStarts=cs)

CONFIGS = [
    ("demand-following, target 0.7, scale-in 600 s", demand(0.7)),
    ("demand-following, target 1.0, scale-in 600 s", demand(1.0)),
    ("demand-following, target 1.0, scale-in 1200 s", demand(1.0, 1200)),
] + [
    (f"cold-start level T={t}/h, look-back {lb} min", cold(t, lb))
    for t in (0.5, 0.75, 1, 1.25, 1.5, 1.75, 2) for lb in (480,)
] + [
    (f"cold-start level T={t}/h, 480 min, no periodic pre-warm", cold(t, 480, periodic=False))
    for t in (1.25, 1.5)
] + [
    (f"cold-start level T={t}/h, 480 min, base load 1.0 x 60 min",
     cold(t, 480, BaseLoadFactor=1.0, BaseLoadWindowMinutes=60))
    for t in (1.25, 1.5)
] + [
    ("cold-start level T=1.5/h, 240 min", cold(1.5, 240)),
    ("cold-start level T=1.5/h, 1440 min", cold(1.5, 1440)),
    ("cold-start level T=1/h + follow demand 0.7", cold(1, 480, True, 0.7)),
    ("cold-start level T=1.5/h + follow demand 1.0", cold(1.5, 480, True, 1.0)),
    ("cold-start level T=2/h + follow demand 1.0", cold(2, 480, True, 1.0)),
]

base = simulate(compare="all")
oracle = base["oracle"]["dollars_per_avoided_cold_start"]
aws = base["aws-tt-avg"]
print(f"| policy | cold starts | x AWS | cost $ | x AWS | $/avoided cold | x oracle |")
print("|---|---|---|---|---|---|---|")
def row(name, r):
    per = r["dollars_per_avoided_cold_start"]
    print(f"| {name} | {r['cold_starts']} | {r['cold_starts'] / aws['cold_starts']:.2f} | "
          f"{r['cost_total']:.2f} | {r['cost_total'] / aws['cost_total']:.2f} | "
          f"{per if per is None else round(per, 6)} | {'-' if per is None else round(per / oracle, 1)} |",
          flush=True)
for name in ("no-pc", "aws-tt-avg", "aws-tt-max", "tencent", "alibaba", "static-p99", "oracle",
             "pcscale"):
    row(name + (" (bundled default)" if name == "pcscale" else ""), base[name])
for name, tt in CONFIGS:
    row("pcscale: " + name, simulate(item(tt))["pcscale"])
