"""Runs the real dashboard in a pseudo-terminal against `amiwatch simulate` (a separate
process, so the endpoint's work is not counted) and reports:

- CPU time used over a run, from /proc/PID/stat, as a percentage of one core;
- peak RSS (VmHWM);
- time from start to the first frame that shows data ("updated" in the header);
- the endpoint's request count, so requests per poll can be checked.
"""

import argparse
import json
import os
import pty
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def start_sim(amiwatch, tasks, frozen):
    cmd = [amiwatch, "simulate", "--any-key", "--tasks", str(tasks)] + (["--frozen"] if frozen else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, p.stdout.readline().strip()


def stats(url):
    with urllib.request.urlopen(url + "/_sim/stats") as r:
        return json.load(r)["describe_store_image_tasks"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def dashboard(amiwatch, url, args, cols=120, rows=40):
    """Starts the dashboard in a PTY; returns (pid, master fd, output buffer, start time)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows),
                          AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
        os.execv(amiwatch, [amiwatch, "--endpoint-url", url, "--region", "us-east-1"] + args)
    import fcntl, struct, termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def drain(fd, seen, stop):
    while not stop.is_set():
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        seen.append(data)


def measure(amiwatch, tasks, frozen, seconds, args):
    sim, url = start_sim(amiwatch, tasks, frozen)
    try:
        t0 = time.perf_counter()
        pid, fd = dashboard(amiwatch, url, args)
        seen, stop = [], threading.Event()
        threading.Thread(target=drain, args=(fd, seen, stop), daemon=True).start()
        first = None
        while time.perf_counter() - t0 < 20:
            if b"updated" in b"".join(seen[-50:]):
                first = time.perf_counter() - t0
                break
            time.sleep(0.002)
        cpu0, r0, w0 = cpu_seconds(pid), stats(url), time.perf_counter()
        time.sleep(seconds)
        cpu1, r1, w1 = cpu_seconds(pid), stats(url), time.perf_counter()
        rss = peak_rss_mib(pid)
        os.write(fd, b"q")
        os.waitpid(pid, 0)
        stop.set()
        return {"first_frame_ms": None if first is None else first * 1000, "cpu_pct": (cpu1 - cpu0) / (w1 - w0) * 100,
                "peak_rss_mib": rss, "requests": r1 - r0}
    finally:
        sim.terminate()
        sim.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amiwatch", required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--startup-rounds", type=int, default=7)
    a = ap.parse_args()

    runs = [
        ("idle: 500 tasks, frozen data, 5s polls", 500, True, []),
        ("live: 500 tasks moving, 5s polls", 500, False, ["--interval", "5s"]),
        ("idle: 10,000 tasks, frozen data, 5s polls", 10000, True, []),
    ]
    print(f"dashboard in a 120x40 pseudo-terminal, {a.seconds:.0f} s a run, endpoint in its own process")
    for name, tasks, frozen, args in runs:
        r = measure(a.amiwatch, tasks, frozen, a.seconds, args)
        print(f"  {name:45} CPU {r['cpu_pct']:5.2f}% of one core  peak RSS {r['peak_rss_mib']:6.1f} MiB  "
              f"requests {r['requests']} in {a.seconds:.0f} s  first frame {r['first_frame_ms']:.0f} ms")
    starts = [measure(a.amiwatch, 500, True, 0.2, [])["first_frame_ms"] for _ in range(a.startup_rounds)]
    print(f"  start to first frame with data, 500 tasks: median {statistics.median(starts):.0f} ms "
          f"(min {min(starts):.0f}, max {max(starts):.0f}, {len(starts)} runs)")


if __name__ == "__main__":
    main()
