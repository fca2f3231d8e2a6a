"""Requests per hour of a dashboard left open, old way and new way side by side, counted by
the endpoint (see BENCHMARKS.md, "Polling").

Old: every poll a full sweep (--sweep-interval equal to --interval). New: the default, a sweep
every 5 minutes and fast polls between. Each runs the real dashboard in a pseudo-terminal
against its own `amiwatch simulate`, for the same time, at the same moment.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from bench_dashboard import cpu_seconds, dashboard, drain, stats  # noqa: E402


def start_sim(amiwatch, tasks, moving, extra=()):
    cmd = [amiwatch, "simulate", "--any-key", "--tasks", str(tasks), "--moving", str(moving), *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, p.stdout.readline().strip()


def run(amiwatch, tasks, moving, seconds, args, throttle_for=0, log=None):
    """One dashboard for `seconds`; returns (requests, CPU seconds, the log's polls)."""
    sim, url = start_sim(amiwatch, tasks, moving)
    try:
        if throttle_for:
            urllib.request.urlopen(urllib.request.Request(url + "/_sim/throttle?percent=20", method="POST"))
        extra = ["--log-file", log] if log else []
        pid, fd = dashboard(amiwatch, url, args + extra)
        seen, stop = [], threading.Event()
        threading.Thread(target=drain, args=(fd, seen, stop), daemon=True).start()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            if throttle_for and time.perf_counter() - t0 >= throttle_for:
                urllib.request.urlopen(urllib.request.Request(url + "/_sim/throttle?percent=0", method="POST"))
                throttle_for = 0
            time.sleep(0.5)
        cpu = cpu_seconds(pid)
        n = stats(url)
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        stop.set()
        return n, cpu
    finally:
        sim.terminate()
        sim.wait()


def side_by_side(amiwatch, tasks, moving, seconds):
    out = {}

    def one(name, args):
        out[name] = run(amiwatch, tasks, moving, seconds, args)

    threads = [
        threading.Thread(target=one, args=("old", ["--interval", "5s", "--sweep-interval", "5s"])),
        threading.Thread(target=one, args=("new", ["--interval", "5s"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_hour = {k: (v[0] * 3600 / seconds, v[1] * 3600 / seconds) for k, v in out.items()}
    print(f"{tasks} tasks, {moving} in progress, 5 s interval, {seconds} s run:")
    for k in ("old", "new"):
        n, cpu = out[k]
        print(f"  {k}: {n} requests = {per_hour[k][0]:,.0f}/hour; dashboard CPU {cpu:.2f} s = {per_hour[k][1]:.0f} s/hour")
    print(f"  new/old requests: 1/{per_hour['old'][0] / max(per_hour['new'][0], 1):.1f}")


def throttled(amiwatch, seconds):
    log = f"/tmp/amiwatch-bench-throttle-{os.getpid()}.log"
    if os.path.exists(log):
        os.remove(log)
    n, _ = run(amiwatch, 10000, 30, seconds, ["--interval", "5s"], throttle_for=seconds / 2, log=log)
    polls = [l for l in open(log) if "polled" in l]
    waits = [float(m.group(1)) for l in polls if (m := re.search(r"next_in=(\d+(?:\.\d+)?)s", l))]
    sizes = {m.group(1) for l in polls if (m := re.search(r" tasks=(\d+)", l))}
    half = len(waits) // 2
    print(f"10000 tasks, 30 in progress, 20% throttled for {seconds / 2:.0f} s then clean for {seconds / 2:.0f} s:")
    print(f"  {len(polls)} polls, {n} requests; snapshot sizes seen: {sorted(sizes)} (every snapshot complete)")
    print(f"  interval in force (s), poll by poll: {' '.join(f'{w:g}' for w in waits)}")
    print(f"  longest while throttled: {max(waits[:half] or [0]):g} s; at the end: {waits[-1] if waits else 0:g} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--amiwatch", default="target/release/amiwatch")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--only", choices=["large", "all-moving", "throttled"], help="one of the three runs")
    a = ap.parse_args()
    if a.only in (None, "large"):
        side_by_side(a.amiwatch, 10000, 30, a.seconds)
    if a.only in (None, "all-moving"):
        side_by_side(a.amiwatch, 500, 500, min(a.seconds, 120))
    if a.only in (None, "throttled"):
        throttled(a.amiwatch, 240)
