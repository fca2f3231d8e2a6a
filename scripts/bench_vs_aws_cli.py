"""Times `amiwatch --once --output json` against `aws ec2 describe-store-image-tasks` on the
same embedded endpoint, alternating rounds, and checks both return the same tasks.

Prints, per size: the median (and min-max) wall time, CPU time (user+sys) and peak RSS of
each tool, the ratios, and the requests each made (counted by the endpoint)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime


def start_sim(amiwatch, tasks):
    p = subprocess.Popen([amiwatch, "simulate", "--any-key", "--tasks", str(tasks), "--frozen"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = p.stdout.readline().strip()
    if not url.startswith("http://"):
        sys.exit(f"simulate did not print its URL: {url!r}")
    return p, url


def requests_so_far(url):
    with urllib.request.urlopen(url + "/_sim/stats") as r:
        return json.load(r)["describe_store_image_tasks"]


def run(cmd, env, out_path):
    """Runs cmd with stdout to a file; returns wall seconds, CPU seconds, peak RSS in MiB.

    CPU and peak RSS come from GNU time, which runs the command: the rusage Python would get
    from its own child counts the Python parent's memory at fork time in ru_maxrss."""
    stats = out_path + ".time"
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", stats] + cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode()}")
    with open(stats) as f:
        user, system, maxrss_kib = f.read().split()[-3:]
    return wall, float(user) + float(system), int(maxrss_kib) / 1024


def task_keys(path):
    with open(path) as f:
        doc = json.load(f)
    out = []
    for t in doc["StoreImageTaskResults"]:
        start = datetime.fromisoformat(t["TaskStartTime"].replace("Z", "+00:00")).timestamp()
        out.append((t.get("AmiId"), start, t.get("Bucket"), t.get("S3objectKey"), t.get("ProgressPercentage"),
                    t.get("StoreTaskState"), t.get("StoreTaskFailureReason")))
    return out


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amiwatch", required=True)
    ap.add_argument("--aws", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("sizes", nargs="+", type=int)
    a = ap.parse_args()

    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
               AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        env.pop(k, None)
    tmp = tempfile.mkdtemp(prefix="amiwatch-bench-")
    rows = []
    for n in a.sizes:
        sim, url = start_sim(a.amiwatch, n)
        try:
            tools = {
                "amiwatch": [a.amiwatch, "--once", "--output", "json", "--endpoint-url", url, "--region", "us-east-1"],
                "aws-cli": [a.aws, "ec2", "describe-store-image-tasks", "--page-size", "200", "--output", "json",
                            "--endpoint-url", url, "--region", "us-east-1"],
            }
            results = {k: {"wall": [], "cpu": [], "rss": [], "requests": None} for k in tools}
            # One warm-up each, which also checks the outputs and counts requests.
            for name, cmd in tools.items():
                before = requests_so_far(url)
                run(cmd, env, os.path.join(tmp, f"{name}.json"))
                results[name]["requests"] = requests_so_far(url) - before
            ours, theirs = task_keys(os.path.join(tmp, "amiwatch.json")), task_keys(os.path.join(tmp, "aws-cli.json"))
            if ours != theirs or len(ours) != n:
                sys.exit(f"outputs differ at {n} tasks: amiwatch {len(ours)}, aws-cli {len(theirs)}")
            for _ in range(a.rounds):
                for name, cmd in tools.items():
                    w, c, r = run(cmd, env, os.path.join(tmp, f"{name}.json"))
                    results[name]["wall"].append(w)
                    results[name]["cpu"].append(c)
                    results[name]["rss"].append(r)
        finally:
            sim.terminate()
            sim.wait()
        m = {k: {x: summary(v[x]) for x in ("wall", "cpu", "rss")} for k, v in results.items()}
        print(f"\n{n} tasks, {a.rounds} alternating rounds, same {n} tasks in both outputs")
        for name in tools:
            w, c, r = m[name]["wall"], m[name]["cpu"], m[name]["rss"]
            print(f"  {name:9} wall {w[0]*1000:8.1f} ms ({w[1]*1000:.1f}-{w[2]*1000:.1f})  cpu {c[0]*1000:8.1f} ms "
                  f"({c[1]*1000:.1f}-{c[2]*1000:.1f})  peak RSS {r[0]:6.1f} MiB  requests {results[name]['requests']}")
        ratio = lambda x: m["aws-cli"][x][0] / m["amiwatch"][x][0]
        print(f"  ratios (aws-cli / amiwatch, medians): wall {ratio('wall'):.1f}x  cpu {ratio('cpu'):.1f}x  "
              f"peak RSS {ratio('rss'):.1f}x")
        rows.append((n, m, ratio("wall"), ratio("cpu"), ratio("rss"), results))
    print("\n| tasks | amiwatch wall | aws-cli wall | wall ratio | amiwatch CPU | aws-cli CPU | CPU ratio | amiwatch RSS | aws-cli RSS | RSS ratio | requests (ours / CLI) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, m, rw, rc, rr, res in rows:
        f = lambda t, x, s=1000: f"{m[t][x][0]*s:.1f}"
        print(f"| {n} | {f('amiwatch','wall')} ms | {f('aws-cli','wall')} ms | {rw:.1f}x | {f('amiwatch','cpu')} ms | "
              f"{f('aws-cli','cpu')} ms | {rc:.1f}x | {f('amiwatch','rss',1)} MiB | {f('aws-cli','rss',1)} MiB | {rr:.1f}x | "
              f"{res['amiwatch']['requests']} / {res['aws-cli']['requests']} |")


if __name__ == "__main__":
    main()
