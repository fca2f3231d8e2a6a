//! The runner's decisions against a service in memory: the quota, retries, refusals, and a
//! runner killed at any moment (before a request, after its effect but before its answer is
//! written down) and resumed from what the plan file held.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::export::plan::{Entry, Plan, Status, VERSION};

/// GB an export stores a minute; one step is one minute.
const RATE: u64 = 100;

#[derive(Debug, Clone)]
struct FakeTask {
    ami: String,
    bucket: &'static str,
    start: DateTime<Utc>,
    size: u64,
    fails: bool,
}

#[derive(Debug)]
struct World {
    now: DateTime<Utc>,
    quota: u64,
    sizes: HashMap<String, u64>,
    marketplace: HashSet<String>,
    fails_first: HashSet<String>,
    tasks: Vec<FakeTask>,
    /// Every create the service took (the AMI).
    accepted: Vec<String>,
    refused_quota: usize,
    creates_of: HashMap<String, usize>,
    ops: u64,
    /// Kill the runner at this request: before its effect (false) or after it (true).
    kill_at: Vec<(u64, bool)>,
    dead: bool,
    /// A lying service: every create says an export is in progress, and none is listed.
    contradicts: bool,
    /// Every create is refused: the caller may not call CreateStoreImageTask.
    denied: bool,
}

impl FakeTask {
    fn minutes(&self) -> i64 {
        self.size.div_ceil(RATE).max(1) as i64
    }
    fn state(&self, now: DateTime<Utc>) -> (TaskState, u8) {
        let ran = (now - self.start).num_minutes();
        let total = self.minutes();
        if self.fails && ran >= total / 2 {
            return (TaskState::Failed, 50);
        }
        if ran >= total {
            return (TaskState::Completed, 100);
        }
        (TaskState::InProgress, (ran * 100 / total) as u8)
    }
    fn as_task(&self, now: DateTime<Utc>) -> StoreTask {
        let (state, progress) = self.state(now);
        StoreTask {
            ami_id: Some(self.ami.as_str().into()),
            start_time: Some(self.start),
            bucket: Some(self.bucket.into()),
            object_key: Some(format!("{}.bin", self.ami).into()),
            progress: Some(progress),
            failure_reason: (state == TaskState::Failed).then(|| "snapshot unreadable".into()),
            state: Some(state),
        }
    }
}

impl World {
    fn held(&self) -> u64 {
        self.tasks.iter().filter(|t| t.state(self.now).0 == TaskState::InProgress).map(|t| t.size).sum()
    }

    /// Counts a request; whether it happens, and whether its answer reaches the runner.
    fn op(&mut self) -> (bool, bool) {
        if self.dead {
            return (false, false);
        }
        self.ops += 1;
        match self.kill_at.iter().find(|(n, _)| *n == self.ops) {
            Some(&(_, after)) => {
                self.dead = true;
                (after, false)
            }
            None => (true, true),
        }
    }
}

fn lost() -> FetchError {
    FetchError::new(ErrorKind::Unreachable, "connection reset")
}

#[derive(Clone)]
struct Fake(Arc<Mutex<World>>);

impl Service for Fake {
    async fn latest(&self, amis: &[String]) -> Result<Vec<StoreTask>, FetchError> {
        let mut w = self.0.lock().unwrap();
        let (happens, answered) = w.op();
        if !(happens && answered) {
            return Err(lost());
        }
        let now = w.now;
        Ok(amis
            .iter()
            .filter_map(|a| w.tasks.iter().filter(|t| &t.ami == a).max_by_key(|t| t.start).map(|t| t.as_task(now)))
            .collect())
    }

    async fn in_progress(&self) -> Result<Vec<StoreTask>, FetchError> {
        let mut w = self.0.lock().unwrap();
        let (happens, answered) = w.op();
        if !(happens && answered) {
            return Err(lost());
        }
        // Each poll is a minute later.
        w.now += Duration::minutes(1);
        let now = w.now;
        Ok(w.tasks.iter().map(|t| t.as_task(now)).filter(|t| t.state == Some(TaskState::InProgress)).collect())
    }

    async fn sizes(&self, amis: &[String]) -> HashMap<String, u64> {
        let w = self.0.lock().unwrap();
        amis.iter().filter_map(|a| Some((a.clone(), *w.sizes.get(a)?))).collect()
    }

    async fn create(&self, ami: &str, _bucket: &str, _tags: &[Tag]) -> Result<String, FetchError> {
        let mut w = self.0.lock().unwrap();
        let (happens, answered) = w.op();
        if !happens {
            return Err(lost());
        }
        let now = w.now;
        let refuse = |code: &str| FetchError::new(ErrorKind::Refused(code.into()), "refused");
        let answer = if w.denied {
            w.creates_of.entry(ami.to_string()).and_modify(|n| *n += 1).or_insert(1);
            Err(FetchError::new(ErrorKind::Unauthorized, "not authorized"))
        } else if w.contradicts {
            w.creates_of.entry(ami.to_string()).and_modify(|n| *n += 1).or_insert(1);
            Err(FetchError::new(ErrorKind::InvalidRequest("IncorrectState".into()), "in progress"))
        } else if w.marketplace.contains(ami) {
            Err(refuse("UnsupportedOperation"))
        } else if w.tasks.iter().any(|t| t.ami == ami && t.state(now).0 == TaskState::InProgress) {
            Err(FetchError::new(ErrorKind::InvalidRequest("IncorrectState".into()), "in progress"))
        } else if w.held() >= w.quota {
            w.refused_quota += 1;
            Err(refuse("ResourceLimitExceeded"))
        } else {
            let n = w.creates_of.entry(ami.to_string()).or_default();
            *n += 1;
            let fails = *n == 1 && w.fails_first.contains(ami);
            let size = w.sizes[ami];
            // Two exports never share a start second: the service's clock moves on.
            let start = now + Duration::seconds(w.accepted.len() as i64);
            w.tasks.push(FakeTask { ami: ami.to_string(), bucket: "b", start, size, fails });
            w.accepted.push(ami.to_string());
            Ok(format!("{ami}.bin"))
        };
        if answered { answer } else { Err(lost()) }
    }
}

/// The plan file: what was last written, and nothing once the runner is dead.
struct Mem(Arc<Mutex<World>>, Arc<Mutex<Option<Plan>>>);

impl Store for Mem {
    fn save(&mut self, plan: &Plan) -> Result<(), String> {
        if self.0.lock().unwrap().dead {
            return Err("killed".into());
        }
        *self.1.lock().unwrap() = Some(plan.clone());
        Ok(())
    }
}

/// Ten AMIs of 50-500 GB: the 4th from the marketplace, the 7th failing once.
fn world(kill_at: Vec<(u64, bool)>) -> (World, Plan) {
    let sizes = [50, 500, 120, 300, 80, 450, 200, 60, 350, 100];
    let amis: Vec<String> = (0..sizes.len()).map(|i| format!("ami-{:08x}", i + 1)).collect();
    let t0 = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
    let w = World {
        now: t0,
        quota: 600,
        sizes: amis.iter().cloned().zip(sizes).collect(),
        marketplace: [amis[3].clone()].into(),
        fails_first: [amis[6].clone()].into(),
        tasks: vec![],
        accepted: vec![],
        refused_quota: 0,
        creates_of: HashMap::new(),
        ops: 0,
        kill_at,
        dead: false,
        contradicts: false,
        denied: false,
    };
    let plan = Plan {
        version: VERSION,
        bucket: "b".into(),
        profile: None,
        region: "us-east-1".into(),
        store_quota_gb: 600,
        retries: 2,
        tags: vec![],
        created: t0,
        amis: amis
            .iter()
            .zip(sizes)
            .map(|(a, s)| Entry {
                ami: a.clone(),
                name: None,
                size_gb: Some(s),
                status: Status::Queued,
                attempts: vec![],
            })
            .collect(),
    };
    (w, plan)
}

/// Runs the plan to its end, resuming from the last written plan each time the runner is
/// killed; the most in flight at once.
fn run_to_end(world: World, plan: Plan) -> (Arc<Mutex<World>>, Plan, usize) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let w = Arc::new(Mutex::new(world));
    let file = Arc::new(Mutex::new(Some(plan)));
    let mut most = 0;
    for _life in 0..20 {
        w.lock().unwrap().dead = false;
        let plan = file.lock().unwrap().clone().unwrap();
        let mut r = Runner::new(plan, Fake(w.clone()), Mem(w.clone(), file.clone()));
        for _ in 0..500 {
            let now = w.lock().unwrap().now;
            let _ = rt.block_on(r.step(now));
            if w.lock().unwrap().dead {
                break;
            }
            most = most.max(r.plan.counts().in_flight);
            if r.plan.is_done() {
                return (w, r.plan, most);
            }
        }
    }
    let plan = file.lock().unwrap().clone().unwrap();
    (w, plan, most)
}

fn check_end(w: &World, plan: &Plan) {
    for (i, e) in plan.amis.iter().enumerate() {
        let creates = w.creates_of.get(&e.ami).copied().unwrap_or(0);
        match i {
            3 => {
                assert!(matches!(&e.status, Status::Failed { why } if why.contains("cannot store")), "{e:?}");
                assert_eq!(creates, 0);
            }
            6 => {
                assert_eq!(e.status, Status::Stored, "{e:?}");
                assert_eq!(creates, 2, "the one that fails once is started twice");
                assert_eq!(e.attempts.len(), 2, "{e:?}");
                assert!(e.attempts[0].failed.is_some());
            }
            _ => {
                assert_eq!(e.status, Status::Stored, "{e:?}");
                assert_eq!(creates, 1, "{} started {creates} times", e.ami);
            }
        }
    }
}

#[test]
fn a_plan_is_stored_under_the_quota_each_ami_once() {
    let (w, plan) = world(vec![]);
    let (w, end, most) = run_to_end(w, plan);
    let w = w.lock().unwrap();
    check_end(&w, &end);
    assert!(most > 1, "more than one export in flight at a time");
    // The marketplace AMI was asked once, and the quota was never probed twice in a row.
    assert!(w.refused_quota <= w.accepted.len(), "refusals {} for {} starts", w.refused_quota, w.accepted.len());
}

#[test]
fn the_quota_holds_starts_back_until_the_total_drops() {
    let (w, plan) = world(vec![]);
    let w = Arc::new(Mutex::new(w));
    let file = Arc::new(Mutex::new(Some(plan.clone())));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut r = Runner::new(plan, Fake(w.clone()), Mem(w.clone(), file));
    for _ in 0..200 {
        let before = w.lock().unwrap().held();
        let started = w.lock().unwrap().accepted.len();
        let now = w.lock().unwrap().now;
        rt.block_on(r.step(now)).unwrap();
        let world = w.lock().unwrap();
        // A start is made only while less than the quota is held (one may take it past).
        if world.accepted.len() > started + 1 {
            let sizes: u64 = world.accepted[started..world.accepted.len() - 1].iter().map(|a| world.sizes[a]).sum();
            assert!(before + sizes < 600 || before >= 600, "started past a full quota");
        }
        if r.plan.is_done() {
            break;
        }
    }
    assert!(r.plan.is_done());
    assert!(r.requests < 200, "{} requests", r.requests);
}

#[test]
fn an_answer_lost_after_the_call_is_settled_by_asking_not_by_calling_again() {
    // The first create happens at request 3 (in progress, latest, create): killed after it.
    let (w, plan) = world(vec![(3, true)]);
    let (w, end, _) = run_to_end(w, plan);
    let w = w.lock().unwrap();
    assert_eq!(w.creates_of["ami-00000001"], 1);
    check_end(&w, &end);
}

#[test]
fn an_in_progress_export_of_a_queued_ami_is_followed_not_started() {
    let (mut w, plan) = world(vec![]);
    let now = w.now;
    w.tasks.push(FakeTask {
        ami: "ami-00000001".into(),
        bucket: "b",
        start: now - Duration::seconds(30),
        size: 300,
        fails: false,
    });
    let (w, end, _) = run_to_end(w, plan);
    let w = w.lock().unwrap();
    assert_eq!(w.creates_of.get("ami-00000001"), None, "adopted, never started");
    assert_eq!(end.amis[0].status, Status::Stored);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Killed at any request (before it, or after its effect with the answer lost), up to
    /// three times, and resumed from the plan as written: no AMI is started twice, none is lost.
    #[test]
    fn a_runner_killed_at_any_moment_resumes_without_starting_twice(
        kills in proptest::collection::vec((1u64..80, any::<bool>()), 1..4)
    ) {
        let (w, plan) = world(kills);
        let (w, end, _) = run_to_end(w, plan);
        let w = w.lock().unwrap();
        prop_assert!(end.is_done(), "{end:?}");
        check_end(&w, &end);
    }
}

#[test]
fn a_service_that_contradicts_itself_gets_one_start_a_step_not_a_loop() {
    let (mut w, plan) = world(vec![]);
    w.contradicts = true;
    let w = Arc::new(Mutex::new(w));
    let file = Arc::new(Mutex::new(Some(plan.clone())));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut r = Runner::new(plan, Fake(w.clone()), Mem(w.clone(), file));
    for step in 1..=3 {
        let now = w.lock().unwrap().now;
        rt.block_on(r.step(now)).unwrap();
        let creates: usize = w.lock().unwrap().creates_of.values().sum();
        assert_eq!(creates, step, "one start a step");
    }
}

#[test]
fn a_retry_sharing_the_failed_exports_start_is_followed_not_started_again() {
    // EC2 gives starts to the second: the first export of ami-00000007 failed within its
    // second, its retry began in that second and completed, and the runner was killed before
    // it wrote the retry down.
    let (mut w, mut plan) = world(vec![]);
    let t = w.now - Duration::minutes(10);
    let ami = "ami-00000007".to_string();
    w.tasks.push(FakeTask { ami: ami.clone(), bucket: "b", start: t, size: 200, fails: true });
    w.tasks.push(FakeTask { ami: ami.clone(), bucket: "b", start: t, size: 200, fails: false });
    w.creates_of.insert(ami.clone(), 2);
    plan.amis[6].status = Status::Starting { since: t };
    plan.amis[6].attempts =
        vec![Attempt { task_start: Some(t), object_key: None, failed: Some("snapshot unreadable".into()) }];
    let (w, end, _) = run_to_end(w, plan);
    let w = w.lock().unwrap();
    assert_eq!(w.creates_of[&ami], 2, "not started a third time");
    assert_eq!(end.amis[6].status, Status::Stored, "{:?}", end.amis[6]);
}

#[test]
fn an_export_of_the_ami_to_another_bucket_is_waited_for_not_taken_for_this_plans() {
    let (mut w, plan) = world(vec![]);
    let now = w.now;
    w.tasks.push(FakeTask { ami: "ami-00000001".into(), bucket: "other", start: now, size: 300, fails: false });
    let (w, end, _) = run_to_end(w, plan);
    let w = w.lock().unwrap();
    // Started for this plan's bucket once the other export ended, and stored there.
    assert_eq!(w.creates_of.get("ami-00000001"), Some(&1));
    assert_eq!(end.amis[0].status, Status::Stored);
    check_end(&w, &end);
}

#[test]
fn a_refusal_of_the_caller_stops_starting_and_leaves_the_amis_queued() {
    let (mut w, plan) = world(vec![]);
    w.denied = true;
    let w = Arc::new(Mutex::new(w));
    let file = Arc::new(Mutex::new(Some(plan.clone())));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut r = Runner::new(plan, Fake(w.clone()), Mem(w.clone(), file.clone()));
    let now = w.lock().unwrap().now;
    assert!(matches!(rt.block_on(r.step(now)), Err(StepError::Halted(_))));
    let now = w.lock().unwrap().now;
    assert!(matches!(rt.block_on(r.step(now)), Err(StepError::Halted(_))));
    let creates: usize = w.lock().unwrap().creates_of.values().sum();
    assert_eq!(creates, 1, "one refusal, not one per AMI");
    let saved = file.lock().unwrap().clone().unwrap();
    assert!(saved.amis.iter().all(|e| e.status == Status::Queued), "{:?}", saved.amis);
}
