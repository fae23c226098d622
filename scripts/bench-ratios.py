#!/usr/bin/env python3
"""Print criterion medians and spoolq/floor throughput ratios from target/criterion.

Run after `cargo bench`:  python3 scripts/bench-ratios.py [target/criterion]

For every benchmark group that has a `floor*` member, each other member is compared
with its floor: ratio = floor time / member time (1.0 = as fast as the floor). Members
named `X` pair with `floor_X` when it exists, else with `floor`.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "criterion")
groups = {}
for dirpath, dirnames, filenames in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in filenames:
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        median_ns = est["median"]["point_estimate"]
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = median_ns

print(f"{'group':<28} {'member':<16} {'median':>10} {'per s':>9} {'floor':>16} {'ratio':>6}")
for group in sorted(groups):
    members = groups[group]
    for name in sorted(members):
        ns = members[name]
        floor_name = None
        if not name.startswith("floor"):
            floor_name = f"floor_{name}" if f"floor_{name}" in members else (
                "floor" if "floor" in members else None)
        ratio = f"{members[floor_name] / ns:6.2f}" if floor_name else ""
        unit = f"{ns / 1000:8.1f}us" if ns < 1e6 else f"{ns / 1e6:8.2f}ms"
        print(f"{group:<28} {name:<16} {unit:>10} {1e9 / ns:9.0f} {floor_name or '':>16} {ratio:>6}")
