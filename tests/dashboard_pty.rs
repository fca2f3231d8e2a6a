//! The real binary in a pseudo-terminal, used as a person would: keys in, screen read back
//! through a terminal emulator (vt100), exit code and terminal modes checked at the end.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

mod common;
mod fake;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Dashboard {
    screen: Arc<Mutex<vt100::Parser>>,
    /// The OSC sequences the program wrote (notifications, clipboard), which the screen
    /// does not keep, and how many bells rang outside them. Kept small, so that the reader
    /// never waits on a test scanning it, and the program never blocks on a full pty.
    osc: Arc<Mutex<(Vec<u8>, usize)>>,
    /// Every byte the program wrote (up to 8 MiB), for what the screen model does not show.
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: KillOnDrop,
    master: Box<dyn MasterPty + Send>,
}

impl Dashboard {
    fn start(args: &[&str], cols: u16, rows: u16) -> Self {
        Self::start_in(args, cols, rows, &std::env::temp_dir())
    }

    fn start_in(args: &[&str], cols: u16, rows: u16, cwd: &std::path::Path) -> Self {
        Self::start_with(args, cols, rows, cwd, &[])
    }

    fn start_with(args: &[&str], cols: u16, rows: u16, cwd: &std::path::Path, env: &[(String, String)]) -> Self {
        let pty = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_amiwatch"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.cwd(cwd);
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let osc = Arc::new(Mutex::new((Vec::new(), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (sink, osc_sink, raw_sink) = (screen.clone(), osc.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let (mut prev, mut in_osc) = (0u8, false);
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().process(&buf[..n]);
                {
                    let mut r = raw_sink.lock().unwrap();
                    if r.len() < 8 << 20 {
                        r.extend_from_slice(&buf[..n]);
                    }
                }
                let mut seen = osc_sink.lock().unwrap();
                for &b in &buf[..n] {
                    if in_osc {
                        seen.0.push(b);
                        in_osc = b != 0x07;
                    } else if prev == 0x1b && b == b']' {
                        seen.0.extend_from_slice(b"\x1b]");
                        in_osc = true;
                    } else if b == 0x07 {
                        seen.1 += 1;
                    }
                    prev = b;
                }
            }
        });
        let writer = pty.master.take_writer().unwrap();
        Self { screen, osc, raw, writer, child: KillOnDrop(child), master: pty.master }
    }

    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Polls the screen until `pred` holds; panics with the screen after the timeout.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.contents();
            if pred(&s) {
                return s;
            }
            assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}; {}; screen:\n{s}", self.diagnose());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The program's threads and where they wait, for a timeout's message.
    fn diagnose(&self) -> String {
        let Some(pid) = self.child.process_id() else { return "no pid".into() };
        let mut out = String::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let p = t.path();
                let name = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
                let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
                let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
                let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("?").to_string();
                out.push_str(&format!("[{} {state} {wchan}] ", name.trim()));
            }
        }
        out
    }

    /// Resizes the terminal the program sees and the test's model of it as one step: the
    /// model first, under its lock, so that nothing the program draws for the new size is
    /// read into a model of the old one.
    fn resize(&self, cols: u16, rows: u16) {
        let mut screen = self.screen.lock().unwrap();
        screen.screen_mut().set_size(rows, cols);
        self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
    }

    /// The terminal's line discipline: whether it is raw (no echo, no line editing).
    fn is_raw(&self) -> bool {
        let fd = self.master.as_raw_fd().unwrap();
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & (libc::ECHO | libc::ICANON) == 0
    }

    fn pid(&self) -> libc::pid_t {
        self.child.process_id().unwrap() as libc::pid_t
    }

    /// The process's state letter from /proc: `T` when stopped.
    fn state(&self) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        stat.rsplit(')').next().and_then(|r| r.trim_start().chars().next()).unwrap_or('?')
    }

    /// Waits until the process is in (or out of) the stopped state.
    fn wait_stopped(&self, stopped: bool) {
        let start = Instant::now();
        while (self.state() == 'T') != stopped {
            assert!(start.elapsed() < TIMEOUT, "process state {} (want stopped: {stopped})", self.state());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    fn wait_exit(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "the dashboard did not exit; {}; screen:\n{}",
                self.diagnose(),
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the terminal is back in its normal mode: echo on, canonical input, main screen.
    fn assert_restored(&self) {
        // Let the reader thread take in the last bytes.
        std::thread::sleep(Duration::from_millis(200));
        let fd = self.master.as_raw_fd().unwrap();
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        assert!(t.c_lflag & libc::ECHO != 0, "echo is off: the terminal was left raw");
        assert!(t.c_lflag & libc::ICANON != 0, "canonical mode is off: the terminal was left raw");
        let p = self.screen.lock().unwrap();
        assert!(!p.screen().alternate_screen(), "still on the alternate screen");
        assert!(!p.screen().hide_cursor(), "the cursor is still hidden");
        assert_eq!(p.screen().mouse_protocol_mode(), vt100::MouseProtocolMode::None, "mouse capture left on");
    }
}

/// The program, killed when dropped: a failed test must not leave its dashboard running.
struct KillOnDrop(Box<dyn Child + Send + Sync>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Box<dyn Child + Send + Sync>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The table's rows: lines that start with the selection marker or a blank, a space and an AMI
/// ID (a toast or the detail pane's title starts with one space and an AMI ID).
fn rows(screen: &str) -> Vec<&str> {
    screen.lines().filter(|l| l.starts_with("  ami-") || l.starts_with("▶ ami-")).collect()
}

#[test]
fn a_person_filters_picks_a_bucket_searches_reads_a_reason_and_quits() {
    let mut d = Dashboard::start(&["--demo", "--frozen"], 200, 36);
    d.wait_for("the first data", |s| s.contains("updated") && rows(s).len() > 10);

    d.press("4");
    let s = d.wait_for("only failed tasks", |s| {
        let r = rows(s);
        !r.is_empty() && r.iter().all(|l| l.contains("Failed"))
    });
    // As many rows as the Failed tab counts (they fit on the screen).
    let tab = s.split("4 Failed ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap();
    assert_eq!(rows(&s).len().to_string(), tab, "{s}");

    d.press("1b");
    d.wait_for("the bucket picker", |s| s.contains("Bucket (Enter picks") && s.contains("All buckets"));
    d.press("j\r");
    let s = d.wait_for("a bucket filter", |s| s.contains("bucket: ") && !s.contains("Bucket (Enter picks"));
    let picked =
        s.lines().last().unwrap().split("bucket: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    // The column may cut the name: its first few characters are on every row.
    let stem: String = picked.chars().take(8).collect();
    assert!(rows(&s).iter().all(|l| l.contains(&stem)), "{s}");

    // Back to every bucket, then search for a failure reason.
    d.press("b");
    d.wait_for("the bucket picker", |s| s.contains("All buckets"));
    d.press("g\r");
    d.wait_for("no bucket filter", |s| !s.contains("bucket: ") && !s.contains("Bucket (Enter"));
    d.press("/denied");
    // Every key typed (the search box shows all of it), and only matching rows.
    d.wait_for("search results", |s| {
        let r = rows(s);
        s.contains("/denied") && !r.is_empty() && r.iter().all(|l| l.contains("Access Denied"))
    });
    d.press("\r\r");
    let s = d.wait_for("the detail pane", |s| s.contains("Reason") && s.contains("S3 object"));
    assert!(s.contains("s3://"));
    assert!(s.contains("bucket policy"), "the reason in full: {s}");

    d.press("?");
    d.wait_for("the help", |s| s.contains("Any key closes this help"));
    d.press("x");
    d.wait_for("the help to close", |s| !s.contains("Any key closes this help"));

    d.press("q");
    assert_eq!(d.wait_exit(), 0);
    d.assert_restored();
}

#[test]
fn bars_move_while_tasks_progress() {
    // 2x speed: the demo's exports (4 GB a second each) move a percent every few seconds.
    let mut d = Dashboard::start(&["--demo", "--speed", "2", "--interval", "1s"], 120, 30);
    d.press("2");
    let first = d.wait_for("tasks in progress", |s| s.contains("updated") && !rows(s).is_empty());
    let percents = |s: &str| rows(s).iter().map(|l| l.split('%').next().unwrap_or("").to_string()).collect::<Vec<_>>();
    let before = percents(&first);
    d.wait_for("progress to change", |s| percents(s) != before);
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

/// The header's store quota figure: the GB in flight of the fullest feed, and whether the
/// header marks it full.
fn in_flight(screen: &str, quota: u64) -> Option<(u64, bool)> {
    let header = screen.lines().next()?;
    let (before, _) = header.split_once(&format!(" of {quota} GB in flight"))?;
    let n = before.rsplit(' ').next()?.trim_end_matches('+').parse().ok()?;
    Some((n, header.contains("⚠ full")))
}

#[test]
fn the_demo_quota_fills_and_frees() {
    // The demo as a person runs it, polled every second. It starts with a feed whose one export
    // holds more than the quota for its first 15 s; as that export ends, the figure drops.
    let mut d = Dashboard::start(&["--demo", "--interval", "1s"], 160, 30);
    let s = d.wait_for("a feed at its quota", |s| in_flight(s, 600).is_some_and(|(gb, full)| full && gb >= 600));
    let (held, _) = in_flight(&s, 600).unwrap();
    // The service refuses a new export while the quota is held: at most the quota and one AMI
    // (the scenario's largest is 1,100 GB) are ever in flight.
    assert!(held < 600 + 1100, "{s}");
    let s = d.wait_for("an export ending", |s| in_flight(s, 600).is_some_and(|(gb, _)| gb < held));
    let (freed, full) = in_flight(&s, 600).unwrap();
    assert_eq!(full, freed >= 600, "marked full exactly at or over the quota: {s}");
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
    // The demo's endpoint holds the quota the header measures against.
    let mut d = Dashboard::start(&["--demo", "--frozen", "--store-quota", "2000"], 160, 30);
    let s = d.wait_for("the header's figure", |s| in_flight(s, 2000).is_some() && s.contains("4 feeds"));
    assert!(!s.contains("⚠ full"), "the demo's feeds hold less than 2000 GB: {s}");
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn sigterm_ends_cleanly_and_gives_the_terminal_back() {
    let mut d = Dashboard::start(&["--demo"], 100, 30);
    d.wait_for("the first data", |s| s.contains("updated"));
    let pid = d.child.process_id().unwrap() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_eq!(d.wait_exit(), 0, "SIGTERM is the normal quit path");
    d.assert_restored();
}

#[test]
fn sigint_and_sigquit_from_outside_end_cleanly() {
    for sig in [libc::SIGINT, libc::SIGQUIT] {
        let mut d = Dashboard::start(&["--demo", "--frozen"], 100, 30);
        d.wait_for("the first data", |s| s.contains("updated"));
        assert!(d.is_raw());
        assert_eq!(unsafe { libc::kill(d.pid(), sig) }, 0);
        assert_eq!(d.wait_exit(), 0, "signal {sig} is the normal quit path");
        d.assert_restored();
    }
}

#[test]
fn sigtstp_and_ctrl_z_give_the_terminal_back_and_sigcont_takes_it_again_whole() {
    let mut d = Dashboard::start(&["--demo", "--frozen"], 100, 30);
    let before =
        d.wait_for("the first data, named", |s| s.contains("updated") && s.contains("NAME") && rows(s).len() > 5);
    for how in ["SIGTSTP", "Ctrl-Z"] {
        assert!(d.is_raw(), "raw while running");
        match how {
            "SIGTSTP" => assert_eq!(unsafe { libc::kill(d.pid(), libc::SIGTSTP) }, 0),
            _ => d.press("\x1a"),
        }
        d.wait_stopped(true);
        // Stopped: the shell gets a cooked terminal on its main screen, as before the start.
        d.assert_restored();
        // Something the shell prints while the program is stopped, to be painted over.
        d.screen.lock().unwrap().process(b"\x1b[2J$ jobs\r\n[1]+ Stopped amiwatch\r\n");
        assert_eq!(unsafe { libc::kill(d.pid(), libc::SIGCONT) }, 0);
        d.wait_stopped(false);
        // The whole screen is back when every row is as it was (the data is frozen): a
        // partial or stale frame never satisfies that.
        // The STARTED column's ages ("35s ago") and LEFT's countdown ("~15s") move with the
        // clock, frozen data or not: the rows are compared without them.
        let header = before.lines().find(|l| l.contains("AMI ID")).unwrap_or_default();
        let col = |name: &str| header.find(name).map(|at| header[..at].chars().count());
        let (left, state, started) = (col("LEFT"), col("STATE"), col("STARTED"));
        let upto = |l: &str| {
            let chars: Vec<char> = l.chars().collect();
            let end = started.unwrap_or(chars.len()).min(chars.len());
            let cut = |from: usize, to: usize| chars[from.min(end)..to.min(end)].iter().collect::<String>();
            match (left, state) {
                (Some(a), Some(b)) => cut(0, a) + &cut(b, end),
                _ => cut(0, end),
            }
        };
        let trimmed = |s: &str| rows(s).iter().map(|l| upto(l).trim_end().to_string()).collect::<Vec<_>>();
        d.wait_for(&format!("every row repainted after {how}"), |s| {
            !s.contains("Stopped amiwatch") && trimmed(s) == trimmed(&before)
        });
        assert!(d.is_raw(), "raw again after {how}: keys work without Enter");
        assert!(d.screen.lock().unwrap().screen().alternate_screen());
        d.press("?");
        d.wait_for("keys to work after resuming", |s| s.contains("Any key closes this help"));
        d.press("x");
        d.wait_for("help closed", |s| !s.contains("Any key closes this help"));
    }
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
    d.assert_restored();
}

#[test]
fn tiny_terminal_says_so_and_resizes_back() {
    let mut d = Dashboard::start(&["--demo", "--frozen"], 40, 10);
    d.wait_for("the too-small notice", |s| s.contains("terminal too small"));
    d.resize(100, 30);
    d.wait_for("the dashboard after a resize", |s| rows(s).len() > 5);
    for (c, r) in [(1, 1), (5, 3), (200, 60), (61, 12), (100, 30)] {
        d.resize(c, r);
    }
    // The storm is over when the too-small notice of the last small size is gone again.
    d.wait_for("the dashboard after the storm", |s| !s.contains("too small") && rows(s).len() > 5);
    d.press("?");
    d.wait_for("keys to work after the storm", |s| s.contains("Any key closes this help"));
    d.press("q");
    assert_eq!(d.wait_exit(), 0, "a storm of resizes, down to 1x1, without a panic");
}

fn osc_contains(d: &Dashboard, needle: &[u8]) -> bool {
    d.osc.lock().unwrap().0.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn endings_notify_copy_goes_to_the_clipboard_and_export_writes_a_file() {
    let dir = std::env::temp_dir().join(format!("amiwatch-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 600x speed: tasks end within seconds; every ending notifies.
    let mut d =
        Dashboard::start_in(&["--demo", "--speed", "600", "--interval", "1s", "--notify", "all"], 120, 30, &dir);
    d.wait_for("the first data", |s| s.contains("updated") && rows(s).len() > 5);
    let start = Instant::now();
    while !osc_contains(&d, b"\x1b]9;amiwatch: ami-") {
        assert!(start.elapsed() < TIMEOUT, "no desktop notification; screen:\n{}", d.contents());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.osc.lock().unwrap().1 > 0, "the bell rings with it");
    assert!(osc_contains(&d, b"\x1b]777;notify;amiwatch;"));

    d.press("y");
    let s = d.wait_for("the copy toast", |s| s.contains("copied s3://"));
    assert!(s.contains("copied s3://"));
    let start = Instant::now();
    while !osc_contains(&d, b"\x1b]52;c;") {
        assert!(start.elapsed() < TIMEOUT, "no OSC 52");
        std::thread::sleep(Duration::from_millis(50));
    }

    d.press("e");
    let s = d.wait_for("the export toast", |s| s.contains("exported "));
    let line = s.lines().find(|l| l.contains("exported ")).unwrap().trim().to_string();
    let path = line.split(" to ").nth(1).unwrap().trim();
    let csv = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(csv.starts_with("ami_id,task_start_time,bucket,"), "{csv}");
    assert!(csv.lines().count() > 5);
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn all_regions_show_a_feed_column_and_picker() {
    let mut d = Dashboard::start(&["--demo", "--frozen", "--all-regions"], 130, 36);
    let s = d.wait_for("data from three regions", |s| {
        s.contains("FEED") && s.contains("ap-southeast-2") && s.contains("eu-west-1") && s.contains("us-east-1")
    });
    assert!(s.contains("2 accounts x 3 regions · 6 feeds"), "the demo's two accounts in every region: {s}");
    d.press("F");
    let s = d.wait_for("the feeds pane", |s| s.contains("All feeds"));
    assert!(s.contains("demo (123456789012) · ap-southeast-2") && s.contains("CALLS/M"), "{s}");
    d.press("j\r");
    let s = d.wait_for("a feed filter", |s| s.contains("feed: demo (123456789012) · ap-southeast-2"));
    assert!(rows(&s).iter().all(|l| l.contains("ap-southeast-2")), "{s}");
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn two_accounts_side_by_side_and_the_refused_profile_named_in_the_header() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acc = rt.block_on(common::Accounts::start("pty"));
    let mut expected = 0;
    for key in ["AKIDALPHA", "AKIDBETA"] {
        let tasks = rt.block_on(acc.tasks_of(key));
        let amis: std::collections::BTreeSet<_> = tasks.iter().map(|(ami, _)| ami.clone()).collect();
        expected += amis.len();
    }
    let mut args: Vec<String> = acc.endpoint_args();
    args.extend(["--profile".into(), "alpha,beta,gamma".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Dashboard::start_with(&args, 160, 40, &std::env::temp_dir(), &acc.env());
    // Every AMI of both good accounts is counted, one row each: the first tab says how many
    // once both have answered (the header names all three feeds from the start).
    let all = format!("1 All {expected} ");
    let s = d.wait_for("both accounts' data and gamma's error", |s| s.contains(&all) && s.contains("not authorized"));
    assert!(s.contains("poll failed") && s.contains("gamma (333333333333) · us-east-1: not authorized"), "{s}");
    assert!(s.contains("3 accounts x 1 region · 3 feeds · 1 failing"), "{s}");
    d.press("F");
    let s = d.wait_for("the feeds pane", |s| s.contains("All feeds"));
    let gamma = s.lines().find(|l| l.contains("gamma (333333333333)")).unwrap_or_default();
    assert!(gamma.contains("not authorized"), "the failing feed's error in its line: {s}");
    d.press("jj\r");
    let s = d.wait_for("beta only", |s| s.contains("feed: beta (222222222222)"));
    assert!(rows(&s).iter().all(|l| l.contains(" beta ")), "{s}");
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn a_hostile_server_is_an_error_on_screen_not_a_hang_nor_raw_escapes() {
    use amiwatch::sim::{self, FaultConfig, Hostile, SimConfig};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = SimConfig { tasks: 500, frozen: true, ..SimConfig::default() };
    let h = rt.block_on(sim::start(([127, 0, 0, 1], 0).into(), config)).unwrap();
    h.set_faults(FaultConfig { hostile: Hostile::RepeatToken, ..FaultConfig::default() });
    let env = common::static_env();
    let mut d = Dashboard::start_with(&["--endpoint-url", h.url()], 200, 30, &std::env::temp_dir(), &env);
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    d.wait_for("the loop named as an error", |s| {
        let s = words(s);
        s.contains("The first poll failed") && s.contains("pages would never end")
    });
    // Bad fields are escaped, not sent raw: the terminal title is untouched.
    h.set_faults(FaultConfig { hostile: Hostile::EvilFields, ..FaultConfig::default() });
    d.press("r");
    // The bucket column (up to 30 cells) shows where the escape was, as text.
    d.wait_for("the data, its escapes shown as text", |s| rows(s).len() > 5 && s.contains("\\u{9d}"));
    let raw = d.raw.lock().unwrap().clone();
    for evil in ["\u{9d}0;pwned", "\u{9b}2J", "\u{202e}"] {
        assert!(!String::from_utf8_lossy(&raw).contains(evil), "{evil:?} reached the terminal raw");
    }
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn x_retries_a_failed_export_only_when_allowed_and_confirmed() {
    use amiwatch::sim::{self, SimConfig};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = SimConfig { tasks: 80, seed: 17, frozen: true, ..SimConfig::default() };
    let h = rt.block_on(sim::start(([127, 0, 0, 1], 0).into(), config)).unwrap();
    let env = common::static_env();
    // Find a failed export whose AMI still exists: the first failed row, going down.
    let run = |extra: &[&str]| {
        let mut args = vec!["--endpoint-url", h.url()];
        args.extend_from_slice(extra);
        let mut d = Dashboard::start_with(&args, 160, 40, &std::env::temp_dir(), &env);
        d.wait_for("the first data", |s| s.contains("updated") && rows(s).len() > 5);
        d.press("4");
        d.wait_for("failed tasks only", |s| !rows(s).is_empty() && rows(s).iter().all(|l| l.contains("Failed")));
        d
    };
    let mut d = run(&[]);
    d.press("x");
    d.wait_for("the toast saying how to allow retries", |s| s.contains("--allow-retry"));
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
    assert_eq!(h.stats().create_store_image_task, 0, "without --allow-retry nothing but Describe calls");

    let mut d = run(&["--allow-retry"]);
    let s = d.wait_for("names", |s| s.contains("NAME"));
    // The first failed row whose AMI EC2 still knows (not deregistered).
    let row = rows(&s).iter().position(|l| !l.contains("(deregistered)")).expect("a failed export of a live AMI");
    d.press(&"j".repeat(row));
    d.press("x");
    let s = d.wait_for("the confirmation", |s| s.contains("Export this AMI to S3 again?"));
    assert!(s.contains("aws ec2 create-store-image-task --image-id ami-"), "the exact call: {s}");
    d.press("\x1b");
    d.wait_for("cancelled", |s| s.contains("nothing was sent"));
    assert_eq!(h.stats().create_store_image_task, 0);
    d.press("x");
    d.wait_for("the confirmation", |s| s.contains("Export this AMI to S3 again?"));
    d.press("\r");
    d.wait_for("the export started", |s| s.contains("started again: s3://"));
    assert_eq!(h.stats().create_store_image_task, 1, "sent once");
    d.press("2");
    d.wait_for("the new attempt in progress", |s| {
        rows(s).iter().any(|l| l.contains("InProgress") && l.contains(" 0% "))
    });
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn notify_off_rings_no_bell_and_sends_no_notification() {
    let mut d = Dashboard::start(&["--demo", "--speed", "600", "--interval", "1s", "--notify", "off"], 120, 30);
    // The default mode (failures) rings and notifies before the frame that counts a new
    // failure is drawn. The demo's seed has tasks in progress that fail later.
    let failed = |s: &str| -> Option<u32> {
        let tab = s.split("4 Failed ").nth(1)?;
        tab.split_whitespace().next()?.parse().ok()
    };
    let s = d.wait_for("the first data", |s| rows(s).len() > 5 && failed(s).is_some());
    let before = failed(&s).unwrap();
    d.wait_for("a task failing", |s| failed(s).is_some_and(|n| n > before));
    assert!(!osc_contains(&d, b"\x1b]9;"), "no desktop notification with --notify off");
    assert_eq!(d.osc.lock().unwrap().1, 0, "no bell with --notify off");
    d.press("q");
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn sighup_ends_cleanly_like_a_closed_terminal() {
    let mut d = Dashboard::start(&["--demo", "--frozen"], 100, 30);
    d.wait_for("the first data", |s| s.contains("updated"));
    let pid = d.child.process_id().unwrap() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert_eq!(d.wait_exit(), 0, "SIGHUP is the normal quit path");
    d.assert_restored();
}

/// The TASKS column of the feeds pane, one number per feed (the demo's profiles).
fn feed_tasks(screen: &str) -> Vec<u64> {
    let feed_rows = screen.lines().map(|l| l.trim_start_matches(['▶', ' '])).filter(|l| l.starts_with("demo"));
    feed_rows.filter_map(|l| l.split_whitespace().nth(4)?.parse().ok()).collect()
}

/// A loaded dashboard: six feeds of 20,000 tasks each (the demo's two accounts in its three
/// regions), every task moving fast, polled every second. A key still changes the screen, and
/// q and SIGTERM still end it: input and signals never wait behind data.
#[test]
fn q_and_sigterm_end_a_loaded_dashboard() {
    let load = ["--demo", "--all-regions", "--tasks", "20000", "--speed", "600", "--interval", "1s"];
    for how in ["q", "SIGTERM"] {
        let mut d = Dashboard::start(&load, 160, 40);
        // Every feed's data, as the feeds pane counts it: thousands of tasks each (of the
        // 20,000, those the store quota refused are listed as their retries start).
        d.press("F");
        d.wait_for("every feed's data", |s| feed_tasks(s).len() == 6 && feed_tasks(s).iter().all(|n| *n >= 1000));
        d.press("\x1b");
        d.wait_for("the table", |s| !s.contains("All feeds") && rows(s).len() > 10);
        d.press("4");
        d.wait_for("the failed tab", |s| rows(s).iter().all(|l| l.contains("Failed")) && !rows(s).is_empty());
        match how {
            "q" => d.press("q"),
            _ => assert_eq!(unsafe { libc::kill(d.pid(), libc::SIGTERM) }, 0),
        }
        assert_eq!(d.wait_exit(), 0, "{how} ends a loaded dashboard");
        d.assert_restored();
    }
}

/// A server whose fresh pages never end (20,000 new tasks a page): the dashboard reads them
/// on its worker, bounded as any listing is, and SIGTERM still ends it at once.
#[test]
fn sigterm_ends_the_dashboard_while_an_endless_listing_is_read() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ep = rt.block_on(fake::start(|q| {
        let mut items = String::new();
        for i in 0..20_000 {
            items.push_str(&format!("<item><amiId>ami-{:05x}{i:05x}</amiId></item>", q.n));
        }
        fake::tasks_page(&items, Some(&format!("token-{}", q.n)))
    }));
    let env = common::static_env();
    let mut d = Dashboard::start_with(&["--endpoint-url", &ep.url], 120, 30, &std::env::temp_dir(), &env);
    let start = Instant::now();
    while ep.count("DescribeStoreImageTasks") < 3 {
        assert!(start.elapsed() < TIMEOUT, "the listing started; screen:\n{}", d.contents());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(unsafe { libc::kill(d.pid(), libc::SIGTERM) }, 0);
    assert_eq!(d.wait_exit(), 0, "SIGTERM is the normal quit path, under any load");
    d.assert_restored();
}

#[test]
fn an_export_plan_shows_its_queued_amis_and_its_line_and_stops_resumable() {
    use amiwatch::sim::{self, SimConfig, fresh::FreshImage};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let amis: Vec<String> = (1..=5).map(|i| format!("ami-{i:08x}")).collect();
    let config = SimConfig {
        tasks: 0,
        frozen: true,
        fresh_images: amis.iter().map(|a| FreshImage::new(a.clone(), 300)).collect(),
        gb_per_sec: Some(10.0),
        store_quota_gb: Some(600),
        ..SimConfig::default()
    };
    let h = rt.block_on(sim::start(([127, 0, 0, 1], 0).into(), config)).unwrap();
    let dir = std::env::temp_dir().join(format!("amiwatch-pty-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("plan.json");
    let mut args = vec!["--endpoint-url", h.url(), "export", "--bucket", "acme-archive", "--interval", "1s"];
    args.extend(["--plan", plan.to_str().unwrap()]);
    args.extend(amis.iter().map(String::as_str));
    let mut d = Dashboard::start_with(&args, 160, 30, &dir, &common::static_env());
    // The plan first, and a question before anything is sent.
    let s = d.wait_for("the question", |s| s.contains("Start storing 5 AMIs in s3://acme-archive? [y/N]"));
    assert!(s.contains("Plan: 5 AMIs, 1500 GB"), "{s}");
    assert_eq!(h.stats().create_store_image_task, 0, "nothing before the answer");
    d.press("y\r");
    // Two fill the 600 GB quota; three wait, each a Queued row.
    let s = d.wait_for("the plan line", |s| s.contains("plan: 0 of 5 stored · 2 in flight · 3 queued"));
    assert!(s.contains("600 of 600 GB in flight"), "{s}");
    let s = d.wait_for("queued rows", |s| rows(s).iter().filter(|l| l.contains("Queued")).count() == 3);
    assert!(s.contains("5 Queued 3"), "the Queued tab counts them: {s}");
    d.press("5");
    d.wait_for("the Queued tab alone", |s| rows(s).len() == 3 && rows(s).iter().all(|l| l.contains("Queued")));
    // The first two end (300 GB at 10 GB/s), and the next two start in their place.
    h.advance(Duration::from_secs(31));
    d.wait_for("two stored, two more started", |s| s.contains("plan: 2 of 5 stored · 2 in flight · 1 queued"));
    d.press("q");
    assert_eq!(d.wait_exit(), 130, "stopped before the end");
    d.assert_restored();
    let text = std::fs::read_to_string(&plan).unwrap();
    assert_eq!(text.matches("\"state\": \"stored\"").count(), 2, "{text}");
    assert_eq!(text.matches("\"state\": \"queued\"").count(), 1, "{text}");
    let accepted = h.creates().iter().filter(|c| c.outcome.is_ok() && !c.dry_run).count();
    assert_eq!(accepted, 4, "each started once");
    let _ = std::fs::remove_dir_all(&dir);
}
