//! Runs a plan: starts its AMIs' exports under the store quota, in the plan's order, each once,
//! and follows them to their end. One [`Runner::step`] is one poll: what moved, what ended,
//! then what may start. Every change is written to the plan file before the next request, and
//! an AMI is marked `starting` before its `CreateStoreImageTask`: a runner killed at any moment
//! resumes by asking the service what happened, never by sending the call again blind.
//!
//! The service is a trait, so the decisions are tested without a network (a property test
//! kills the runner at every step); [`Ec2Service`] is the real one.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::plan::{Attempt, Entry, Plan, Status, Tag};
use crate::ec2::{ErrorKind, FetchError};
use crate::task::{StoreTask, TaskState};

/// How far the service's clock may be from this machine's when a runner decides whether a
/// task began after it marked the AMI `starting` (SigV4 refuses a request five minutes off).
pub const CLOCK_SLACK: Duration = Duration::minutes(5);

/// What a runner asks of EC2, for one account and region.
pub trait Service {
    /// The latest store task of each AMI (none for an AMI never exported, or not in 31 days).
    fn latest(&self, amis: &[String]) -> impl Future<Output = Result<Vec<StoreTask>, FetchError>> + Send;
    /// Every export in progress in the account and region: the plan's and anyone else's.
    fn in_progress(&self) -> impl Future<Output = Result<Vec<StoreTask>, FetchError>> + Send;
    /// The sizes (GB) of AMIs outside the plan, for the in-flight total; those not answered
    /// are unknown.
    fn sizes(&self, amis: &[String]) -> impl Future<Output = HashMap<String, u64>> + Send;
    /// `CreateStoreImageTask`, sent once: the object key.
    fn create(&self, ami: &str, bucket: &str, tags: &[Tag]) -> impl Future<Output = Result<String, FetchError>> + Send;
}

/// Where the plan is kept between steps (the file; a test keeps it in memory).
pub trait Store {
    fn save(&mut self, plan: &Plan) -> Result<(), String>;
}

/// What happened in a step, for the lines a script reads and the dashboard's toasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started {
        ami: String,
    },
    /// An export of it was running already (the plan's, after a restart, or anyone's): followed.
    Adopted {
        ami: String,
    },
    Stored {
        ami: String,
    },
    /// One export failed; it is started again (`again`) or given up.
    AttemptFailed {
        ami: String,
        reason: String,
        again: bool,
    },
    /// Refused for good, or failed too often: never started again.
    GaveUp {
        ami: String,
        why: String,
    },
    /// EC2 refused a start because the quota is full: no start until the total drops.
    QuotaFull {
        held_gb: u64,
    },
    /// Starts wait: the exports in progress (anyone's) hold the quota.
    Waiting {
        held_gb: u64,
        quota_gb: u64,
    },
    /// An export of it to another bucket is in progress: it waits for that one to end.
    Busy {
        ami: String,
        bucket: String,
    },
    /// EC2 refused a start for a reason that applies to every AMI: nothing more is started.
    Halted {
        why: String,
    },
    /// A `starting` AMI with no export in the service: the call was never made (or never took).
    NotStarted {
        ami: String,
    },
    /// The answer to a start was lost (a timeout, a dropped connection): the next step asks
    /// the service whether it began.
    Unsure {
        ami: String,
        why: String,
    },
}

/// Why a step stopped short.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The plan could not be written: no request is sent without it.
    #[error("cannot write the plan: {0}")]
    Save(String),
    /// The service could not be read; the plan is as it was.
    #[error("{0}")]
    Read(FetchError),
    /// EC2 refused a start for a reason that applies to every AMI (see [`Runner::halted`]).
    #[error("{0}")]
    Halted(String),
}

/// A plan being run.
pub struct Runner<S, W> {
    pub plan: Plan,
    service: S,
    store: W,
    /// The progress of the plan's exports in flight, by AMI (shown, not kept in the file).
    pub progress: HashMap<String, u8>,
    /// The latest answer about each of the plan's AMIs in flight (the dashboard's rows).
    pub tasks: HashMap<String, StoreTask>,
    /// GB the exports in progress hold, the plan's and others', as of the last step.
    pub in_flight_gb: u64,
    /// Some export in progress has a size not known (the total is then at least the figure).
    pub in_flight_unknown: bool,
    /// After a quota refusal: the total then. No start until it drops below it, or an export
    /// in progress ends.
    blocked_at: Option<u64>,
    /// The AMIs in progress at the last step (anyone's): one gone means an export ended.
    moving_before: HashSet<String>,
    /// A refusal that applies to every start (no permission, a bad bucket or tag): nothing more
    /// is started in this run, and the AMIs stay queued for a resume.
    pub halted: Option<String>,
    /// Whether the line saying starts wait for the quota was given for the current wait.
    told_waiting: bool,
    /// Sizes of AMIs outside the plan seen in progress.
    other_sizes: HashMap<String, Option<u64>>,
    pub events: Vec<Event>,
    /// Requests sent (each step's reads and starts), for the figures.
    pub requests: u64,
}

fn is_in_progress(t: &StoreTask) -> bool {
    t.state == Some(TaskState::InProgress)
}

impl<S: Service, W: Store> Runner<S, W> {
    pub fn new(plan: Plan, service: S, store: W) -> Self {
        Self {
            plan,
            service,
            store,
            progress: HashMap::new(),
            tasks: HashMap::new(),
            in_flight_gb: 0,
            in_flight_unknown: false,
            blocked_at: None,
            moving_before: HashSet::new(),
            halted: None,
            told_waiting: false,
            other_sizes: HashMap::new(),
            events: Vec::new(),
            requests: 0,
        }
    }

    fn save(&mut self) -> Result<(), StepError> {
        self.store.save(&self.plan).map_err(StepError::Save)
    }

    /// Whether starting is held back: after a quota refusal until the total drops.
    pub fn quota_full(&self) -> bool {
        self.blocked_at.is_some() || self.in_flight_gb >= self.plan.store_quota_gb
    }

    /// One poll: what the plan's exports did, the in-flight total, then every start the quota
    /// allows now. `now` marks `starting` AMIs.
    pub async fn step(&mut self, now: DateTime<Utc>) -> Result<(), StepError> {
        self.requests += 1;
        let moving = self.service.in_progress().await.map_err(StepError::Read)?;
        let moving: HashMap<&str, &StoreTask> =
            moving.iter().filter(|t| is_in_progress(t)).filter_map(|t| Some((t.ami_id.as_deref()?, t))).collect();
        // The plan's exports seen moving; those not among them have ended (or began, or not).
        let mut ask = Vec::new();
        for e in &mut self.plan.amis {
            match (&e.status, moving.get(e.ami.as_str())) {
                (Status::InFlight, Some(t)) => {
                    if let Some(a) = e.attempts.last_mut()
                        && a.task_start.is_none()
                    {
                        a.task_start = t.start_time;
                    }
                    self.progress.insert(e.ami.clone(), t.progress.unwrap_or(0));
                    self.tasks.insert(e.ami.clone(), (*t).clone());
                }
                (Status::InFlight | Status::Starting { .. }, _) => ask.push(e.ami.clone()),
                _ => {}
            }
        }
        let mut changed = false;
        let mut ended = false;
        if !ask.is_empty() {
            self.requests += ask.len().div_ceil(20) as u64;
            let latest = self.service.latest(&ask).await.map_err(StepError::Read)?;
            let latest: HashMap<&str, &StoreTask> =
                latest.iter().filter_map(|t| Some((t.ami_id.as_deref()?, t))).collect();
            for ami in &ask {
                let Some(i) = self.plan.amis.iter().position(|e| &e.ami == ami) else { continue };
                let task = latest.get(ami.as_str()).copied();
                let (retries, bucket) = (self.plan.retries, self.plan.bucket.clone());
                let e = &mut self.plan.amis[i];
                match e.status.clone() {
                    Status::Starting { since } => {
                        changed = true;
                        match task.filter(|t| began_after(e, t, since, &bucket)) {
                            Some(t) => {
                                e.attempts.push(Attempt { task_start: t.start_time, ..Attempt::default() });
                                // One that ended already is told by its ending alone.
                                if is_in_progress(t) {
                                    self.events.push(Event::Adopted { ami: ami.clone() });
                                }
                                ended |= follow(e, t, retries, &mut self.events);
                            }
                            None => {
                                e.status = Status::Queued;
                                self.events.push(Event::NotStarted { ami: ami.clone() });
                            }
                        }
                    }
                    Status::InFlight => {
                        let ours = e.attempts.last().and_then(|a| a.task_start);
                        if let Some(t) = task.filter(|t| ours.is_none() || t.start_time == ours) {
                            if e.attempts.is_empty() {
                                e.attempts.push(Attempt::default());
                            }
                            if let Some(a) = e.attempts.last_mut() {
                                a.task_start = a.task_start.or(t.start_time);
                            }
                            let was = e.status.clone();
                            ended |= follow(e, t, retries, &mut self.events);
                            changed |= e.status != was;
                        }
                    }
                    _ => {}
                }
                if let Some(t) = task {
                    self.tasks.insert(ami.clone(), t.clone());
                }
            }
        }
        if changed {
            self.save()?;
        }
        // The in-flight total: every export in progress, and the plan's own not yet settled.
        let sizes: HashMap<&str, Option<u64>> = self.plan.amis.iter().map(|e| (e.ami.as_str(), e.size_gb)).collect();
        let unknown: Vec<String> = moving
            .keys()
            .filter(|a| !sizes.contains_key(*a) && !self.other_sizes.contains_key(**a))
            .map(|a| a.to_string())
            .collect();
        if !unknown.is_empty() {
            let found = self.service.sizes(&unknown).await;
            for a in unknown {
                let size = found.get(&a).copied();
                self.other_sizes.insert(a, size);
            }
        }
        let mut total = 0u64;
        let mut gaps = false;
        let mut counted: HashSet<&str> = HashSet::new();
        for ami in moving.keys() {
            counted.insert(ami);
            match sizes.get(ami).copied().or_else(|| self.other_sizes.get(*ami).copied()).flatten() {
                Some(gb) => total += gb,
                None => gaps = true,
            }
        }
        for e in &self.plan.amis {
            if matches!(e.status, Status::InFlight | Status::Starting { .. }) && !counted.contains(e.ami.as_str()) {
                total += e.size_gb.unwrap_or(0);
            }
        }
        self.in_flight_gb = total;
        self.in_flight_unknown = gaps;
        self.other_sizes.retain(|a, _| moving.contains_key(a.as_str()));
        let some_ended = self.moving_before.iter().any(|a| !moving.contains_key(a.as_str()));
        if ended || some_ended || self.blocked_at.is_some_and(|b| total < b) {
            self.blocked_at = None;
        }
        self.moving_before = moving.keys().map(|a| a.to_string()).collect();
        if let Some(why) = &self.halted {
            return Err(StepError::Halted(why.clone()));
        }
        self.start_what_fits(now).await
    }

    /// Starts the next queued AMIs, in order, while the exports in progress hold less than the
    /// quota. Each is first looked up: an export of it in progress is followed, not started.
    async fn start_what_fits(&mut self, now: DateTime<Utc>) -> Result<(), StepError> {
        let queued = self.plan.amis.iter().any(|e| e.status == Status::Queued);
        if queued && self.blocked_at.is_none() && self.in_flight_gb >= self.plan.store_quota_gb {
            if !self.told_waiting {
                let (held_gb, quota_gb) = (self.in_flight_gb, self.plan.store_quota_gb);
                self.events.push(Event::Waiting { held_gb, quota_gb });
                self.told_waiting = true;
            }
        } else {
            self.told_waiting = false;
        }
        // AMIs with an export to another bucket in progress wait for it, this step.
        let mut busy: HashSet<String> = HashSet::new();
        while self.blocked_at.is_none() && self.in_flight_gb < self.plan.store_quota_gb {
            let next = self.plan.amis.iter().position(|e| e.status == Status::Queued && !busy.contains(&e.ami));
            let Some(i) = next else { return Ok(()) };
            let ami = self.plan.amis[i].ami.clone();
            let size = self.plan.amis[i].size_gb.unwrap_or(0);
            self.requests += 1;
            let latest = self.service.latest(std::slice::from_ref(&ami)).await.map_err(StepError::Read)?;
            if let Some(t) = latest.iter().find(|t| t.ami_id.as_deref() == Some(ami.as_str()) && is_in_progress(t)) {
                if t.bucket.as_deref() == Some(self.plan.bucket.as_str()) {
                    // Counted in the in-flight total already: the listing had it.
                    self.adopt(i, t);
                    self.save()?;
                } else {
                    let bucket = crate::text::safe(t.bucket.as_deref().unwrap_or("?")).into_owned();
                    self.events.push(Event::Busy { ami: ami.clone(), bucket });
                    busy.insert(ami);
                }
                continue;
            }
            self.plan.amis[i].status = Status::Starting { since: now };
            self.save()?;
            self.requests += 1;
            let (bucket, tags) = (self.plan.bucket.clone(), self.plan.tags.clone());
            let answer = self.service.create(&ami, &bucket, &tags).await;
            let e = &mut self.plan.amis[i];
            match answer {
                Ok(key) => {
                    e.attempts.push(Attempt {
                        task_start: None,
                        object_key: Some(key).filter(|k| !k.is_empty()),
                        failed: None,
                    });
                    e.status = Status::InFlight;
                    self.progress.insert(ami.clone(), 0);
                    self.in_flight_gb += size;
                    self.events.push(Event::Started { ami });
                }
                Err(err) => match refusal(&err) {
                    Refusal::QuotaFull => {
                        e.status = Status::Queued;
                        self.blocked_at = Some(self.in_flight_gb);
                        self.events.push(Event::QuotaFull { held_gb: self.in_flight_gb });
                    }
                    Refusal::Running => {
                        // Someone else's export of it (or ours, answered late): follow it.
                        self.requests += 1;
                        let latest = self.service.latest(std::slice::from_ref(&ami)).await;
                        let running = latest.ok().and_then(|l| l.into_iter().find(is_in_progress));
                        let bucket = self.plan.bucket.clone();
                        match running {
                            Some(t) if t.bucket.as_deref() == Some(bucket.as_str()) => {
                                self.adopt(i, &t);
                                self.in_flight_gb += size;
                            }
                            // To another bucket: this AMI waits for it to end.
                            Some(t) => {
                                self.plan.amis[i].status = Status::Queued;
                                let other = crate::text::safe(t.bucket.as_deref().unwrap_or("?")).into_owned();
                                self.events.push(Event::Busy { ami: ami.clone(), bucket: other });
                                busy.insert(ami);
                            }
                            // It ended in between (or the service contradicts itself): its
                            // turn comes again at the next step, looked up first. Never again
                            // in this step, so a server that says both cannot loop it.
                            None => {
                                self.plan.amis[i].status = Status::Queued;
                                self.save()?;
                                return Ok(());
                            }
                        }
                    }
                    Refusal::ForGood(why) => {
                        e.status = Status::Failed { why: why.clone() };
                        self.events.push(Event::GaveUp { ami, why });
                    }
                    Refusal::Halt(why) => {
                        // Not this AMI's fault: it stays queued, and nothing more is started.
                        e.status = Status::Queued;
                        self.halted = Some(why.clone());
                        self.events.push(Event::Halted { why: why.clone() });
                        self.save()?;
                        return Err(StepError::Halted(why));
                    }
                    Refusal::Unsure => {
                        // Stays `starting`: the next step asks the service whether it began.
                        tracing::debug!(ami, error = ?err, "no answer to CreateStoreImageTask");
                        self.events.push(Event::Unsure { ami, why: unsure_why(&err) });
                        self.save()?;
                        return Ok(());
                    }
                },
            }
            self.save()?;
        }
        Ok(())
    }

    fn adopt(&mut self, i: usize, t: &StoreTask) {
        let e = &mut self.plan.amis[i];
        if !e.attempts.iter().any(|a| is_attempt(a, t)) {
            let object_key = t.object_key.as_deref().map(str::to_string);
            e.attempts.push(Attempt { task_start: t.start_time, object_key, failed: None });
        }
        e.status = Status::InFlight;
        self.progress.insert(e.ami.clone(), t.progress.unwrap_or(0));
        self.tasks.insert(e.ami.clone(), t.clone());
        self.events.push(Event::Adopted { ami: e.ami.clone() });
    }
}

/// Whether `t` is an export that began after the AMI was marked `starting` at `since` (and is
/// not one the plan knew before).
fn began_after(e: &Entry, t: &StoreTask, since: DateTime<Utc>, bucket: &str) -> bool {
    let Some(start) = t.start_time else { return false };
    if t.bucket.as_deref().is_some_and(|b| b != bucket) {
        return false;
    }
    start >= since - CLOCK_SLACK && !e.attempts.iter().any(|a| is_attempt(a, t))
}

/// Whether `t` is the export `a` records: the same start (with the AMI, a task's identity;
/// EC2 gives it to the second), unless `a` failed and `t` did not. A failed export stays
/// failed, so that `t` is its retry, started in the second the first one failed.
fn is_attempt(a: &Attempt, t: &StoreTask) -> bool {
    a.task_start.is_some() && a.task_start == t.start_time && (a.failed.is_none() || t.state == Some(TaskState::Failed))
}

/// Moves an entry on by its export's state; whether the export ended.
fn follow(e: &mut Entry, t: &StoreTask, retries: u32, events: &mut Vec<Event>) -> bool {
    match &t.state {
        Some(TaskState::InProgress | TaskState::Queued) | None => {
            e.status = Status::InFlight;
            false
        }
        Some(TaskState::Completed) => {
            e.status = Status::Stored;
            events.push(Event::Stored { ami: e.ami.clone() });
            true
        }
        Some(TaskState::Failed) | Some(TaskState::Other(_)) => {
            let reason = t.failure_reason.clone().unwrap_or_else(|| "no reason given".into());
            let reason = crate::text::truncate(&crate::text::safe(&reason), 300).into_owned();
            if let Some(a) = e.attempts.last_mut() {
                a.failed = Some(reason.clone());
            }
            let failures = e.attempts.iter().filter(|a| a.failed.is_some()).count() as u64;
            let again = failures <= u64::from(retries);
            events.push(Event::AttemptFailed { ami: e.ami.clone(), reason: reason.clone(), again });
            if again {
                e.status = Status::Queued;
            } else {
                let why = format!("its export failed {failures} times; the last: {reason}");
                events.push(Event::GaveUp { ami: e.ami.clone(), why: why.clone() });
                e.status = Status::Failed { why };
            }
            true
        }
    }
}

/// What a refused `CreateStoreImageTask` means for the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The store quota is full: wait for the total to drop.
    QuotaFull,
    /// An export of the AMI is in progress already: follow it.
    Running,
    /// Waiting will not change the answer for this AMI: never sent again.
    ForGood(String),
    /// An answer about the caller, the bucket or the tags, not the AMI: every start would get
    /// it, so the run stops starting and the AMIs stay queued.
    Halt(String),
    /// No answer, or a failure the call may or may not have got past: ask the service.
    Unsure,
}

pub fn refusal(e: &FetchError) -> Refusal {
    let said = crate::text::truncate(&crate::text::safe(&e.detail), 200).into_owned();
    match &e.kind {
        ErrorKind::Refused(c) if c == "ResourceLimitExceeded" => Refusal::QuotaFull,
        ErrorKind::InvalidRequest(c) | ErrorKind::Refused(c) if c == "IncorrectState" => Refusal::Running,
        ErrorKind::Unauthorized => {
            Refusal::Halt("the caller may not call ec2:CreateStoreImageTask, or EC2 may not write to the bucket".into())
        }
        ErrorKind::InvalidRequest(c) if c.starts_with("InvalidAMIID") => {
            Refusal::ForGood("it no longer exists (deregistered)".into())
        }
        ErrorKind::Refused(c) if c == "UnsupportedOperation" => {
            Refusal::ForGood(format!("EC2 cannot store it: {said}"))
        }
        // Any other refusal names no AMI: the bucket, the tags, the account.
        ErrorKind::InvalidRequest(c) | ErrorKind::Refused(c) => {
            Refusal::Halt(format!("EC2 refused the start ({c}): {said}"))
        }
        ErrorKind::BadCredentials
        | ErrorKind::ExpiredCredentials
        | ErrorKind::CredentialSource
        | ErrorKind::NoCredentials => Refusal::Halt(e.summary()),
        _ => Refusal::Unsure,
    }
}

/// Why a start's answer was lost, in plain words (the error chain goes to the log).
fn unsure_why(e: &FetchError) -> String {
    match &e.kind {
        ErrorKind::Timeout => "it timed out".into(),
        ErrorKind::Unreachable => "the connection failed".into(),
        ErrorKind::Throttled => "EC2 throttled it".into(),
        ErrorKind::Service(c) => format!("EC2 failed ({})", crate::text::safe(c)),
        _ => "the answer could not be read".into(),
    }
}

/// The real service: one feed's client.
pub struct Ec2Service {
    pub ec2: crate::ec2::Ec2,
}

impl Service for Ec2Service {
    async fn latest(&self, amis: &[String]) -> Result<Vec<StoreTask>, FetchError> {
        let sel = crate::ec2::Selection { image_ids: amis.to_vec(), ..Default::default() };
        Ok(crate::ec2::fetch_all(&self.ec2, &sel, &crate::ec2::Paging::default()).await?.tasks)
    }

    async fn in_progress(&self) -> Result<Vec<StoreTask>, FetchError> {
        let sel = crate::ec2::Selection { states: vec![TaskState::InProgress], ..Default::default() };
        Ok(crate::ec2::fetch_all(&self.ec2, &sel, &crate::ec2::Paging::default()).await?.tasks)
    }

    async fn sizes(&self, amis: &[String]) -> HashMap<String, u64> {
        let found = crate::ec2::images::look_up(&self.ec2, amis).await.found;
        found.into_iter().filter_map(|i| Some((i.id.to_string(), i.size_gib()?))).collect()
    }

    async fn create(&self, ami: &str, bucket: &str, tags: &[Tag]) -> Result<String, FetchError> {
        let tags: Vec<(String, String)> = tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
        crate::ec2::export::create_store_image_task(&self.ec2, ami, bucket, &tags).await
    }
}

/// The plan file as the store.
pub struct FileStore(pub std::path::PathBuf);

impl Store for FileStore {
    fn save(&mut self, plan: &Plan) -> Result<(), String> {
        plan.save(&self.0).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
