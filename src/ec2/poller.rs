//! The background poller: complete snapshots, at a cost that follows what is moving.
//!
//! A *sweep* reads every task (at start, on refresh, and every `sweep_interval`); between
//! sweeps a *fast poll* every `interval` asks only for what can change (the tasks in
//! progress, and the latest task of each AMI that was in progress and is not any more), and
//! the poller merges it into the last snapshot. The UI still gets complete snapshots only. A
//! failed poll publishes the error and leaves the last snapshot where it was. Throttling
//! lengthens the interval, and clean polls bring it back step by step.
//!
//! Names (`DescribeImages`) are looked up beside polling by each feed's namer task
//! ([`super::namer`]), handed every snapshot: never in front of the next poll or a refresh.
//!
//! The poller owns the network; the UI owns its state.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use std::sync::OnceLock;
use tokio::sync::{Notify, mpsc};
use tokio::task::{AbortHandle, JoinHandle};

use super::client::Ec2;
use super::error::FetchError;
use std::collections::HashMap;

use super::fetch::{Fetched, Paging, Selection, fetch_all, fetch_changes};
pub use super::namer::NamesGap;
use crate::image::AmiInfo;
use crate::task::{StoreTask, TaskKey, Tasks};

/// Every task of one complete poll of one feed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tasks: Tasks,
    pub fetched_at: DateTime<Utc>,
    /// Set only when `--max-items` cut the listing: the token to resume from.
    pub next_token: Option<String>,
}

/// What the poller tells the UI.
#[derive(Debug, Clone)]
pub enum PollEvent {
    /// A poll has started.
    Polling,
    /// A poll finished; the next one starts in `next_in`, which is longer than the schedule
    /// says when `slowed` (the service throttled recent polls).
    /// `requests`: how many requests the poll made (the feeds pane's calls a minute).
    Snapshot { snapshot: Arc<Snapshot>, next_in: Duration, slowed: bool, requests: u32 },
    /// A poll failed; the previous snapshot still stands. The next try starts in `retry_in`.
    Failed { error: FetchError, at: DateTime<Utc>, retry_in: Duration, consecutive: u32 },
    /// What `DescribeImages` said of AMIs not seen before (or asked again after a failed
    /// lookup): those found, and those it does not know (deregistered since their export).
    Names { found: Vec<Arc<AmiInfo>>, missing: Vec<String> },
    /// Names cannot be had (no `ec2:DescribeImages`): said once, never asked again.
    NamesUnavailable { why: String },
    /// Some names could not be had this time (a lookup failed): how many and why, asked again
    /// later; `None` once every name asked for has come in.
    NamesIncomplete { gap: Option<NamesGap> },
}

/// What one poll asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Every selected task.
    Sweep,
    /// Only what can change: these tasks were in progress at the last poll, of `total`.
    Changes { running: Vec<TaskKey>, total: usize },
}

/// A future of the poller's, boxed so that sources can be mixed.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, FetchError>> + Send + 'a>>;

/// Anything that can run one poll: the EC2 client, or a fake in unit tests.
pub trait Source: Send + Sync + 'static {
    fn fetch<'a>(&'a self, ask: &'a Ask) -> Answer<'a, Fetched>;

    /// Whether this source gives names at all (so none are looked for when not).
    fn gives_names(&self) -> bool {
        false
    }

    /// What EC2 knows of these AMIs (at most 100), for their names; `None` when this source
    /// gives none.
    fn names<'a>(&'a self, _ids: &'a [String]) -> Option<Answer<'a, Vec<AmiInfo>>> {
        None
    }
}

/// The real source: the SDK client, a selection, how to page, and whether to name AMIs.
pub struct Ec2Source {
    pub ec2: Ec2,
    pub selection: Selection,
    pub paging: Paging,
    /// Look up the names of AMIs (`DescribeImages`), beside polling, after each poll that
    /// shows new ones.
    pub names: bool,
}

impl Source for Ec2Source {
    fn gives_names(&self) -> bool {
        self.names
    }

    fn names<'a>(&'a self, ids: &'a [String]) -> Option<Answer<'a, Vec<AmiInfo>>> {
        self.names.then(|| Box::pin(super::images::describe_images(&self.ec2, ids)) as _)
    }

    fn fetch<'a>(&'a self, ask: &'a Ask) -> Answer<'a, Fetched> {
        Box::pin(async move {
            match ask {
                Ask::Sweep => fetch_all(&self.ec2, &self.selection, &self.paging).await,
                Ask::Changes { running, total } => {
                    fetch_changes(&self.ec2, &self.selection, running, *total, &self.paging).await
                }
            }
        })
    }
}

/// The snapshot after a fast poll: the last one, with every task the poll saw put in its
/// place (or added: an export that started), newest first as the service lists them.
pub fn merge(last: &Tasks, changes: Vec<StoreTask>) -> Tasks {
    let mut out = last.clone();
    let mut at: HashMap<TaskKey, usize> = HashMap::with_capacity(changes.len());
    let wanted: std::collections::HashSet<TaskKey> = changes.iter().map(StoreTask::key).collect();
    // The changes' start times rule out nearly every task before a lookup: a fast poll brings
    // a few tasks of thousands.
    let mut starts: Vec<_> = changes.iter().map(|t| t.start_time).collect();
    starts.sort_unstable();
    for (i, t) in last.iter().enumerate() {
        if starts.binary_search(&t.start_time).is_err() {
            continue;
        }
        let k = t.key();
        if wanted.contains(&k) {
            at.entry(k).or_insert(i);
        }
    }
    let mut added = Vec::new();
    for t in changes {
        match at.get(&t.key()) {
            // A task new to the listing that came twice: the later stands, as for the others.
            Some(&i) if i >= last.len() => added[i - last.len()] = t,
            // Copies the task's run only: the rest stay shared with the last snapshot.
            Some(&i) => out.set(i, t),
            None => {
                at.insert(t.key(), last.len() + added.len());
                added.push(t);
            }
        }
    }
    if added.is_empty() {
        return out;
    }
    // A new task: the list is made again, in order. Stable: tasks of one start time keep the
    // service's order.
    let mut all = out.to_vec();
    all.extend(added);
    all.sort_by_key(|t| std::cmp::Reverse(t.start_time));
    all.into()
}

/// A sweep's tasks with the text of the tasks of the last snapshot where it is the same: the
/// AMI IDs and object keys stay one copy each across sweeps (a sweep of 1,000 tasks otherwise
/// made 2,000 new ones, and the namer kept the old IDs).
fn keep_text(last: &Tasks, mut tasks: Vec<StoreTask>) -> Vec<StoreTask> {
    let before: HashMap<TaskKey, &StoreTask> = last.iter().map(|t| (t.key(), t)).collect();
    let keep = |new: &mut Option<Arc<str>>, old: &Option<Arc<str>>| {
        if new.is_some() && new == old {
            new.clone_from(old);
        }
    };
    for t in &mut tasks {
        if let Some(old) = before.get(&t.key()) {
            keep(&mut t.ami_id, &old.ami_id);
            keep(&mut t.object_key, &old.object_key);
        }
    }
    tasks
}

/// The tasks in progress in a snapshot (those with an AMI to follow them by), with their
/// places: what the next fast poll must follow.
fn running(tasks: &Tasks) -> Vec<(TaskKey, usize)> {
    let follow = |(_, t): &(usize, &StoreTask)| t.is_in_progress() && t.ami_id.is_some();
    tasks.iter().enumerate().filter(follow).map(|(i, t)| (t.key(), i)).collect()
}

/// A fast poll's answer merged into the last snapshot when every task in it is one that was
/// in progress (its usual answer): each goes to the place it had, found among the few
/// `running` rather than by a pass over every task; with the tasks in progress after it. When
/// anything else came (a task new to the listing, or one that was not in progress), the
/// changes are given back for [`merge`].
#[allow(clippy::type_complexity)]
fn merge_running(
    last: &Tasks,
    running: &[(TaskKey, usize)],
    changes: Vec<StoreTask>,
) -> Result<(Tasks, Vec<(TaskKey, usize)>), Vec<StoreTask>> {
    let places: HashMap<&TaskKey, usize> = running.iter().map(|(k, i)| (k, *i)).collect();
    let Some(at) = changes.iter().map(|t| places.get(&t.key()).copied()).collect::<Option<Vec<usize>>>() else {
        return Err(changes);
    };
    let mut out = last.clone();
    for (&i, t) in at.iter().zip(changes) {
        out.set(i, t);
    }
    let changed: std::collections::HashSet<usize> = at.into_iter().collect();
    let mut still: Vec<(TaskKey, usize)> = running.iter().filter(|(_, i)| !changed.contains(i)).cloned().collect();
    for i in changed {
        let t = &out[i];
        if t.is_in_progress() && t.ami_id.is_some() {
            still.push((t.key(), i));
        }
    }
    still.sort_unstable_by_key(|(_, i)| *i);
    Ok((out, still))
}

/// When to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Between polls while any task is in progress.
    pub interval: Duration,
    /// Between polls while nothing is in progress (fewer calls against the rate limit).
    pub idle_interval: Duration,
    /// The longest wait after repeated failures.
    pub max_backoff: Duration,
    /// Between sweeps, which read every task; the polls between them read what can change.
    /// At most `interval`, every poll is a sweep.
    pub sweep_interval: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            idle_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(300),
        }
    }
}

impl Schedule {
    /// The wait after a success: the short interval while anything is moving.
    pub fn after_success<'a>(&self, tasks: impl IntoIterator<Item = &'a StoreTask>) -> Duration {
        if tasks.into_iter().any(StoreTask::is_in_progress) {
            self.interval
        } else {
            self.idle_interval.max(self.interval)
        }
    }

    /// The interval in force after a poll that met `throttled` throttled attempts: doubled
    /// (up to the idle interval) when throttled, halved back toward `interval` when clean.
    pub fn pace(&self, current: Duration, throttled: u32) -> Duration {
        let ceiling = self.idle_interval.max(self.interval);
        if throttled > 0 { current.saturating_mul(2).min(ceiling) } else { (current / 2).max(self.interval) }
    }

    /// Exponential backoff with jitter after `consecutive` failures (1 = the first), capped.
    /// `jitter` in `[0, 1)` picks a point between half and all of the step.
    pub fn after_failure(&self, consecutive: u32, jitter: f64) -> Duration {
        let step = self.interval.saturating_mul(1u32 << consecutive.saturating_sub(1).min(16)).min(self.max_backoff);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)).max(Duration::from_millis(100))
    }
}

/// Where a feed's poller and its namer send their events: the one channel of every feed,
/// tagged with the feed's position (no task in between to wake for each event).
#[derive(Debug, Clone)]
pub(super) struct Outbox {
    feed: usize,
    tx: mpsc::Sender<(usize, Option<PollEvent>)>,
}

impl Outbox {
    /// `Err` when nobody listens any more.
    pub(super) async fn send(&self, event: PollEvent) -> Result<(), ()> {
        self.tx.send((self.feed, Some(event))).await.map_err(|_| ())
    }
}

/// One feed's running poller: ask it to poll now, or stop it by dropping the handle.
struct Poller {
    refresh: Arc<Notify>,
    abort: AbortHandle,
    /// Why it ended (its panic message), set before `(feed, None)` is sent.
    ended: Arc<OnceLock<String>>,
}

impl Poller {
    /// Starts polling at once; events go to `tx` tagged with `feed`, and `(feed, None)` once
    /// the poller has ended (stopped, or a panic).
    fn spawn(
        feed: usize,
        source: Arc<dyn Source>,
        schedule: Schedule,
        tx: mpsc::Sender<(usize, Option<PollEvent>)>,
    ) -> Self {
        let refresh = Arc::new(Notify::new());
        let join = tokio::spawn(run(source, schedule, Outbox { feed, tx: tx.clone() }, refresh.clone()));
        let abort = join.abort_handle();
        let ended = Arc::new(OnceLock::new());
        let why = ended.clone();
        // Wakes once, when the poller ends.
        tokio::spawn(async move {
            let _ = why.set(match join.await {
                Ok(()) => "it ended".into(),
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "it panicked".into())
                }
                Err(e) => e.to_string(),
            });
            let _ = tx.send((feed, None)).await;
        });
        Self { refresh, abort, ended }
    }

    /// Polls now instead of waiting for the interval (the refresh key).
    fn refresh(&self) {
        self.refresh.notify_one();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// One poller per feed, their events in one channel, tagged with the feed's position: the
/// dashboard, `--once` and `--wait` all read feeds through this.
pub struct Pollers {
    pollers: Vec<Poller>,
    rx: mpsc::Receiver<(usize, Option<PollEvent>)>,
}

impl Pollers {
    /// Starts one poller per source, all at once.
    pub fn spawn(sources: Vec<Arc<dyn Source>>, schedule: Schedule) -> Self {
        let (tx, rx) = mpsc::channel(16 + 4 * sources.len());
        let pollers = sources
            .into_iter()
            .enumerate()
            .map(|(feed, source)| Poller::spawn(feed, source, schedule, tx.clone()))
            .collect();
        Self { pollers, rx }
    }

    /// The next event of any feed: `(feed, None)` when that feed's poller ended, which only
    /// a panic does ([`Pollers::why_ended`] says why). Cancel-safe, for `select!`.
    pub async fn recv(&mut self) -> Option<(usize, Option<PollEvent>)> {
        self.rx.recv().await
    }

    /// An event already waiting, if any.
    pub fn try_recv(&mut self) -> Option<(usize, Option<PollEvent>)> {
        self.rx.try_recv().ok()
    }

    /// Hands the events over to another task (the dashboard derives them on a worker); the
    /// pollers stay here, for refresh and for why one ended. `recv` gets nothing after this.
    pub fn take_events(&mut self) -> mpsc::Receiver<(usize, Option<PollEvent>)> {
        std::mem::replace(&mut self.rx, mpsc::channel(1).1)
    }

    /// Why feed `idx`'s poller ended (its panic message), once `(idx, None)` has said it did.
    pub fn why_ended(&self, idx: usize) -> String {
        let why = self.pollers.get(idx).map(|p| p.ended.get().cloned().unwrap_or_else(|| "it has not ended".into()));
        why.unwrap_or_else(|| "no such poller".into())
    }

    /// Stops feed `idx`'s poller (its result is in): no further requests for that feed.
    pub fn stop(&self, idx: usize) {
        if let Some(p) = self.pollers.get(idx) {
            p.abort.abort();
        }
    }

    /// Feed `idx` sweeps now (after a write to it).
    pub fn refresh_feed(&self, idx: usize) {
        if let Some(p) = self.pollers.get(idx) {
            p.refresh();
        }
    }

    /// Every feed polls now.
    pub fn refresh(&self) {
        self.pollers.iter().for_each(Poller::refresh);
    }
}

/// What the poller knows between polls: the last snapshot, when it last swept, and the
/// interval in force. Its two steps are the whole strategy, so tests drive it poll by poll.
#[derive(Debug, Clone)]
pub struct Cadence {
    schedule: Schedule,
    last: Option<Arc<Snapshot>>,
    last_sweep: Option<tokio::time::Instant>,
    sweep_now: bool,
    pace: Duration,
    /// The tasks in progress in `last` (with an AMI to follow them by), with their places.
    running: Vec<(TaskKey, usize)>,
}

impl Cadence {
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule, last: None, last_sweep: None, sweep_now: true, pace: schedule.interval, running: Vec::new() }
    }

    /// The next poll reads everything (the refresh key).
    pub fn sweep_next(&mut self) {
        self.sweep_now = true;
    }

    /// What the next poll asks for: a sweep at first, when asked, and every sweep interval;
    /// otherwise only what can change since the last snapshot.
    pub fn ask(&self) -> Ask {
        let s = &self.schedule;
        let due = self.last_sweep.is_none_or(|at| at.elapsed() >= s.sweep_interval);
        match &self.last {
            Some(last) if !(self.sweep_now || due || s.sweep_interval <= s.interval) => {
                Ask::Changes { running: self.running.iter().map(|(k, _)| k.clone()).collect(), total: last.tasks.len() }
            }
            _ => Ask::Sweep,
        }
    }

    /// Takes a poll's answer: the complete snapshot, the wait before the next poll, and
    /// whether throttling made that wait longer.
    pub fn take(&mut self, ask: &Ask, f: Fetched) -> (Arc<Snapshot>, Duration, bool) {
        let (tasks, running) = match (ask, &self.last) {
            (Ask::Changes { .. }, Some(s)) if !f.complete => match merge_running(&s.tasks, &self.running, f.tasks) {
                Ok(merged) => merged,
                Err(changes) => {
                    let tasks = merge(&s.tasks, changes);
                    let running = running(&tasks);
                    (tasks, running)
                }
            },
            _ => {
                self.last_sweep = Some(tokio::time::Instant::now());
                self.sweep_now = false;
                let tasks: Tasks = match &self.last {
                    Some(last) => keep_text(&last.tasks, f.tasks).into(),
                    None => f.tasks.into(),
                };
                let running = running(&tasks);
                (tasks, running)
            }
        };
        self.running = running;
        self.pace = self.schedule.pace(self.pace, f.throttled);
        let next_in = self.schedule.after_success(&tasks).max(self.pace);
        // "Updated" means a request was answered: a poll that asked nothing keeps the time
        // of the last answer.
        let fetched_at = match &self.last {
            Some(last) if f.requests == 0 => last.fetched_at,
            _ => Utc::now(),
        };
        let snapshot = Arc::new(Snapshot { tasks, fetched_at, next_token: f.next_token });
        self.last = Some(snapshot.clone());
        (snapshot, next_in, self.pace > self.schedule.interval)
    }
}

async fn run(source: Arc<dyn Source>, schedule: Schedule, out: Outbox, refresh: Arc<Notify>) {
    let mut failures = 0u32;
    let mut jitter = Jitter::new();
    let mut cadence = Cadence::new(schedule);
    // Names are looked up by their own task, handed each snapshot: never in front of a poll.
    let (latest, watched) = tokio::sync::watch::channel(None);
    let _namer = source
        .gives_names()
        .then(|| AbortOnDrop(tokio::spawn(super::namer::run(source.clone(), schedule, watched, out.clone()))));
    let mut sweeps = 0u64;
    loop {
        if out.send(PollEvent::Polling).await.is_err() {
            return;
        }
        let ask = cadence.ask();
        let (event, wait) = match source.fetch(&ask).await {
            Ok(f) => {
                failures = 0;
                let (requests, throttled, took, complete) = (f.requests, f.throttled, f.took, f.complete);
                let (snapshot, next_in, slowed) = cadence.take(&ask, f);
                let (sweep, tasks) = (ask == Ask::Sweep || complete, snapshot.tasks.len());
                tracing::debug!(sweep, tasks, requests, throttled, ?took, ?next_in, "polled");
                sweeps += u64::from(sweep);
                latest.send_replace(Some((snapshot.clone(), sweeps)));
                (PollEvent::Snapshot { snapshot, next_in, slowed, requests }, next_in)
            }
            Err(error) => {
                failures += 1;
                let retry_in = schedule.after_failure(failures, jitter.next());
                tracing::warn!(error = %error, detail = %error.detail, failures, "poll failed");
                (PollEvent::Failed { error, at: Utc::now(), retry_in, consecutive: failures }, retry_in)
            }
        };
        if out.send(event).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // The refresh key reads everything, as a person pressing it expects.
            _ = refresh.notified() => cadence.sweep_next(),
        }
    }
}

/// A task that ends with its owner (the namer, with its poller).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A tiny xorshift, seeded from the clock: jitter only needs to differ between processes.
#[derive(Debug)]
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn new() -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1;
        Self(seed)
    }

    pub(super) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::error::ErrorKind;
    use crate::task::TaskState;
    use std::sync::Mutex;

    /// The next event of the one feed.
    async fn next(pollers: &mut Pollers) -> PollEvent {
        pollers.recv().await.unwrap().1.expect("the poller runs")
    }

    /// Answers from a script, then repeats the last answer.
    struct Scripted(Mutex<Vec<Result<Fetched, FetchError>>>);

    impl Source for Scripted {
        fn fetch<'a>(&'a self, _: &'a Ask) -> Answer<'a, Fetched> {
            let mut v = self.0.lock().unwrap();
            let next = if v.len() > 1 { v.remove(0) } else { v[0].clone() };
            Box::pin(async move { next })
        }
    }

    fn fetched(n: usize, state: TaskState) -> Fetched {
        let t = StoreTask { state: Some(state), ..StoreTask::default() };
        Fetched { tasks: vec![t; n], requests: 1, ..Fetched::default() }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let s = Schedule {
            interval: Duration::from_secs(5),
            idle_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
            ..Schedule::default()
        };
        assert_eq!(s.after_failure(1, 0.0), Duration::from_millis(2500)); // half of 5s at the least
        assert!(s.after_failure(1, 0.999) <= Duration::from_secs(5));
        assert_eq!(s.after_failure(2, 0.0), Duration::from_secs(5));
        assert_eq!(s.after_failure(3, 0.0), Duration::from_secs(10));
        assert_eq!(s.after_failure(30, 0.0), Duration::from_secs(30));
        assert!(s.after_failure(30, 0.999) <= Duration::from_secs(60));
    }

    #[test]
    fn throttling_doubles_the_interval_up_to_idle_and_clean_polls_bring_it_back() {
        let s = Schedule::default();
        let mut pace = s.interval;
        let mut seen = vec![];
        for throttled in [1, 1, 1, 1, 0, 0, 0, 0] {
            pace = s.pace(pace, throttled);
            seen.push(pace.as_secs());
        }
        assert_eq!(seen, [10, 20, 30, 30, 15, 7, 5, 5]);
    }

    /// Answers sweeps with `all`, fast polls with what they asked for, and records the asks.
    struct Recording(Mutex<(Vec<Ask>, Vec<StoreTask>)>);

    impl Source for Recording {
        fn fetch<'a>(&'a self, ask: &'a Ask) -> Answer<'a, Fetched> {
            let mut g = self.0.lock().unwrap();
            g.0.push(ask.clone());
            let tasks = match ask {
                Ask::Sweep => g.1.clone(),
                Ask::Changes { running, .. } => g.1.iter().filter(|t| running.contains(&t.key())).cloned().collect(),
            };
            Box::pin(async move { Ok(Fetched { tasks, requests: 1, ..Fetched::default() }) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sweeps_at_start_on_refresh_and_rarely_fast_polls_between() {
        let moving = StoreTask {
            ami_id: Some("ami-0000000a".into()),
            state: Some(TaskState::InProgress),
            ..StoreTask::default()
        };
        let source = Arc::new(Recording(Mutex::new((vec![], vec![moving]))));
        let schedule = Schedule { sweep_interval: Duration::from_secs(30), ..Schedule::default() };
        let mut pollers = Pollers::spawn(vec![source.clone() as Arc<dyn Source>], schedule);
        let mut snapshots = 0;
        while snapshots < 8 {
            if let PollEvent::Snapshot { snapshot, .. } = next(&mut pollers).await {
                assert_eq!(snapshot.tasks.len(), 1, "every snapshot is complete");
                snapshots += 1;
            }
        }
        pollers.refresh();
        while !matches!(next(&mut pollers).await, PollEvent::Snapshot { .. }) {}
        let asks = source.0.lock().unwrap().0.clone();
        let sweeps: Vec<usize> = asks.iter().enumerate().filter(|(_, a)| **a == Ask::Sweep).map(|(i, _)| i).collect();
        // At 0 s, then at 30 s (the 7th poll, 5 s apart), then the refresh.
        assert_eq!(sweeps, vec![0, 6, 8], "{asks:?}");
        let moving = StoreTask { ami_id: Some("ami-0000000a".into()), ..StoreTask::default() };
        assert_eq!(asks[1], Ask::Changes { running: vec![moving.key()], total: 1 });
    }

    #[test]
    fn merge_updates_adds_and_keeps_the_rest() {
        let t = |ami: &str, secs: i64, p: u8| StoreTask {
            ami_id: Some(ami.into()),
            start_time: chrono::DateTime::from_timestamp(secs, 0),
            progress: Some(p),
            ..StoreTask::default()
        };
        let last = vec![t("ami-0000000b", 20, 10), t("ami-0000000a", 10, 100)];
        let merged = merge(&last.into(), vec![t("ami-0000000b", 20, 30), t("ami-0000000c", 30, 1)]);
        let got: Vec<(String, u8)> =
            merged.iter().map(|t| (t.ami_id.as_deref().unwrap().to_string(), t.progress.unwrap())).collect();
        assert_eq!(got, [("ami-0000000c".into(), 1), ("ami-0000000b".into(), 30), ("ami-0000000a".into(), 100)]);
    }

    proptest::proptest! {
        /// The fast path of a fast poll's merge (the tasks that were in progress, put back in
        /// their places) gives what the full merge gives, and the tasks in progress after it.
        #[test]
        fn merging_at_the_known_places_is_the_full_merge(
            states in proptest::collection::vec((0u8..3, 0u8..=100), 0..120),
            moves in proptest::collection::vec((0usize..120, 0u8..3, 0u8..=100), 0..12),
            only_running in proptest::bool::ANY,
        ) {
            let state = |s: u8| [TaskState::InProgress, TaskState::Completed, TaskState::Failed][usize::from(s)].clone();
            let task = |i: usize, s: u8, p: u8| StoreTask {
                ami_id: Some(format!("ami-{:08x}", i % 50).into()),
                start_time: chrono::DateTime::from_timestamp(1_000_000 - i as i64, 0),
                progress: Some(p),
                state: Some(state(s)),
                ..StoreTask::default()
            };
            let last: Tasks = states.iter().enumerate().map(|(i, &(s, p))| task(i, s, p)).collect();
            let places = running(&last);
            // A fast poll's usual answer (only tasks that were in progress), or anything.
            let follows = |i: usize| !only_running || places.iter().any(|(_, at)| *at == i);
            let changes: Vec<StoreTask> = moves.iter().filter(|m| follows(m.0)).map(|&(i, s, p)| task(i, s, p)).collect();
            let full = merge(&last, changes.clone());
            match merge_running(&last, &places, changes.clone()) {
                Ok((tasks, now_running)) => {
                    proptest::prop_assert_eq!(&tasks, &full);
                    proptest::prop_assert_eq!(now_running, running(&full));
                }
                Err(back) => {
                    proptest::prop_assert!(!only_running, "the usual answer takes the fast path");
                    proptest::prop_assert_eq!(back, changes.clone());
                    // Only when a change is not a task that was in progress.
                    let was: Vec<TaskKey> = places.iter().map(|(k, _)| k.clone()).collect();
                    proptest::prop_assert!(changes.iter().any(|t| !was.contains(&t.key())));
                }
            }
        }
    }

    #[test]
    fn a_task_that_comes_twice_in_one_answer_is_the_later_one_new_or_not() {
        let t = |ami: &str, secs: i64, p: u8| StoreTask {
            ami_id: Some(ami.into()),
            start_time: chrono::DateTime::from_timestamp(secs, 0),
            progress: Some(p),
            ..StoreTask::default()
        };
        let last: Tasks = vec![t("ami-0000000a", 10, 10)].into();
        let changes = vec![
            t("ami-0000000a", 10, 20),
            t("ami-0000000a", 10, 30),
            t("ami-0000000b", 20, 1),
            t("ami-0000000b", 20, 2),
        ];
        let merged = merge(&last, changes);
        let got: Vec<(String, u8)> =
            merged.iter().map(|t| (t.ami_id.as_deref().unwrap().to_string(), t.progress.unwrap())).collect();
        assert_eq!(got, [("ami-0000000b".into(), 2), ("ami-0000000a".into(), 30)]);
    }

    #[test]
    fn idle_interval_applies_only_when_nothing_moves() {
        let s = Schedule::default();
        assert_eq!(s.after_success(&fetched(3, TaskState::Completed).tasks), s.idle_interval);
        assert_eq!(s.after_success(&fetched(3, TaskState::InProgress).tasks), s.interval);
    }

    #[tokio::test(start_paused = true)]
    async fn failure_keeps_nothing_half_done_and_recovers() {
        let err = FetchError::new(ErrorKind::Throttled, "RequestLimitExceeded");
        let script =
            vec![Ok(fetched(3, TaskState::InProgress)), Err(err.clone()), Ok(fetched(4, TaskState::InProgress))];
        let source = Arc::new(Scripted(Mutex::new(script)));
        // Every poll a sweep: the script answers whole listings.
        let schedule = Schedule { sweep_interval: Duration::from_secs(1), ..Schedule::default() };
        let mut pollers = Pollers::spawn(vec![source as Arc<dyn Source>], schedule);
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.push(next(&mut pollers).await);
        }
        assert!(matches!(seen[0], PollEvent::Polling));
        assert!(matches!(&seen[1], PollEvent::Snapshot { snapshot, .. } if snapshot.tasks.len() == 3));
        assert!(matches!(&seen[3], PollEvent::Failed { error, consecutive: 1, .. } if error == &err));
        assert!(matches!(&seen[5], PollEvent::Snapshot { snapshot, .. } if snapshot.tasks.len() == 4));
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_polls_before_the_interval() {
        let source = Arc::new(Scripted(Mutex::new(vec![Ok(fetched(1, TaskState::InProgress))])));
        let schedule = Schedule { interval: Duration::from_secs(3600), ..Schedule::default() };
        let mut pollers = Pollers::spawn(vec![source as Arc<dyn Source>], schedule);
        next(&mut pollers).await;
        next(&mut pollers).await;
        pollers.refresh();
        let t0 = tokio::time::Instant::now();
        assert!(matches!(next(&mut pollers).await, PollEvent::Polling));
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    /// A source that panics on its second fetch: a bug in the fetch path.
    struct Panicking(std::sync::atomic::AtomicU32);

    impl Source for Panicking {
        fn fetch<'a>(&'a self, _: &'a Ask) -> Answer<'a, Fetched> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                assert!(n == 0, "a bug in the fetch path");
                Ok(fetched(1, TaskState::InProgress))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_feed_is_reported_with_its_message_and_the_others_go_on() {
        let good: Arc<dyn Source> = Arc::new(Scripted(Mutex::new(vec![Ok(fetched(2, TaskState::InProgress))])));
        let bad: Arc<dyn Source> = Arc::new(Panicking(std::sync::atomic::AtomicU32::new(0)));
        let mut pollers = Pollers::spawn(vec![good, bad], Schedule::default());
        let (mut good_snapshots, mut died) = (0, None);
        while died.is_none() || good_snapshots < 3 {
            match pollers.recv().await.unwrap() {
                (0, Some(PollEvent::Snapshot { .. })) => good_snapshots += 1,
                (1, None) => died = Some(pollers.why_ended(1)),
                _ => {}
            }
        }
        assert_eq!(died.as_deref(), Some("a bug in the fetch path"));
    }
}
