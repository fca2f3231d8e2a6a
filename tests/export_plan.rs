//! `amiwatch export` as a user runs it: the real binary (no terminal, so one line a change on
//! standard error) against the embedded endpoint, started here with ten fresh AMIs of 50-500
//! GB, a 600 GB store quota, one AWS Marketplace AMI and one whose first export fails half
//! way. What is checked is the endpoint's truth (every `CreateStoreImageTask` it answered, and
//! each AMI's latest store task through the SDK), the exit code, the plan file and the lines.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amiwatch::ec2::ClientOptions;
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::sim::{self, CreateRecord, FreshImage, SimConfig, SimHandle};
use proptest::prelude::*;

const REGION: &str = "us-east-1";
const BUCKET: &str = "acme-ami-archive";
/// GB a second each export stores: the largest AMI takes 2.5 s.
const GB_PER_SEC: f64 = 200.0;
const QUOTA_GB: u64 = 600;
const SIZES: [u64; 10] = [50, 500, 120, 300, 80, 450, 200, 60, 350, 100];
/// The AMI from AWS Marketplace, and the one whose first export fails half way.
const MARKETPLACE: usize = 3;
const FAILS_FIRST: usize = 6;
/// The longest a whole plan may run before the test calls it stuck (it takes about 5 s).
const RUN_BOUND: Duration = Duration::from_secs(120);

fn ami(i: usize) -> String {
    format!("ami-0e{:015x}", i + 1)
}

fn amis() -> Vec<String> {
    (0..SIZES.len()).map(ami).collect()
}

fn storable() -> impl Iterator<Item = usize> {
    (0..SIZES.len()).filter(|&i| i != MARKETPLACE)
}

/// The embedded endpoint on a runtime of its own, so the test's thread may block on the
/// binary; and a directory for the plan file.
struct Endpoint {
    sim: Option<SimHandle>,
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
}

impl Endpoint {
    fn start(name: &str) -> Self {
        Self::with(name, false)
    }

    /// `frozen`: the endpoint's clock moves only when the test moves it.
    fn with(name: &str, frozen: bool) -> Self {
        let fresh: Vec<FreshImage> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &gb)| FreshImage {
                name: format!("archive-{i}"),
                marketplace: i == MARKETPLACE,
                fails_first: i == FAILS_FIRST,
                ..FreshImage::new(ami(i), gb)
            })
            .collect();
        let config = SimConfig {
            tasks: 5,
            moving: Some(0),
            seed: 19,
            frozen,
            gb_per_sec: Some(GB_PER_SEC),
            store_quota_gb: Some(QUOTA_GB),
            fresh_images: fresh,
            ..SimConfig::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let sim = rt.block_on(sim::start(([127, 0, 0, 1], 0).into(), config)).unwrap();
        let dir = std::env::temp_dir().join(format!("amiwatch-export-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { sim: Some(sim), rt, dir }
    }

    /// The accepted exports of `ami`: the endpoint's clock when each was accepted.
    fn accepted_of(&self, ami: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
        let ours = |r: &&CreateRecord| !r.dry_run && r.outcome.is_ok() && r.ami == ami;
        self.creates().iter().filter(ours).map(|r| r.at).collect()
    }

    fn sim(&self) -> &SimHandle {
        self.sim.as_ref().unwrap()
    }

    fn url(&self) -> &str {
        self.sim().url()
    }

    fn plan_path(&self) -> PathBuf {
        self.dir.join("plan.json")
    }

    /// The binary, with static credentials, this endpoint, and the plan's directory as its own.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
        for k in common::MACHINE_ENV {
            c.env_remove(k);
        }
        c.envs(common::static_env())
            .current_dir(&self.dir)
            .args(["--endpoint-url", self.url(), "--request-timeout", "5s"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// `export` making a new plan of the ten AMIs, started without asking.
    fn new_plan(&self) -> Running {
        let plan = self.plan_path().display().to_string();
        let mut args = vec!["export", "--bucket", BUCKET, "--plan", &plan, "--yes", "--interval", "1s"];
        let ids = amis();
        args.extend(ids.iter().map(String::as_str));
        Running::spawn(self.command(&args), None)
    }

    /// `export --plan FILE`: resumes the plan.
    fn resume(&self) -> Running {
        let plan = self.plan_path().display().to_string();
        Running::spawn(self.command(&["export", "--plan", &plan, "--yes", "--interval", "1s"]), None)
    }

    /// The plan made anew, or resumed when its file is there.
    fn new_or_resume(&self) -> Running {
        if self.plan_path().exists() { self.resume() } else { self.new_plan() }
    }

    /// Every `CreateStoreImageTask` the endpoint answered, oldest first.
    fn creates(&self) -> Vec<CreateRecord> {
        self.sim().creates()
    }

    /// How many exports of each AMI the endpoint accepted (dry runs and refusals not counted).
    fn accepted(&self) -> HashMap<String, usize> {
        let mut n = HashMap::new();
        for r in self.creates().iter().filter(|r| !r.dry_run && r.outcome.is_ok()) {
            *n.entry(r.ami.clone()).or_default() += 1;
        }
        n
    }

    /// Each AMI's latest store task's state, as DescribeStoreImageTasks with `ImageId` says it
    /// through the SDK (`None`: no task).
    fn latest_states(&self) -> HashMap<String, Option<String>> {
        let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
        let ec2 = connect_embedded_as(self.url(), &opts, sim::DEMO_KEY, REGION);
        self.rt.block_on(async {
            let mut out = HashMap::new();
            for a in amis() {
                let answer = ec2.client.describe_store_image_tasks().image_ids(&a).send().await.unwrap();
                let state = answer.store_image_task_results().first().and_then(|t| t.store_task_state());
                out.insert(a, state.map(str::to_string));
            }
            out
        })
    }

    /// Writes a plan file (the documented format, version 1) of these AMIs, to this bucket in
    /// this region: what a runner leaves behind.
    fn write_plan(&self, amis: serde_json::Value) {
        let plan = serde_json::json!({
            "version": 1, "bucket": BUCKET, "profile": null, "region": REGION, "store_quota_gb": QUOTA_GB,
            "retries": 2, "tags": [], "created": chrono::Utc::now().to_rfc3339(), "amis": amis,
        });
        std::fs::write(self.plan_path(), plan.to_string()).unwrap();
    }

    /// The plan file's state of each AMI, and its whole text.
    fn plan_states(&self) -> (HashMap<String, String>, String) {
        let text = std::fs::read_to_string(self.plan_path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let states = v["amis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["ami"].as_str().unwrap().to_string(), e["status"]["state"].as_str().unwrap().to_string()))
            .collect();
        (states, text)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // The endpoint stops before its runtime does.
        drop(self.sim.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a run of the binary ended.
#[derive(Debug)]
struct Ended {
    /// `None`: killed by a signal.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A running binary whose standard error is read a line at a time as it comes.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
    started: Instant,
}

impl Running {
    fn spawn(mut c: Command, stdin: Option<&str>) -> Self {
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            let mut input = child.stdin.take().unwrap();
            input.write_all(text.as_bytes()).unwrap();
        }
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new(), stdout: Some(stdout), started: Instant::now() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL: no cleanup) and reaps it.
    fn kill(mut self) -> Ended {
        let _ = self.child.kill();
        self.reap()
    }

    fn reap(&mut self) -> Ended {
        let status = self.child.wait().unwrap();
        // Its standard error ends with it: the rest of the lines.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        let stdout = self.stdout.take().map(|t| t.join().unwrap()).unwrap_or_default();
        Ended { code: status.code(), stdout, stderr: self.seen.join("\n") }
    }

    /// Waits for a line of standard error that `wanted` accepts; kills the binary and fails
    /// the test when it ends or `bound` passes first.
    fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let ended = self.reap();
                    panic!("no such line ({e:?}); the binary said:\n{}\n{}", ended.stderr, ended.stdout);
                }
            }
        }
    }

    /// The next line of standard error; `None` when it has ended. Kills the binary and fails
    /// the test when no line comes within `bound`.
    fn next_line(&mut self, bound: Duration) -> Option<String> {
        match self.lines.recv_timeout(bound) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let ended = self.reap();
                panic!("no line in {bound:?}; it said:\n{}\n{}", ended.stderr, ended.stdout);
            }
        }
    }

    /// Waits for it to end by itself; kills it and fails the test when it runs past `bound`.
    fn finish(mut self, bound: Duration) -> Ended {
        let deadline = self.started + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.reap(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let ended = self.reap();
                    panic!("still running after {bound:?}; it said:\n{}\n{}", ended.stderr, ended.stdout);
                }
            }
        }
    }

    /// Whether it has ended by itself.
    fn ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

/// What every complete run of the plan leaves, whatever happened on the way: each storable
/// AMI Completed in the endpoint and stored in the plan file, each started once (the one that
/// fails first twice), the marketplace one never sent and named on stderr with why, exit 1.
fn check_the_end(e: &Endpoint, last: &Ended) {
    let out = format!("stderr:\n{}\nstdout:\n{}", last.stderr, last.stdout);
    assert_eq!(last.code, Some(1), "exit 1 for the marketplace AMI; {out}");
    let latest = e.latest_states();
    let accepted = e.accepted();
    let (plan, text) = e.plan_states();
    let market = ami(MARKETPLACE);
    for i in storable() {
        let a = ami(i);
        assert_eq!(latest[&a].as_deref(), Some("Completed"), "{a} in the endpoint; {out}");
        let once = if i == FAILS_FIRST { 2 } else { 1 };
        assert_eq!(accepted.get(&a).copied(), Some(once), "{a}: exports accepted; {:#?}", e.creates());
        assert_eq!(plan[&a], "stored", "{a} in the plan file:\n{text}");
    }
    let sent = e.creates().iter().filter(|r| r.ami == market && !r.dry_run).count();
    assert_eq!(sent, 0, "the marketplace AMI is known from DescribeImages and never sent");
    assert_eq!(latest[&market], None);
    assert_eq!(plan[&market], "cannot-store", "{text}");
    assert!(text.contains("Marketplace"), "the plan says why:\n{text}");
    let named = last.stderr.lines().find(|l| l.contains(&market) && l.contains("not stored")).unwrap_or_default();
    assert!(named.contains("Marketplace"), "the marketplace AMI named with why; {out}");
    // Every export of the plan's sent to the plan's bucket, and nothing else sent.
    assert!(e.creates().iter().all(|r| r.bucket == BUCKET && amis().contains(&r.ami)), "{:#?}", e.creates());
}

/// Whether two exports the endpoint accepted were in progress at once: one accepted before
/// another could have ended (its size at the endpoint's rate; half of it for a first export
/// that fails half way), from the endpoint's own clock.
fn overlapping(e: &Endpoint) -> Option<(String, String)> {
    let size = |a: &str| SIZES[amis().iter().position(|x| x == a).unwrap()] as f64;
    let mut spans: Vec<(chrono::DateTime<chrono::Utc>, f64, String)> = Vec::new();
    for r in e.creates().iter().filter(|r| !r.dry_run && r.outcome.is_ok()) {
        let first = !spans.iter().any(|s| s.2 == r.ami);
        let fraction = if first && r.ami == ami(FAILS_FIRST) { 0.5 } else { 1.0 };
        spans.push((r.at, size(&r.ami) * fraction / GB_PER_SEC, r.ami.clone()));
    }
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let gap = (b.0 - a.0).num_milliseconds() as f64 / 1000.0;
            if gap < a.1 {
                return Some((a.2.clone(), b.2.clone()));
            }
        }
    }
    None
}

#[test]
fn a_plan_of_ten_amis_is_stored_under_the_quota_each_started_once() {
    let e = Endpoint::start("whole");
    let last = e.new_plan().finish(RUN_BOUND);
    check_the_end(&e, &last);
    let both = overlapping(&e);
    assert!(both.is_some(), "more than one export in flight at a time: {:#?}", e.creates());
    // The lines say so too: some line counts two or more in flight.
    let most = last
        .stderr
        .lines()
        .filter_map(|l| l.split(" · ").find_map(|p| p.strip_suffix(" in flight")?.parse::<usize>().ok()))
        .max();
    assert!(most.is_some_and(|n| n > 1), "{}", last.stderr);
    // One line a change: each storable AMI started and stored, the failing one failed once.
    for i in storable() {
        let a = ami(i);
        let said = |what: &str| {
            let line = format!("{a} (archive-{i}) {what} · ");
            last.stderr.lines().filter(|l| l.contains(&line)).count()
        };
        assert_eq!(said("started"), if i == FAILS_FIRST { 2 } else { 1 }, "{a}: {}", last.stderr);
        assert_eq!(said("stored"), 1, "{a}: {}", last.stderr);
    }
    let failed =
        last.stderr.lines().filter(|l| l.contains(&ami(FAILS_FIRST)) && l.contains("it will be started again"));
    assert_eq!(failed.count(), 1, "{}", last.stderr);
    assert!(last.stdout.contains("Cannot be stored (1, never sent)"), "the plan shown first: {}", last.stdout);
    // Nothing else runs in the account, so the runner's in-flight total is never below the
    // endpoint's: the quota is never probed.
    let refused =
        e.creates().iter().filter(|r| r.outcome.as_ref().is_err_and(|c| c == "ResourceLimitExceeded")).count();
    assert_eq!(refused, 0, "quota refusals: {:#?}", e.creates());
}

/// When a run is killed: a while after it began, or just as the endpoint answered its n-th
/// `CreateStoreImageTask` of that run (the answer on its way, not yet written to the plan),
/// and a few milliseconds later.
#[derive(Debug, Clone, Copy)]
enum Moment {
    After(u64),
    AtCreate(usize, u64),
}

fn moment() -> impl Strategy<Value = Moment> {
    prop_oneof![
        // Around the plan being made and written, and the first starts.
        (0u64..400).prop_map(Moment::After),
        // Anywhere in the run (about 5 s).
        (0u64..6000).prop_map(Moment::After),
        // Just as the endpoint answers one of the run's creates, or a moment later.
        (0usize..6, 0u64..3).prop_map(|(n, ms)| Moment::AtCreate(n, ms)),
    ]
}

/// Runs until `m`, then SIGKILL; `None` when it ended first (by itself).
fn kill_at(e: &Endpoint, mut run: Running, m: Moment) -> Option<Ended> {
    let before = e.creates().len();
    let deadline = Instant::now() + RUN_BOUND;
    match m {
        Moment::After(ms) => {
            // The moment is the point of the test: a time, not a wait for something.
            std::thread::sleep(Duration::from_millis(ms));
        }
        Moment::AtCreate(n, ms) => {
            // Watch the endpoint's record closely: the kill lands while the answer travels.
            while e.creates().len() <= before + n {
                if run.ended() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    if run.ended() {
        let ended = run.reap();
        return Some(ended);
    }
    run.kill();
    eprintln!("KILLED {m:?}: {}", landed(e));
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]
    /// Killed with SIGKILL one to three times at any moment and resumed until it ends: no AMI is
    /// started twice (the failing one exactly twice), none is lost, and the end is exit 1.
    #[test]
    fn a_plan_killed_at_any_moment_and_resumed_stores_each_ami_once(
        kills in proptest::collection::vec(moment(), 1..=3)
    ) {
        let e = Endpoint::start("killed");
        let mut last = None;
        for m in kills {
            if let Some(ended) = kill_at(&e, e.new_or_resume(), m) {
                last = Some(ended);
                break;
            }
        }
        let last = match last {
            Some(l) => l,
            None => e.new_or_resume().finish(RUN_BOUND),
        };
        check_the_end(&e, &last);
    }
}

#[test]
fn a_second_runner_on_the_same_plan_is_refused_and_the_first_goes_on() {
    // The endpoint's clock stands still until the second runner is done with: the first
    // cannot end before it.
    let e = Endpoint::with("second", true);
    let mut first = e.new_plan();
    first.wait_for_line(|l| l.contains(" started ·"), Duration::from_secs(30));
    let sent = e.creates().len();
    let plan = e.plan_path().display().to_string();
    let second = Running::spawn(e.command(&["export", "--plan", &plan, "--yes", "--interval", "1s"]), None);
    let refused = second.finish(Duration::from_secs(30));
    assert!(refused.code.is_some_and(|c| c != 0), "{refused:?}");
    let said = refused.stderr.lines().find(|l| l.contains("another amiwatch export is running")).unwrap_or_default();
    assert!(said.contains(&format!("process {}", first.pid())), "names the other: {}", refused.stderr);
    assert_eq!(e.creates().len(), sent, "the second sent nothing");
    // The first goes on: each time the clock moves, the exports in flight end (the largest
    // takes 2.5 s) and it says so.
    for _ in 0..60 {
        e.sim().advance(Duration::from_secs(3));
        if first.next_line(Duration::from_secs(30)).is_none() {
            break;
        }
    }
    let first = first.finish(RUN_BOUND);
    check_the_end(&e, &first);
}

/// Ctrl-C (or SIGTERM) stops starting exports, says the ones in flight go on in AWS and how to
/// resume, and exits 130; the plan resumes to the end.
#[cfg(unix)]
#[test]
fn an_interrupted_plan_says_what_goes_on_and_resumes() {
    // The clock stands still: the first exports are in flight when the signal comes.
    let e = Endpoint::with("interrupt", true);
    let mut run = e.new_plan();
    run.wait_for_line(|l| l.contains(" started ·"), Duration::from_secs(30));
    let sent = e.creates().len();
    // SAFETY: a signal to the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(run.pid() as libc::pid_t, libc::SIGINT) }, 0);
    let stopped = run.finish(Duration::from_secs(30));
    assert_eq!(stopped.code, Some(130), "{stopped:?}");
    let said = stopped.stderr.lines().last().unwrap_or_default();
    assert!(said.contains("go on in AWS") && said.contains("Resume with `amiwatch export --plan"), "{said}");
    assert_eq!(e.creates().len(), sent, "nothing started after the signal");
    let (states, text) = e.plan_states();
    assert!(states.values().any(|s| s == "in-flight"), "{text}");
    let mut resumed = e.resume();
    for _ in 0..60 {
        e.sim().advance(Duration::from_secs(3));
        if resumed.next_line(Duration::from_secs(30)).is_none() {
            break;
        }
    }
    check_the_end(&e, &resumed.finish(RUN_BOUND));
}

#[test]
fn a_dry_run_checks_the_permission_starts_nothing_and_writes_no_plan() {
    let e = Endpoint::start("dry");
    let plan = e.plan_path().display().to_string();
    let mut args = vec!["export", "--dry-run", "--bucket", BUCKET, "--plan", &plan];
    let ids = amis();
    args.extend(ids.iter().map(String::as_str));
    let ended = Running::spawn(e.command(&args), None).finish(Duration::from_secs(30));
    assert_eq!(ended.code, Some(0), "{ended:?}");
    let creates = e.creates();
    assert!(!creates.is_empty(), "the permission is checked with DryRun");
    assert!(creates.iter().all(|r| r.dry_run), "{creates:#?}");
    assert!(e.latest_states().values().all(Option::is_none), "no export in the endpoint");
    assert!(!e.plan_path().exists(), "a dry run writes no plan");
    assert!(ended.stdout.contains("allowed"), "{}", ended.stdout);
    assert!(ended.stdout.contains(&ami(0)) && ended.stdout.contains("Cannot be stored"), "the plan: {}", ended.stdout);
}

/// Runs `export` with `args` (and `stdin`); exit code, stdout, stderr.
fn export(e: &Endpoint, args: &[&str], stdin: Option<&str>) -> Ended {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    Running::spawn(e.command(&all), stdin).finish(Duration::from_secs(30))
}

fn assert_usage(ended: &Ended, says: &str) {
    assert_eq!(ended.code, Some(2), "{ended:?}");
    let lines: Vec<&str> = ended.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", ended.stderr);
    assert!(lines[0].contains(says), "{:?} should say {says:?}", lines[0]);
}

#[test]
fn bad_usage_exits_2_with_one_line_and_starts_nothing() {
    let e = Endpoint::start("usage");
    let plan = e.plan_path().display().to_string();
    let (a, b) = (ami(0), ami(1));
    assert_usage(&export(&e, &["--yes", &a], None), "--bucket");
    let list = e.dir.join("amis.txt");
    std::fs::write(&list, format!("# to archive\n{a}\n\nimage-1 # not one\n")).unwrap();
    let list = list.display().to_string();
    assert_usage(&export(&e, &["--bucket", BUCKET, "--plan", &plan, "--from-file", &list], None), "line 4");
    assert_usage(&export(&e, &["--bucket", BUCKET, "--plan", &plan, "--tag", "novalue", &a], None), "novalue");
    assert_usage(
        &export(&e, &["--region", "us-east-1", "--region", "eu-west-1", "--bucket", BUCKET, "--plan", &plan, &a], None),
        "one --region",
    );
    std::fs::write(e.plan_path(), "{}").unwrap();
    assert_usage(&export(&e, &["--bucket", BUCKET, "--plan", &plan, "--yes", &a, &b], None), "a plan is there already");
    assert_eq!(std::fs::read_to_string(e.plan_path()).unwrap(), "{}", "the plan there is left as it was");
    // A plan's bucket, tags, region and profile are the plan's: a resume that names others
    // is refused.
    e.write_plan(serde_json::json!([{ "ami": a, "size_gb": SIZES[0], "status": { "state": "queued" } }]));
    let written = std::fs::read_to_string(e.plan_path()).unwrap();
    assert_usage(&export(&e, &["--plan", &plan, "--bucket", "another-bucket"], None), "bucket does not change");
    assert_usage(&export(&e, &["--plan", &plan, "--tag", "team=infra"], None), "--tag");
    assert_usage(&export(&e, &["--plan", &plan, "--region", "eu-west-1"], None), "leave --region out");
    assert_usage(&export(&e, &["--plan", &plan, "--profile", "prod"], None), "leave --profile out");
    assert_eq!(std::fs::read_to_string(e.plan_path()).unwrap(), written, "the plan is left as it was");
    std::fs::remove_file(e.plan_path()).unwrap();
    assert!(e.creates().is_empty(), "nothing sent: {:#?}", e.creates());
    assert!(!e.plan_path().exists());
}

#[test]
fn a_plan_of_nothing_storable_starts_nothing_and_writes_no_plan() {
    let e = Endpoint::start("nothing");
    let plan = e.plan_path().display().to_string();
    let missing = "ami-0f00000000000000f";
    let ended = export(&e, &["--bucket", BUCKET, "--plan", &plan, "--yes", &ami(MARKETPLACE), missing], None);
    assert_eq!(ended.code, Some(1), "{ended:?}");
    assert!(ended.stderr.contains("none of these AMIs can be stored"), "{}", ended.stderr);
    assert!(ended.stdout.contains(&format!("{missing} -: it was not found")), "{}", ended.stdout);
    assert!(ended.stdout.contains("Marketplace"), "{}", ended.stdout);
    assert!(e.creates().is_empty(), "nothing sent: {:#?}", e.creates());
    assert!(!e.plan_path().exists(), "no plan written");
}

#[test]
fn an_ami_list_from_standard_input_takes_comments() {
    let e = Endpoint::start("stdin");
    let plan = e.plan_path().display().to_string();
    let input = format!("# the old web servers\n{}\n\n   {}   # the big one\n#{}\n", ami(0), ami(1), ami(2));
    let ended =
        export(&e, &["--dry-run", "--bucket", BUCKET, "--plan", &plan, "--from-file", "-"], Some(input.as_str()));
    assert_eq!(ended.code, Some(0), "{ended:?}");
    assert!(ended.stdout.contains("Plan: 2 AMIs, 550 GB"), "{}", ended.stdout);
    assert!(ended.stdout.contains(&ami(0)) && ended.stdout.contains(&ami(1)), "{}", ended.stdout);
    assert!(!ended.stdout.contains(&ami(2)), "a commented-out AMI is not in the plan: {}", ended.stdout);
    assert!(e.creates().iter().all(|r| r.dry_run));
}

/// Where a kill landed, from the plan file and the endpoint's record: no plan yet, an AMI
/// `starting` whose export the endpoint accepted (the call made, its answer not written), an
/// AMI `starting` not sent, or between the plan's writes.
fn landed(e: &Endpoint) -> &'static str {
    let Ok(text) = std::fs::read_to_string(e.plan_path()) else { return "before the plan was written" };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let accepted = e.accepted();
    for entry in v["amis"].as_array().unwrap() {
        if entry["status"]["state"] == "starting" {
            let a = entry["ami"].as_str().unwrap();
            let tried = entry["attempts"].as_array().map_or(0, Vec::len);
            return if accepted.get(a).copied().unwrap_or(0) > tried {
                "between the call and the write"
            } else {
                "after marking starting, before the call"
            };
        }
    }
    "between calls"
}

/// EC2 gives a task's start to the second, and a task is known by its AMI and start. An
/// export that fails within its first second can be started again in that same second; a
/// runner killed as that second export was accepted (the plan says `starting`, with the failed
/// attempt) finds, on resuming, a task whose start the failed attempt already has. That task
/// is the second export (it did not fail): followed, not started a third time.
///
/// The endpoint's clock is frozen, and the two exports and the plan such a kill leaves are made
/// here, so the moment is exact every time.
#[test]
fn a_retry_in_the_second_its_first_export_failed_is_not_started_again_after_a_kill() {
    let e = Endpoint::with("same-second", true);
    let x = ami(FAILS_FIRST);
    let fails_at = SIZES[FAILS_FIRST] as f64 / GB_PER_SEC * 0.5;
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    let ec2 = connect_embedded_as(e.url(), &opts, sim::DEMO_KEY, REGION);
    let create = || e.rt.block_on(ec2.client.create_store_image_task().image_id(&x).bucket(BUCKET).send()).unwrap();
    create();
    // Past half way, where the first export fails, and still in the second it started.
    let into = f64::from(e.accepted_of(&x)[0].timestamp_subsec_millis()) / 1000.0;
    assert!(fails_at < 0.9, "the first export must fail within its second");
    if into <= fails_at + 0.02 {
        e.sim().advance(Duration::from_secs_f64(fails_at + 0.05 - into));
    }
    assert_eq!(e.latest_states()[&x].as_deref(), Some("Failed"));
    create();
    // Every task (with `ImageId` the service tells only the latest).
    let tasks = e.rt.block_on(ec2.client.describe_store_image_tasks().send()).unwrap();
    let ours = tasks.store_image_task_results().iter().filter(|t| t.ami_id() == Some(x.as_str()));
    let starts: Vec<_> = ours.filter_map(|t| t.task_start_time()).collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0], starts[1], "two exports of one AMI with one start");
    let start = chrono::DateTime::from_timestamp(starts[0].secs(), 0).unwrap();
    // The second export ends while no runner watches.
    e.sim().advance(Duration::from_secs(5));
    assert_eq!(e.latest_states()[&x].as_deref(), Some("Completed"));
    // The plan a runner killed between the second call and its write leaves behind.
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    e.write_plan(serde_json::json!([{
        "ami": x, "size_gb": SIZES[FAILS_FIRST],
        "status": { "state": "starting", "since": since.to_rfc3339() },
        "attempts": [{ "task_start": start.to_rfc3339(), "failed": "An internal error occurred." }],
    }]));
    let mut resumed = e.resume();
    let third = until(&mut resumed, Duration::from_secs(30), || e.accepted_of(&x).len() > 2);
    let ended = if third { resumed.kill() } else { resumed.finish(Duration::from_secs(30)) };
    assert!(!third, "started a third time: {}", ended.stderr);
    assert_eq!(ended.code, Some(0), "{ended:?}");
    // It had ended by the time the runner looked: told by its ending, not as one in progress.
    assert!(ended.stderr.contains(&format!("{x} stored")), "{}", ended.stderr);
    assert!(!ended.stderr.contains("has an export in progress"), "{}", ended.stderr);
    let (states, text) = e.plan_states();
    assert_eq!(states[&x], "stored", "{text}");
}

/// Waits (a bounded while, looking every 5 ms) until `done` holds or the binary ends;
/// whether `done` holds.
fn until(run: &mut Running, bound: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        if run.ended() {
            return done();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}
