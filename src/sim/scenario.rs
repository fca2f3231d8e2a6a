//! The simulated account: store-image tasks that progress over wall-clock time.
//!
//! Generated deterministically from a seed and the shape in `assets/scenario.json`, so a test
//! or a benchmark sees the same tasks every run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use serde::Deserialize;

/// The scenario's shape, read from `assets/scenario.json` (compiled into the binary).
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioShape {
    pub region: String,
    /// What `DescribeRegions` lists (any region signed for gets tasks of its own).
    pub enabled_regions: Vec<String>,
    pub default_tasks: usize,
    pub buckets: Vec<WeightedBucket>,
    pub mix: Mix,
    pub in_progress_minutes: MinutesRange,
    /// Percent of in-progress tasks that will fail before reaching 100%.
    pub will_fail_later: u32,
    /// Percent of failed tasks that were retried.
    pub retry_after_failure: u32,
    pub history_days: u32,
    pub failure_reasons: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WeightedBucket {
    pub name: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Mix {
    pub in_progress: u32,
    pub completed: u32,
    pub failed: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MinutesRange {
    pub min: u32,
    pub max: u32,
}

impl ScenarioShape {
    /// The shape shipped in `assets/scenario.json`.
    pub fn builtin() -> Self {
        serde_json::from_str(include_str!("../../assets/scenario.json"))
            .expect("assets/scenario.json is valid (checked by a unit test)")
    }
}

/// A small deterministic generator (SplitMix64): enough for a scenario, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.range(0, 99) < u64::from(percent)
    }
}

/// One simulated task: fixed facts from which its state at any moment follows.
#[derive(Debug, Clone)]
pub struct SimTask {
    pub ami_id: String,
    pub bucket: String,
    pub start: DateTime<Utc>,
    /// Wall-clock seconds from 0% to 100%.
    pub duration_secs: f64,
    /// The percentage at which the task fails, if it does.
    pub fail_at: Option<u8>,
    pub failure_reason: String,
    /// Seconds the service's queue holds the task at 0% after its start, before it moves
    /// (with a store rate and quota: [`Scenario::schedule`]).
    pub wait_secs: f64,
}

/// What a task looks like at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimStatus {
    pub progress: u8,
    pub state: &'static str,
}

impl SimTask {
    pub fn object_key(&self) -> String {
        format!("{}.bin", self.ami_id)
    }

    /// Seconds from `now` to the task's start (negative once it has started).
    pub fn secs_from(&self, now: DateTime<Utc>) -> f64 {
        (self.start - now).num_milliseconds() as f64 / 1000.0
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> SimStatus {
        let elapsed = (now - self.start).num_milliseconds() as f64 / 1000.0 - self.wait_secs;
        let pct = (elapsed / self.duration_secs * 100.0).clamp(0.0, 100.0) as u8;
        match self.fail_at {
            Some(f) if pct >= f => SimStatus { progress: f, state: "Failed" },
            _ if pct >= 100 => SimStatus { progress: 100, state: "Completed" },
            _ => SimStatus { progress: pct, state: "InProgress" },
        }
    }
}

/// The simulated clock: real time from a base, optionally frozen or sped up, and stepped
/// forward by hand (a test moves a frozen clock exactly as far as it wants).
#[derive(Debug)]
pub struct SimClock {
    base: DateTime<Utc>,
    started: Instant,
    frozen: bool,
    speed: f64,
    /// Milliseconds added by [`SimClock::advance`].
    stepped: AtomicI64,
}

impl SimClock {
    pub fn new(base: DateTime<Utc>, frozen: bool, speed: f64) -> Self {
        Self { base, started: Instant::now(), frozen, speed, stepped: AtomicI64::new(0) }
    }

    pub fn base(&self) -> DateTime<Utc> {
        self.base
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: ChronoDuration) {
        self.stepped.fetch_add(d.num_milliseconds(), Ordering::SeqCst);
    }

    pub fn now(&self) -> DateTime<Utc> {
        let stepped = ChronoDuration::milliseconds(self.stepped.load(Ordering::SeqCst));
        if self.frozen {
            return self.base + stepped;
        }
        let ms = self.started.elapsed().as_secs_f64() * self.speed * 1000.0;
        self.base + ChronoDuration::milliseconds(ms as i64) + stepped
    }
}

/// How many tasks a scenario has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Tasks that exist at the start.
    pub tasks: usize,
    /// Exactly this many of them in progress (else the shape's mix decides).
    pub moving: Option<usize>,
    /// Exports more that start within the first hour.
    pub upcoming: usize,
}

/// One account in one region: all its tasks, newest first (the service's order), and its
/// AMIs never exported.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub tasks: Vec<SimTask>,
    /// Shared: a new task copies the scenario, not these.
    pub fresh: std::sync::Arc<super::fresh::FreshSet>,
}

impl Scenario {
    /// Generates `count` tasks as they stand at `now`, deterministic for a given seed.
    pub fn generate(shape: &ScenarioShape, count: usize, seed: u64, now: DateTime<Utc>) -> Self {
        Self::generate_with(shape, &Plan { tasks: count, ..Plan::default() }, seed, now)
    }

    /// As [`Scenario::generate`], with the plan's exact number of tasks in progress (else the
    /// shape's mix), and its upcoming exports, which start within the next hour (a listing
    /// shows each from its start on).
    pub fn generate_with(shape: &ScenarioShape, plan: &Plan, seed: u64, now: DateTime<Utc>) -> Self {
        let (count, upcoming) = (plan.tasks, plan.upcoming);
        let mut moving_made = 0;
        let mut rng = Rng::new(seed);
        let mut tasks = Vec::with_capacity(count);
        let total_weight: u32 = shape.buckets.iter().map(|b| b.weight).sum();
        let mix_total = shape.mix.in_progress + shape.mix.completed + shape.mix.failed;
        let history_secs = i64::from(shape.history_days) * 86_400;
        let (min_d, max_d) =
            (u64::from(shape.in_progress_minutes.min) * 60, u64::from(shape.in_progress_minutes.max) * 60);

        while tasks.len() < count {
            let ami_id = format!("ami-{:x}{:016x}", rng.range(0, 15), rng.next_u64());
            let bucket = pick_bucket(shape, total_weight, &mut rng);
            let reason = pick(&shape.failure_reasons, &mut rng);
            let roll = rng.range(0, u64::from(mix_total) - 1) as u32;
            let in_progress = match plan.moving {
                Some(m) => moving_made < m,
                None => roll < shape.mix.in_progress,
            };
            // With an exact number in progress, the rest are completed or failed as the mix says.
            let roll = match plan.moving {
                Some(_) => shape.mix.in_progress + (roll % (shape.mix.completed + shape.mix.failed).max(1)),
                None => roll,
            };
            if in_progress {
                moving_made += 1;
                let duration = rng.range(min_d, max_d) as f64;
                let done = rng.unit() * 0.95;
                let start = now - secs(duration * done);
                let fail_at = rng.chance(shape.will_fail_later).then(|| rng.range((done * 100.0) as u64 + 1, 99) as u8);
                tasks.push(SimTask {
                    ami_id,
                    bucket,
                    start,
                    duration_secs: duration,
                    fail_at,
                    failure_reason: reason,
                    wait_secs: 0.0,
                });
            } else {
                // Historic: a large AMI took between 10 minutes and 5 hours.
                let duration = rng.range(600, 5 * 3600) as f64;
                let failed = roll >= shape.mix.in_progress + shape.mix.completed;
                let fail_at = failed.then(|| rng.range(0, 99) as u8);
                let ran = duration * f64::from(fail_at.unwrap_or(100)) / 100.0;
                let latest_start = (ran as i64 + 60).min(history_secs);
                let ago = rng.range(latest_start as u64, history_secs as u64) as i64;
                let start = now - ChronoDuration::seconds(ago);
                let ended = start + secs(ran);
                tasks.push(SimTask {
                    ami_id: ami_id.clone(),
                    bucket: bucket.clone(),
                    start,
                    duration_secs: duration,
                    fail_at,
                    failure_reason: reason,
                    wait_secs: 0.0,
                });
                if failed && tasks.len() < count && rng.chance(shape.retry_after_failure) {
                    let retry_start = ended + ChronoDuration::seconds(rng.range(120, 7200) as i64);
                    if retry_start < now {
                        // The retry is either still running or done, at its own speed.
                        let left = (now - retry_start).num_seconds().max(1) as f64;
                        let recent = left < 10.0 * 3600.0 && plan.moving.is_none();
                        let duration =
                            if recent && rng.chance(60) { left / (0.2 + rng.unit() * 0.7) } else { left * 0.8 };
                        tasks.push(SimTask {
                            ami_id,
                            bucket,
                            start: retry_start,
                            duration_secs: duration.max(60.0),
                            fail_at: None,
                            failure_reason: String::new(),
                            wait_secs: 0.0,
                        });
                    }
                }
            }
        }
        let mut later = Rng::new(seed ^ 0x5EED);
        for _ in 0..upcoming {
            let ami_id = format!("ami-{:x}{:016x}", later.range(0, 15), later.next_u64());
            let bucket = pick_bucket(shape, total_weight, &mut later);
            let failure_reason = pick(&shape.failure_reasons, &mut later);
            let start = now + ChronoDuration::seconds(later.range(30, 3600) as i64);
            let duration_secs = later.range(min_d, max_d) as f64;
            let fail_at = later.chance(shape.will_fail_later * 3).then(|| later.range(5, 95) as u8);
            tasks.push(SimTask { ami_id, bucket, start, duration_secs, fail_at, failure_reason, wait_secs: 0.0 });
        }
        for t in &mut tasks {
            t.start = t.start.trunc_subsecs(0);
        }
        tasks.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.ami_id.cmp(&b.ami_id)));
        Self { tasks, fresh: Default::default() }
    }

    /// Reschedules every task as a service with a store rate and a quota runs them: each task
    /// moves at `gb_per_sec` from 0% to 100% of its size (`size_of`, GB), and the service's queue
    /// admits tasks in the order they started while the tasks moving hold less than
    /// `quota_gb` (one admitted task can take the total past it); a task beyond waits at 0%.
    /// Without a quota nothing waits. Deterministic: the same tasks, the same schedule.
    pub fn schedule(&mut self, gb_per_sec: f64, quota_gb: Option<u64>, size_of: impl Fn(&str) -> u64) {
        self.schedule_with(gb_per_sec, quota_gb, false, size_of);
    }

    /// As [`Scenario::schedule`]; with `retry_refused`, a task that starts while the tasks in
    /// progress hold the quota or more was refused, as `CreateStoreImageTask` is, and starts
    /// instead when they free it (whole seconds later), as a script that retries it does: the
    /// quota then holds over the whole history and nothing waits in the queue.
    pub fn schedule_with(
        &mut self,
        gb_per_sec: f64,
        quota_gb: Option<u64>,
        retry_refused: bool,
        size_of: impl Fn(&str) -> u64,
    ) {
        if !(gb_per_sec.is_finite() && gb_per_sec > 0.0) {
            return;
        }
        if let (true, Some(quota)) = (retry_refused, quota_gb) {
            return self.schedule_retrying(gb_per_sec, quota, size_of);
        }
        let mut order: Vec<usize> = (0..self.tasks.len()).collect();
        // Newest first: of two tasks started in the same second, the one further down the
        // list was there first, and keeps its place in the queue when a new one arrives.
        order.sort_by(|&a, &b| self.tasks[a].start.cmp(&self.tasks[b].start).then(b.cmp(&a)));
        let first = order.first().map(|&i| self.tasks[i].start);
        // The tasks admitted: (when each ends, in seconds since the first start; its size).
        // Each is admitted no earlier than the one before it (a queue: none overtakes another),
        // so every task admitted before `at` started moving by then, and the ones still
        // moving at `at` are those that end after it.
        let mut moving: Vec<(f64, u64)> = Vec::new();
        let mut admitted = f64::NEG_INFINITY;
        for i in order {
            let t = &mut self.tasks[i];
            let size = size_of(&t.ami_id).max(1);
            t.duration_secs = size as f64 / gb_per_sec;
            let started = first.map_or(0.0, |f| (t.start - f).num_milliseconds() as f64 / 1000.0);
            let mut at = started.max(admitted);
            moving.retain(|&(end, _)| end > at);
            if let Some(quota) = quota_gb {
                // Bounded: each turn removes one task from `moving` (the first to end, which
                // frees its share of the quota then).
                while moving.iter().map(|m| m.1).sum::<u64>() >= quota {
                    let Some(k) = (0..moving.len()).min_by(|&a, &b| moving[a].0.total_cmp(&moving[b].0)) else {
                        break;
                    };
                    at = at.max(moving.swap_remove(k).0);
                    moving.retain(|&(end, _)| end > at);
                }
            }
            admitted = at;
            t.wait_secs = at - started;
            // A task that fails stops holding the quota at the point it fails.
            let runs = t.duration_secs * f64::from(t.fail_at.unwrap_or(100)) / 100.0;
            moving.push((at + runs, size));
        }
    }

    /// The history [`Scenario::schedule_with`] gives with `retry_refused`: each task in the
    /// order it started is accepted when the tasks in progress hold less than `quota_gb`, and
    /// moves at once; a refused one retries, in turn, each time one of them ends. Bounded:
    /// every turn takes one task's start or one task's end.
    fn schedule_retrying(&mut self, gb_per_sec: f64, quota_gb: u64, size_of: impl Fn(&str) -> u64) {
        let mut order: Vec<usize> = (0..self.tasks.len()).collect();
        order.sort_by(|&a, &b| self.tasks[a].start.cmp(&self.tasks[b].start).then(a.cmp(&b)));
        let Some(first) = order.first().map(|&i| self.tasks[i].start) else { return };
        let sizes: Vec<u64> = self.tasks.iter().map(|t| size_of(&t.ami_id).max(1)).collect();
        let offset = |t: &SimTask| (t.start - first).num_milliseconds() as f64 / 1000.0;
        // The tasks in progress: (when each ends, in seconds since the first start; its size).
        let mut running: Vec<(f64, u64)> = Vec::new();
        let mut retrying: VecDeque<usize> = VecDeque::new();
        let mut arrivals = order.into_iter().peekable();
        let mut moved = false;
        // Task `i` accepted at `at` (seconds since the first start): it moves at once, and a
        // task that fails stops holding the quota at the point it fails.
        let accept = |t: &mut SimTask, at: f64, size: u64, running: &mut Vec<(f64, u64)>| {
            t.duration_secs = size as f64 / gb_per_sec;
            t.wait_secs = 0.0;
            let runs = t.duration_secs * f64::from(t.fail_at.unwrap_or(100)) / 100.0;
            running.push((at + runs, size));
        };
        loop {
            let next_start = arrivals.peek().map(|&i| offset(&self.tasks[i]));
            let next_end = (!retrying.is_empty()).then(|| running.iter().map(|r| r.0).fold(f64::INFINITY, f64::min));
            match (next_start, next_end) {
                (None, None) => break,
                (Some(s), e) if e.is_none_or(|e| s < e) => {
                    running.retain(|r| r.0 > s);
                    let Some(i) = arrivals.next() else { break };
                    let held: u64 = running.iter().map(|r| r.1).sum();
                    match retrying.is_empty() && held < quota_gb {
                        true => accept(&mut self.tasks[i], s, sizes[i], &mut running),
                        false => retrying.push_back(i),
                    }
                }
                (_, Some(e)) if e.is_finite() => {
                    running.retain(|r| r.0 > e);
                    // Accepted on the whole second after the quota freed, in turn, while it is free.
                    let at = e.ceil();
                    while let Some(&i) = retrying.front() {
                        if !running.is_empty() && running.iter().map(|r| r.1).sum::<u64>() >= quota_gb {
                            break;
                        }
                        retrying.pop_front();
                        self.tasks[i].start = first + ChronoDuration::seconds(at as i64);
                        accept(&mut self.tasks[i], at, sizes[i], &mut running);
                        moved = true;
                    }
                }
                // Retries with nothing in progress to wait for: none (an arrival is refused
                // only while something holds the quota); stop rather than loop.
                _ => break,
            }
        }
        if moved {
            self.tasks.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.ami_id.cmp(&b.ami_id)));
        }
    }
}

fn secs(s: f64) -> ChronoDuration {
    ChronoDuration::milliseconds((s * 1000.0) as i64)
}

fn pick(items: &[String], rng: &mut Rng) -> String {
    if items.is_empty() {
        return String::new();
    }
    items[rng.range(0, items.len() as u64 - 1) as usize].clone()
}

fn pick_bucket(shape: &ScenarioShape, total_weight: u32, rng: &mut Rng) -> String {
    let mut roll = rng.range(0, u64::from(total_weight.max(1)) - 1) as u32;
    for b in &shape.buckets {
        if roll < b.weight {
            return b.name.clone();
        }
        roll -= b.weight;
    }
    "amiwatch-demo".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn builtin_shape_parses() {
        let s = ScenarioShape::builtin();
        assert!(s.buckets.len() >= 3);
        assert!(!s.failure_reasons.is_empty());
    }

    #[test]
    fn same_seed_same_tasks_and_count_is_exact() {
        let shape = ScenarioShape::builtin();
        let a = Scenario::generate(&shape, 500, 7, at());
        let b = Scenario::generate(&shape, 500, 7, at());
        assert_eq!(a.tasks.len(), 500);
        let ids = |s: &Scenario| s.tasks.iter().map(|t| (t.ami_id.clone(), t.start)).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&Scenario::generate(&shape, 500, 8, at())));
    }

    #[test]
    fn scenario_has_every_state_retries_and_stays_in_31_days() {
        let now = at();
        let s = Scenario::generate(&ScenarioShape::builtin(), 400, 1, now);
        let states: Vec<_> = s.tasks.iter().map(|t| t.status_at(now).state).collect();
        for want in ["InProgress", "Completed", "Failed"] {
            assert!(states.contains(&want), "no {want}");
        }
        let mut ids: Vec<_> = s.tasks.iter().map(|t| &t.ami_id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert!(ids.len() < before, "some AMI should have been exported twice");
        assert!(s.tasks.iter().all(|t| now - t.start <= ChronoDuration::days(31) && t.start <= now));
        assert!(s.tasks.windows(2).all(|w| w[0].start >= w[1].start), "newest first");
    }

    #[test]
    fn a_plan_sets_how_many_move_and_how_many_start_later() {
        let now = at();
        let plan = Plan { tasks: 2000, moving: Some(30), upcoming: 5 };
        let s = Scenario::generate_with(&ScenarioShape::builtin(), &plan, 4, now);
        assert_eq!(s.tasks.len(), 2005);
        let moving = s.tasks.iter().filter(|t| t.start <= now && t.status_at(now).state == "InProgress").count();
        assert_eq!(moving, 30);
        assert_eq!(s.tasks.iter().filter(|t| t.start > now).count(), 5);
    }

    #[test]
    fn tasks_progress_over_time() {
        let now = at();
        let s = Scenario::generate(&ScenarioShape::builtin(), 200, 3, now);
        let later = now + ChronoDuration::hours(2);
        let moving = s.tasks.iter().filter(|t| t.status_at(now).state == "InProgress").count();
        let still = s.tasks.iter().filter(|t| t.status_at(later).state == "InProgress").count();
        assert!(moving > 0 && still < moving);
        for t in &s.tasks {
            assert!(t.status_at(later).progress >= t.status_at(now).progress);
        }
    }

    fn task(ami: &str, start: DateTime<Utc>) -> SimTask {
        SimTask {
            ami_id: ami.into(),
            bucket: "b".into(),
            start,
            duration_secs: 1.0,
            fail_at: None,
            failure_reason: String::new(),
            wait_secs: 0.0,
        }
    }

    #[test]
    fn with_a_rate_a_task_takes_its_size_and_waits_while_the_quota_is_held() {
        let t0 = at();
        let sizes = |ami: &str| match ami {
            "ami-big" => 500,
            "ami-mid" => 200,
            _ => 100,
        };
        // Newest first, as the service lists them.
        let mut s = Scenario {
            tasks: vec![
                task("ami-small", t0 + ChronoDuration::seconds(20)),
                task("ami-mid", t0 + ChronoDuration::seconds(10)),
                task("ami-big", t0),
            ],
            ..Scenario::default()
        };
        s.schedule(1.0, Some(600), sizes);
        let by = |ami: &str| s.tasks.iter().find(|t| t.ami_id == ami).unwrap().clone();
        // 500 GB at 1 GB/s: 500 s. The mid one is admitted (500 < 600) and takes the total to 700.
        assert_eq!(by("ami-big").duration_secs, 500.0);
        assert_eq!(by("ami-mid").wait_secs, 0.0);
        // The small one waits until the first to end, the mid one at t0+210, frees the quota.
        assert_eq!(by("ami-small").wait_secs, 190.0);
        let small = by("ami-small");
        assert_eq!(small.status_at(t0 + ChronoDuration::seconds(200)), SimStatus { progress: 0, state: "InProgress" });
        assert_eq!(small.status_at(t0 + ChronoDuration::seconds(260)).progress, 50);
        assert_eq!(small.status_at(t0 + ChronoDuration::seconds(310)).state, "Completed");
        // Without a quota nothing waits.
        s.schedule(1.0, None, sizes);
        assert!(s.tasks.iter().all(|t| t.wait_secs == 0.0));
    }

    #[test]
    fn the_queue_is_first_come_first_served_for_tasks_started_together() {
        // Four started in one second (the list is newest first): 500, 200, 50 and 100 GB at
        // 1 GB/s under 600 GB. The 50 GB one waits for the 500 GB one (t=200 s, when the
        // 200 GB one has ended too); the 100 GB one comes after it, never before.
        let t0 = at();
        let sizes = |ami: &str| match ami {
            "ami-a" => 500,
            "ami-b" => 200,
            "ami-c" => 50,
            _ => 100,
        };
        let mut s = Scenario {
            tasks: vec![task("ami-d", t0), task("ami-c", t0), task("ami-b", t0), task("ami-a", t0)],
            fresh: Default::default(),
        };
        s.schedule(1.0, Some(600), sizes);
        let wait = |ami: &str| s.tasks.iter().find(|t| t.ami_id == ami).unwrap().wait_secs;
        assert_eq!((wait("ami-a"), wait("ami-b")), (0.0, 0.0));
        assert_eq!(wait("ami-c"), 200.0);
        assert!(wait("ami-d") >= wait("ami-c"), "d moved at {} s, before c at {} s", wait("ami-d"), wait("ami-c"));
    }

    #[test]
    fn retrying_refused_starts_keeps_the_quota_over_the_whole_history() {
        let t0 = at();
        let sizes = |ami: &str| match ami {
            "ami-big" => 500,
            "ami-mid" => 200,
            "ami-late" => 50,
            _ => 100,
        };
        let mut s = Scenario {
            tasks: vec![
                task("ami-late", t0 + ChronoDuration::seconds(30)),
                task("ami-small", t0 + ChronoDuration::seconds(20)),
                task("ami-mid", t0 + ChronoDuration::seconds(10)),
                task("ami-big", t0),
            ],
            fresh: Default::default(),
        };
        s.schedule_with(1.0, Some(600), true, sizes);
        let start = |ami: &str| s.tasks.iter().find(|t| t.ami_id == ami).unwrap().start;
        // The mid one is accepted (500 < 600) and takes the total to 700: the small one is
        // refused, and its retry is accepted when the mid one ends, at t0+210; the late one,
        // refused too, comes after it in turn (held 600 then), when the small one ends.
        assert_eq!(start("ami-mid"), t0 + ChronoDuration::seconds(10));
        assert_eq!(start("ami-small"), t0 + ChronoDuration::seconds(210));
        assert_eq!(start("ami-late"), t0 + ChronoDuration::seconds(310));
        assert!(s.tasks.iter().all(|t| t.wait_secs == 0.0), "nothing waits in the queue");
        assert!(s.tasks.windows(2).all(|w| w[0].start >= w[1].start), "newest first");
        // At every second, the tasks in progress held less than the quota before the last
        // one accepted.
        for sec in 0..700 {
            let now = t0 + ChronoDuration::seconds(sec);
            let moving: Vec<u64> = s
                .tasks
                .iter()
                .filter(|t| t.start <= now && t.status_at(now).state == "InProgress")
                .map(|t| sizes(&t.ami_id))
                .collect();
            let held: u64 = moving.iter().sum();
            assert!(held < 600 + moving.iter().max().copied().unwrap_or(0), "{held} GB at {sec}s");
            assert!(s.tasks.iter().all(|t| t.status_at(now).progress == 0 || t.start <= now));
        }
        // An ending that leaves the quota held frees nothing: the refused one keeps its turn.
        let sizes = |ami: &str| match ami {
            "ami-a" => 590,
            "ami-b" => 5,
            "ami-c" => 100,
            _ => 50,
        };
        let mut s = Scenario {
            tasks: ["ami-d", "ami-c", "ami-b", "ami-a"]
                .iter()
                .enumerate()
                .map(|(n, a)| task(a, t0 + ChronoDuration::seconds(3 - n as i64)))
                .collect(),
            fresh: Default::default(),
        };
        s.schedule_with(1.0, Some(600), true, sizes);
        let d = s.tasks.iter().find(|t| t.ami_id == "ami-d").unwrap();
        // b ends at 6 (695 - 5 = 690 still held), c at 102 (590): d starts then, and runs 50 s.
        assert_eq!((d.start, d.duration_secs), (t0 + ChronoDuration::seconds(102), 50.0));
    }

    #[test]
    fn the_queue_keeps_its_order_and_a_task_waited_for_holds_the_quota_until_it_ends() {
        let t0 = at();
        // A big one moves; a small one queues behind it; a big one after them must wait for
        // both (the big one waited for still holds 500 GB), not start beside the small one.
        let sizes = |ami: &str| match ami {
            "ami-big1" | "ami-big2" => 500,
            _ => 200,
        };
        let mut s = Scenario {
            tasks: vec![
                task("ami-big2", t0 + ChronoDuration::seconds(20)),
                task("ami-small", t0 + ChronoDuration::seconds(10)),
                task("ami-big1", t0),
            ],
            fresh: Default::default(),
        };
        s.schedule_with(1.0, Some(600), false, sizes);
        let moves = |ami: &str| {
            let t = s.tasks.iter().find(|t| t.ami_id == ami).unwrap();
            (t.start - t0).num_seconds() as f64 + t.wait_secs
        };
        // big1 moves 0..500; the small one finds 500 held (under 600) and moves at once,
        // 10..210; big2 finds 700 held and moves when the small one ends (500 held then).
        assert_eq!((moves("ami-big1"), moves("ami-small"), moves("ami-big2")), (0.0, 10.0, 210.0));
        // At every second, what moves held less than the quota before the last one admitted,
        // and no task moved before one that started ahead of it.
        for sec in 0..1300 {
            let now = t0 + ChronoDuration::seconds(sec);
            let moving: Vec<u64> = s
                .tasks
                .iter()
                .filter(|t| t.status_at(now).state == "InProgress" && moves(&t.ami_id) <= sec as f64)
                .map(|t| sizes(&t.ami_id))
                .collect();
            let held: u64 = moving.iter().sum();
            assert!(held < 600 + moving.iter().max().copied().unwrap_or(0), "{held} GB at {sec}s");
        }
        // The case the queue got wrong: a small task admitted behind a big one that is still
        // moving does not make room for the next big one.
        let sizes = |ami: &str| match ami {
            "ami-a" | "ami-c" => 1000,
            _ => 30,
        };
        let mut s = Scenario {
            tasks: vec![
                task("ami-c", t0 + ChronoDuration::seconds(20)),
                task("ami-b", t0 + ChronoDuration::seconds(10)),
                task("ami-a", t0),
            ],
            fresh: Default::default(),
        };
        s.schedule_with(1.0, Some(600), false, sizes);
        let moves = |ami: &str| {
            let t = s.tasks.iter().find(|t| t.ami_id == ami).unwrap();
            (t.start - t0).num_seconds() as f64 + t.wait_secs
        };
        // a holds 1,000 GB until 1,000 s: b waits for it, and c, behind b, waits for a too
        // (and then moves beside b, 30 GB held).
        assert_eq!((moves("ami-a"), moves("ami-b"), moves("ami-c")), (0.0, 1000.0, 1000.0));
    }
}
