"""The dashboard over an organisation: feeds (accounts x regions) x tasks, each size against its
own `amiwatch simulate --accounts-by-key` in a separate process (its work is not counted),
one profile an account in a throwaway AWS config, the release binary in a 200x50
pseudo-terminal. One table row a size (see issue 17, "How it must be shown"):

- CPU: utime + stime from /proc/PID/stat between 20 s and 60 s after start, % of one core;
- RSS (VmRSS) at 20 s and 60 s (and 300 s with --long);
- first complete screen: from start until the summary's `1 All N` tab counts every AMI of
  every feed (N from `amiwatch --once -o json` over the same profiles, made before the run);
- key to screen: `2` and `1` alternately, 50 keys; from the write to the PTY until the read
  that brings the bytes after which the state tab asked for is the one drawn active (a small
  terminal emulator keeps the screen, attributes included); p50 and p99;
- time to exit after `q` (at the end of that run) and after SIGTERM (a second run of the same
  size, 20 s after its start);
- EC2 requests a minute at the endpoint (`/_sim/stats`), between 20 s and 60 s.

Every wait is bounded: a key, `q` or SIGTERM that shows nothing within --cap seconds is
`none` (after a key goes unanswered the rest of that size's keys are skipped, also `none`);
a dashboard that has not exited within the cap is SIGKILLed. Everything started is killed on
any exit of this script, and by the kernel if the script itself is killed (PR_SET_PDEATHSIG).
"""

import argparse
import codecs
import ctypes
import datetime
import fcntl
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unicodedata
import urllib.request

sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the work tree
sys.path.insert(0, os.path.dirname(__file__))
from bench_dashboard import cpu_seconds  # noqa: E402

COLS, ROWS = 200, 50
ACCOUNTS = 20
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]
# (label, accounts, regions, tasks a feed, how the dashboard is given the regions)
SIZES = {
    "1x1000": (1, 1, 1000, "list"),
    "20x1000": (ACCOUNTS, 1, 1000, "list"),
    "80x1000": (ACCOUNTS, 4, 1000, "list"),
    "340x1000": (ACCOUNTS, 17, 1000, "all"),
    "1x100000": (1, 1, 100000, "list"),
}
MOVING = 10

STARTED = []  # (pid, what) of every process this script started and has not reaped


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True)


def die_with_parent(sig=signal.SIGKILL):
    """In a child before exec: the kernel kills it when this script dies, even by SIGKILL.
    This script asks for SIGTERM when its own parent (the shell script, a pyenv shim) dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def kill_all():
    for pid, _ in list(STARTED):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        STARTED.remove((pid, _))


def forget(pid):
    for entry in list(STARTED):
        if entry[0] == pid:
            STARTED.remove(entry)


# ---------------------------------------------------------------------------------------------
# A small terminal: enough of VT100/xterm for what ratatui + crossterm write (cursor moves,
# SGR, erase); every cell keeps its character and the attributes it was written with.


class Screen:
    TOKEN = re.compile(
        r"\x1b\[([0-9;:?<>=]*)[ -/]*([@-~])"  # CSI
        r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
        r"|\x1b[()*+][0-9A-Za-z]"  # charset
        r"|\x1b[^\[\]()*+]"  # other ESC
        r"|[\x00-\x1a\x1c-\x1f\x7f]"  # controls (not ESC: an escape cut by a read waits)
        r"|[^\x00-\x1f\x7f\x1b]+"  # text
    )
    BLANK = (" ", ())

    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows
        self.cells = [[self.BLANK] * cols for _ in range(rows)]
        self.row = self.col = 0
        self.attr = {}
        self.attr_key = ()
        self.pending = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data):
        text = self.pending + self.decoder.decode(data)
        self.pending = ""
        pos = 0
        for m in self.TOKEN.finditer(text):
            if m.start() != pos:  # an escape not yet complete: keep it for the next read
                break
            pos = m.end()
            s = m.group(0)
            if s[0] == "\x1b":
                if m.group(2):
                    self.csi(m.group(1), m.group(2))
            elif len(s) == 1 and (s < " " or s == "\x7f"):
                self.control(s)
            else:
                self.text(s)
        rest = text[pos:]
        if rest:
            if len(rest) > 256:  # not a sequence this terminal knows: drop it
                rest = ""
            self.pending = rest

    def control(self, c):
        if c == "\r":
            self.col = 0
        elif c == "\n":
            self.row = min(self.row + 1, self.rows - 1)
        elif c == "\b":
            self.col = max(self.col - 1, 0)

    def text(self, s):
        row = self.cells[self.row]
        for ch in s:
            if unicodedata.combining(ch):
                continue
            w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
            if self.col + w > self.cols:
                break
            row[self.col] = (ch, self.attr_key)
            if w == 2:
                row[self.col + 1] = ("", self.attr_key)
            self.col += w

    def csi(self, params, final):
        if params.startswith(("?", ">", "<", "=")):
            return  # private modes: alternate screen, cursor, mouse
        nums = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params)] if params else []

        def n(i, default=1):
            return nums[i] if len(nums) > i and nums[i] else default

        if final in "Hf":
            self.row = min(max(n(0) - 1, 0), self.rows - 1)
            self.col = min(max(n(1) - 1, 0), self.cols - 1)
        elif final == "m":
            self.sgr(nums or [0])
        elif final == "J":
            mode = n(0, 0)
            if mode == 2 or mode == 3:
                self.cells = [[self.BLANK] * self.cols for _ in range(self.rows)]
            elif mode == 0:
                self.erase_line(0)
                for r in range(self.row + 1, self.rows):
                    self.cells[r] = [self.BLANK] * self.cols
        elif final == "K":
            self.erase_line(n(0, 0))
        elif final == "A":
            self.row = max(self.row - n(0), 0)
        elif final == "B":
            self.row = min(self.row + n(0), self.rows - 1)
        elif final == "C":
            self.col = min(self.col + n(0), self.cols - 1)
        elif final == "D":
            self.col = max(self.col - n(0), 0)
        elif final == "G":
            self.col = min(max(n(0) - 1, 0), self.cols - 1)
        elif final == "d":
            self.row = min(max(n(0) - 1, 0), self.rows - 1)

    def erase_line(self, mode):
        row = self.cells[self.row]
        lo, hi = {0: (self.col, self.cols), 1: (0, self.col + 1)}.get(mode, (0, self.cols))
        for c in range(lo, hi):
            row[c] = self.BLANK

    def sgr(self, nums):
        a, i = self.attr, 0
        while i < len(nums):
            p = nums[i]
            if p == 0:
                a.clear()
            elif p in (38, 48, 58) and i + 1 < len(nums):
                k = {38: "fg", 48: "bg", 58: "ul"}[p]
                if nums[i + 1] == 5 and i + 2 < len(nums):
                    a[k] = ("5", nums[i + 2])
                    i += 2
                elif nums[i + 1] == 2 and i + 4 < len(nums):
                    a[k] = ("2", *nums[i + 2:i + 5])
                    i += 4
            elif 30 <= p <= 37 or 90 <= p <= 97:
                a["fg"] = p
            elif p == 39:
                a.pop("fg", None)
            elif 40 <= p <= 47 or 100 <= p <= 107:
                a["bg"] = p
            elif p == 49:
                a.pop("bg", None)
            elif 1 <= p <= 9:
                a[f"m{p}"] = True
            elif p == 22:
                a.pop("m1", None)
                a.pop("m2", None)
            elif 23 <= p <= 29:
                a.pop(f"m{p - 20}", None)
            i += 1
        self.attr_key = tuple(sorted(a.items()))

    def line(self, r):
        return "".join(ch for ch, _ in self.cells[r])

    def tab(self, label):
        """(count, attributes) of the summary tab `label` (e.g. "1 All"), or None."""
        for r in range(min(self.rows, 6)):
            text = self.line(r)
            m = re.search(r"(?<![^ ])" + re.escape(label) + r" (\d+)", text)
            if m:
                return int(m.group(1)), self.cells[r][m.start()][1]
        return None


# ---------------------------------------------------------------------------------------------
# The dashboard in a pseudo-terminal, with a reader that keeps the screen and tells waiters
# when what they wait for is on it.


class Dashboard:
    def __init__(self, argv, env):
        self.screen = Screen(COLS, ROWS)
        self.lock = threading.Lock()
        self.waiter = None  # (predicate, event, [time seen])
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal before anything reads it
            try:
                die_with_parent()
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        STARTED.append((pid, "dashboard"))
        self.exited = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            at = time.perf_counter()
            with self.lock:
                self.screen.feed(data)
                w = self.waiter
                if w is not None and w[0](self.screen):
                    w[2].append(at)
                    w[1].set()
                    self.waiter = None

    def elapsed(self):
        return time.perf_counter() - self.t0

    def watch(self, predicate):
        """Starts watching for `predicate` on the screen; returns (event, [time seen])."""
        ev, seen = threading.Event(), []
        with self.lock:
            if predicate(self.screen):
                seen.append(time.perf_counter())
                ev.set()
            else:
                self.waiter = (predicate, ev, seen)
        return ev, seen

    def unwatch(self):
        with self.lock:
            self.waiter = None

    def key(self, k, predicate, cap):
        """Writes key `k` and waits (at most `cap` s) for `predicate`; seconds, or None."""
        with self.lock:
            self.waiter = (predicate, threading.Event(), [])
            ev, seen = self.waiter[1], self.waiter[2]
            t = time.perf_counter()
            os.write(self.fd, k)
        if ev.wait(cap):
            return seen[0] - t
        self.unwatch()
        return None

    def state(self, pid_file):
        with open(f"/proc/{self.pid}/{pid_file}") as f:
            return f.read()

    def rss_mib(self):
        for line in self.state("status").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def exit_after(self, how, cap):
        """Sends `q` or SIGTERM; seconds until the process has exited, or None (then SIGKILL)."""
        pidfd = os.pidfd_open(self.pid)
        try:
            t = time.perf_counter()
            if how == "q":
                os.write(self.fd, b"q")
            else:
                os.kill(self.pid, signal.SIGTERM)
            ready, _, _ = select.select([pidfd], [], [], cap)
            took = time.perf_counter() - t if ready else None
        finally:
            os.close(pidfd)
        if took is None:
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        forget(self.pid)
        self.exited = True
        self.reader.join(5)
        os.close(self.fd)
        return took

    def kill(self):
        if not self.exited:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            forget(self.pid)
            self.exited = True
            os.close(self.fd)


# ---------------------------------------------------------------------------------------------


def start_sim(amiwatch, regions, tasks):
    cmd = [amiwatch, "simulate", "--accounts-by-key", "--regions", ",".join(regions),
           "--tasks", str(tasks), "--moving", str(MOVING)]
    # Endpoints that check signatures know only their own keys: the profiles here have others.
    # (Older builds accept any key and have no such flag.)
    helptext = subprocess.run([amiwatch, "simulate", "--help"], capture_output=True, text=True, timeout=30).stdout
    if "--any-key" in helptext:
        cmd.append("--any-key")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    STARTED.append((p.pid, "simulate"))
    ready, _, _ = select.select([p.stdout], [], [], 15)
    url = p.stdout.readline().decode().strip() if ready else ""
    if not url.startswith("http://"):
        raise RuntimeError(f"amiwatch simulate printed no URL within 15 s: {url!r}")
    threading.Thread(target=lambda: p.stdout.read(), daemon=True).start()  # never let it block on us
    return p, url


def stop_sim(p):
    p.kill()
    p.wait()
    forget(p.pid)


def sim_stats(url):
    with urllib.request.urlopen(url + "/_sim/stats", timeout=10) as r:
        return json.load(r)


def write_profiles(d, accounts):
    """One profile an account: p1..pN, each its own access key (its account at the endpoint)."""
    config, creds = [], []
    for i in range(1, accounts + 1):
        config.append(f"[profile p{i}]\nregion = us-east-1\n")
        creds.append(f"[p{i}]\naws_access_key_id = AKIDBENCHORG{i:04d}\naws_secret_access_key = bench\n"
                     f"aws_account_id = {100000000000 + i}\n")
    with open(os.path.join(d, "config"), "w") as f:
        f.write("\n".join(config))
    with open(os.path.join(d, "credentials"), "w") as f:
        f.write("\n".join(creds))
    return [f"p{i}" for i in range(1, accounts + 1)]


def clean_env(d):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("AMIWATCH_LOG",)}
    env.update(TERM="xterm-256color", AWS_CONFIG_FILE=os.path.join(d, "config"),
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(d, "credentials"), AWS_EC2_METADATA_DISABLED="true")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


def expected_amis(amiwatch, base_args, env):
    """What `1 All N` must say once every feed has data: distinct (feed, AMI) of a full fetch."""
    out = subprocess.run([amiwatch, *base_args, "--once", "-o", "json"], env=env, capture_output=True,
                         timeout=300, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    if out.returncode != 0:
        raise RuntimeError(f"--once failed ({out.returncode}): {out.stderr.decode(errors='replace')[-500:]}")
    tasks = json.loads(out.stdout)["StoreImageTaskResults"]
    return len({(t.get("Profile"), t.get("AccountId"), t.get("Region"), t.get("AmiId")) for t in tasks})


def active_is(label):
    """The predicate: the tab `label` is drawn as the active one (and no other tab is)."""
    def check(screen):
        mine = screen.tab(label)
        others = [screen.tab(t) for t in ("1 All", "2 In progress", "3 Completed", "4 Failed") if t != label]
        if mine is None or any(o is None for o in others):
            return False
        # The active tab is drawn reversed (theme::active_tab); the others are not.
        return bool(dict(mine[1]).get("m7")) and not any(dict(o[1]).get("m7") for o in others)
    return check


def percentile(values, q):
    """Nearest-rank percentile; None (a key that never showed) sorts last and stays None."""
    if not values:
        return None
    ranked = sorted(values, key=lambda v: (v is None, v or 0))
    k = max(0, min(len(ranked) - 1, int(-(-q * len(ranked) // 100)) - 1))
    return ranked[k]


def sleep_until(d, t):
    left = t - d.elapsed()
    if left > 0:
        time.sleep(left)


def measure(amiwatch, label, a):
    accounts, nregions, tasks, how = SIZES[label]
    regions = REGIONS[:nregions]
    r = {"size": label, "feeds": accounts * nregions, "tasks": tasks}
    tmp = tempfile.mkdtemp(prefix="amiwatch-bench-org-")
    sim = None
    d = None
    try:
        sim, url = start_sim(amiwatch, regions, tasks)
        profiles = write_profiles(tmp, accounts)
        env = clean_env(tmp)
        where = ["--all-regions"] if how == "all" else ["--region", ",".join(regions)]
        base = ["--endpoint-url", url, "--profile", ",".join(profiles), *where]
        t = time.perf_counter()
        want = expected_amis(amiwatch, base, env)
        r["once_s"] = time.perf_counter() - t
        r["want"] = want
        log(f"{label}: {r['feeds']} feeds, {want} AMIs in all (--once took {r['once_s']:.1f} s); dashboard starts")

        # Run 1: the timeline, keys, then q.
        d = Dashboard([amiwatch, *base], env)
        full, full_at = d.watch(lambda s: (t := s.tab("1 All")) is not None and t[0] == want)
        sleep_until(d, 20)
        c20, s20, w20, r["rss20"] = cpu_seconds(d.pid), sim_stats(url), time.perf_counter(), d.rss_mib()
        sleep_until(d, 60)
        c60, s60, w60, r["rss60"] = cpu_seconds(d.pid), sim_stats(url), time.perf_counter(), d.rss_mib()
        r["cpu"] = (c60 - c20) / (w60 - w20) * 100
        # The stats call itself is one request; what the dashboard made is the rest.
        r["req_min"] = (s60["requests"] - s20["requests"] - 1) * 60 / (w60 - w20)
        r["dsit_min"] = (s60["describe_store_image_tasks"] - s20["describe_store_image_tasks"]) * 60 / (w60 - w20)
        r["first"] = full_at[0] - d.t0 if full.is_set() else None
        d.unwatch()
        log(f"{label}: CPU {r['cpu']:.1f}%, RSS {r['rss20']:.0f} -> {r['rss60']:.0f} MiB, "
            f"first complete screen {fmt_s(r['first'])}; keys")

        lat = []
        rng = random.Random(17)
        for i in range(a.keys):
            k, want_tab = (b"2", "2 In progress") if i % 2 == 0 else (b"1", "1 All")
            took = d.key(k, active_is(want_tab), a.cap)
            lat.append(took)
            if took is None:
                lat += [None] * (a.keys - len(lat))
                break
            time.sleep(rng.uniform(0.05, 0.25))  # off the frame ticks' beat
        r["keys_shown"] = sum(v is not None for v in lat)
        r["p50"], r["p99"] = percentile(lat, 50), percentile(lat, 99)
        if a.long:
            # Steady state: the last minute of five (or of --minutes), start-up work such as the
            # first names done.
            sleep_until(d, a.minutes * 60 - 60)
            c240, w240 = cpu_seconds(d.pid), time.perf_counter()
            sleep_until(d, a.minutes * 60)
            r["rss300"] = d.rss_mib()
            r["cpu_steady"] = (cpu_seconds(d.pid) - c240) / (time.perf_counter() - w240) * 100
        r["q"] = d.exit_after("q", a.cap)
        log(f"{label}: keys p50 {fmt_ms(r['p50'])} p99 {fmt_ms(r['p99'])} ({r['keys_shown']}/{a.keys} shown), "
            f"q {fmt_s(r['q'])}; SIGTERM run")

        # Run 2: the same size, SIGTERM 20 s after start.
        d = Dashboard([amiwatch, *base], env)
        sleep_until(d, 20)
        r["term"] = d.exit_after("term", a.cap)
        log(f"{label}: SIGTERM {fmt_s(r['term'])}")
    finally:
        if d is not None:
            d.kill()
        if sim is not None:
            stop_sim(sim)
        shutil.rmtree(tmp, ignore_errors=True)
    return r


def fmt_s(v):
    return "none" if v is None else f"{v:.2f} s"


def fmt_ms(v):
    return "none" if v is None else f"{v * 1000:.0f} ms"


def row(r, a):
    rss = f"{r['rss20']:,.0f} -> {r['rss60']:,.0f}" + (f" -> {r['rss300']:,.0f}" if a.long else "")
    cpu = f"{r['cpu']:.1f}%" + (f" ({r['cpu_steady']:.1f}% at {a.minutes - 1}-{a.minutes} min)" if a.long else "")
    return (f"| {r['feeds']} x {r['tasks']:,} | {cpu} | {rss} MiB | {fmt_s(r['first'])} | "
            f"{fmt_ms(r['p50'])} / {fmt_ms(r['p99'])} ({r['keys_shown']}/{a.keys}) | {fmt_s(r['q'])} | "
            f"{fmt_s(r['term'])} | {r['req_min']:,.0f} ({r['dsit_min']:,.0f}) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--amiwatch", default="target/release/amiwatch")
    ap.add_argument("--long", action="store_true", help="also RSS at 300 s and CPU between 240 and 300 s (each size runs 5 minutes)")
    ap.add_argument("--minutes", type=int, default=5,
                    help="with --long: how long each size runs; RSS at the end and CPU over its last minute (at least 2)")
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {','.join(SIZES)}")
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--cap", type=float, default=15.0, help="seconds a key, q or SIGTERM may take")
    a = ap.parse_args()
    if a.minutes < 2:
        ap.error("--minutes: at least 2 (the steady state is the last minute, after the first)")
    sizes = [s for s in a.sizes.split(",") if s]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown size {', '.join(bad)}: the sizes are {', '.join(SIZES)}")
    amiwatch = os.path.abspath(a.amiwatch)
    if not os.access(amiwatch, os.X_OK):
        ap.error(f"{a.amiwatch} is not an executable file: build it (cargo build --release) or name one")

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    die_with_parent(signal.SIGTERM)

    version = subprocess.run([amiwatch, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    began = time.perf_counter()
    print(f"amiwatch over an organisation, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{version}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"binary {a.amiwatch}; endpoint `amiwatch simulate --accounts-by-key --moving {MOVING}` in its own "
          f"process; {COLS}x{ROWS} pseudo-terminal; one profile an account")
    print(f"CPU between 20 s and 60 s after start (% of one core); RSS at 20 s, 60 s{', 300 s' if a.long else ''}; "
          f"first complete screen: `1 All N` counts every feed's AMIs (none: not within 60 s); "
          f"keys `2`/`1` alternately, write to screen; exits capped at {a.cap:.0f} s (none: not within it, "
          f"then SIGKILL); requests: all EC2 calls a minute (DescribeStoreImageTasks)")
    print()
    print("| feeds x tasks | CPU 20-60 s | RSS | first complete screen | key p50 / p99 (shown) | "
          "q to exit | SIGTERM to exit | requests a minute |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    try:
        for s in sizes:
            try:
                r = measure(amiwatch, s, a)
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
                print(f"| {s} | failed: {e} |", flush=True)
                continue
            print(row(r, a), flush=True)
    finally:
        kill_all()
    print(f"\none run of this script: {time.perf_counter() - began:.0f} s; load at the end {os.getloadavg()[0]:.2f} "
          "(figures from a busy machine are high: compare runs made under the same load)")


if __name__ == "__main__":
    try:
        main()
    finally:
        kill_all()
