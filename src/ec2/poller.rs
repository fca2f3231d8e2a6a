//! The background poller: a full fetch every interval, handed over as a complete snapshot.
//!
//! The poller owns the network; the UI owns its state. A failed poll publishes the error and
//! leaves the last complete snapshot where it was.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::client::Ec2;
use super::error::FetchError;
use super::fetch::{Fetched, Paging, Selection, fetch_all};
use crate::task::StoreTask;

/// Every task of one complete poll of one feed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tasks: Vec<StoreTask>,
    pub fetched_at: DateTime<Utc>,
    /// Set only when `--max-items` cut the listing: the token to resume from.
    pub next_token: Option<String>,
}

/// What the poller tells the UI.
#[derive(Debug, Clone)]
pub enum PollEvent {
    /// A poll has started.
    Polling,
    /// A poll finished; the next one starts in `next_in`.
    Snapshot { snapshot: Arc<Snapshot>, next_in: Duration },
    /// A poll failed; the previous snapshot still stands. The next try starts in `retry_in`.
    Failed { error: FetchError, at: DateTime<Utc>, retry_in: Duration, consecutive: u32 },
}

/// Anything that can run one complete fetch: the EC2 client, or a fake in unit tests.
pub trait Source: Send + Sync + 'static {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + '_>>;
}

/// The real source: the SDK client, a selection and how to page.
pub struct Ec2Source {
    pub ec2: Ec2,
    pub selection: Selection,
    pub paging: Paging,
}

impl Source for Ec2Source {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + '_>> {
        Box::pin(async move { fetch_all(&self.ec2, &self.selection, &self.paging).await })
    }
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
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            idle_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl Schedule {
    /// The wait after a success: the short interval while anything is moving.
    pub fn after_success(&self, tasks: &[StoreTask]) -> Duration {
        if tasks.iter().any(StoreTask::is_in_progress) { self.interval } else { self.idle_interval.max(self.interval) }
    }

    /// Exponential backoff with jitter after `consecutive` failures (1 = the first), capped.
    /// `jitter` in `[0, 1)` picks a point between half and all of the step.
    pub fn after_failure(&self, consecutive: u32, jitter: f64) -> Duration {
        let step = self.interval.saturating_mul(1u32 << consecutive.saturating_sub(1).min(16)).min(self.max_backoff);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)).max(Duration::from_millis(100))
    }
}

/// The running poller: ask it to poll now, or stop it by dropping the handle.
pub struct Poller {
    refresh: Arc<Notify>,
    join: JoinHandle<()>,
}

impl Poller {
    /// Starts polling at once; events arrive on the returned receiver.
    pub fn spawn(source: Arc<dyn Source>, schedule: Schedule) -> (Self, mpsc::Receiver<PollEvent>) {
        let (tx, rx) = mpsc::channel(16);
        let refresh = Arc::new(Notify::new());
        let join = tokio::spawn(run(source, schedule, tx, refresh.clone()));
        (Self { refresh, join }, rx)
    }

    /// Polls now instead of waiting for the interval (the refresh key).
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.join.abort();
    }
}

/// One poller per feed, their events merged into one channel and tagged with the feed's
/// position: the dashboard, `--once` and `--wait` all read feeds through this.
pub struct Pollers {
    pollers: Vec<Poller>,
    rx: mpsc::Receiver<(usize, Option<PollEvent>)>,
}

impl Pollers {
    /// Starts one poller per source, all at once.
    pub fn spawn(sources: Vec<Arc<dyn Source>>, schedule: Schedule) -> Self {
        let (tx, rx) = mpsc::channel(16 + 4 * sources.len());
        let mut pollers = Vec::with_capacity(sources.len());
        for (idx, source) in sources.into_iter().enumerate() {
            let (poller, mut events) = Poller::spawn(source, schedule);
            pollers.push(poller);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if tx.send((idx, Some(e))).await.is_err() {
                        return;
                    }
                }
                // The poller's channel closed: it ended, which it only does by panicking.
                let _ = tx.send((idx, None)).await;
            });
        }
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

    /// Why feed `idx`'s poller ended: its panic message.
    pub async fn why_ended(&mut self, idx: usize) -> String {
        let Some(p) = self.pollers.get_mut(idx) else { return "no such poller".into() };
        match (&mut p.join).await {
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
        }
    }

    /// Stops feed `idx`'s poller (its result is in): no further requests for that feed.
    pub fn stop(&self, idx: usize) {
        if let Some(p) = self.pollers.get(idx) {
            p.join.abort();
        }
    }

    /// Every feed polls now.
    pub fn refresh(&self) {
        self.pollers.iter().for_each(Poller::refresh);
    }

    pub fn len(&self) -> usize {
        self.pollers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pollers.is_empty()
    }
}

async fn run(source: Arc<dyn Source>, schedule: Schedule, tx: mpsc::Sender<PollEvent>, refresh: Arc<Notify>) {
    let mut failures = 0u32;
    let mut jitter = Jitter::new();
    loop {
        if tx.send(PollEvent::Polling).await.is_err() {
            return;
        }
        let (event, wait) = match source.fetch().await {
            Ok(f) => {
                failures = 0;
                let next_in = schedule.after_success(&f.tasks);
                tracing::debug!(tasks = f.tasks.len(), requests = f.requests, took = ?f.took, "polled");
                let snapshot = Arc::new(Snapshot { tasks: f.tasks, fetched_at: Utc::now(), next_token: f.next_token });
                (PollEvent::Snapshot { snapshot, next_in }, next_in)
            }
            Err(error) => {
                failures += 1;
                let retry_in = schedule.after_failure(failures, jitter.next());
                tracing::warn!(error = %error, detail = %error.detail, failures, "poll failed");
                (PollEvent::Failed { error, at: Utc::now(), retry_in, consecutive: failures }, retry_in)
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh.notified() => {}
        }
    }
}

/// A tiny xorshift, seeded from the clock: jitter only needs to differ between processes.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64 | 1;
        Self(seed)
    }

    fn next(&mut self) -> f64 {
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

    /// Answers from a script, then repeats the last answer.
    struct Scripted(Mutex<Vec<Result<Fetched, FetchError>>>);

    impl Source for Scripted {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + '_>> {
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
        };
        assert_eq!(s.after_failure(1, 0.0), Duration::from_millis(2500)); // half of 5s at the least
        assert!(s.after_failure(1, 0.999) <= Duration::from_secs(5));
        assert_eq!(s.after_failure(2, 0.0), Duration::from_secs(5));
        assert_eq!(s.after_failure(3, 0.0), Duration::from_secs(10));
        assert_eq!(s.after_failure(30, 0.0), Duration::from_secs(30));
        assert!(s.after_failure(30, 0.999) <= Duration::from_secs(60));
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
        let (_poller, mut rx) = Poller::spawn(source, Schedule::default());
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.push(rx.recv().await.unwrap());
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
        let (poller, mut rx) = Poller::spawn(source, schedule);
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        poller.refresh();
        let t0 = tokio::time::Instant::now();
        assert!(matches!(rx.recv().await.unwrap(), PollEvent::Polling));
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    /// A source that panics on its second fetch: a bug in the fetch path.
    struct Panicking(std::sync::atomic::AtomicU32);

    impl Source for Panicking {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + '_>> {
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
                (1, None) => died = Some(pollers.why_ended(1).await),
                _ => {}
            }
        }
        assert_eq!(died.as_deref(), Some("a bug in the fetch path"));
    }
}
