#!/usr/bin/env python3
"""Reads benchmark JSON lines (impl "swift" and "go") from stdin; prints a Markdown table of medians and ratios."""
import json
import statistics
import sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    for key, value in r.items():
        if key in ("name", "impl", "ops"):
            continue
        rows[r["name"]][key][r["impl"]].append(value)

print("| benchmark | metric | Swift | Go 1.27 | Swift/Go |")
print("|---|---|---|---|---|")
for name in rows:
    for metric in ("ns_per_op", "wall_ms", "lag_p50_us", "lag_p99_us", "lag_mean_us", "lag_max_us",
                   "rss_per_goroutine_bytes", "rss_per_conn_bytes", "threads", "mib_per_s", "peak_rss_kib", "rss_after_release_kib"):
        values = rows[name].get(metric)
        if not values or "swift" not in values or "go" not in values:
            continue
        s, g = statistics.median(values["swift"]), statistics.median(values["go"])
        ratio = f"{s / g:.2f}x" if g else "n/a"
        print(f"| {name} | {metric} | {s:.4g} | {g:.4g} | {ratio} |")
