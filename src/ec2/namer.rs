//! AMI names beside polling: each feed's own task looks up the AMIs its snapshots show
//! (`DescribeImages`, 100 a request, a few requests at once), so names never stand in front
//! of the next poll or the refresh key.
//!
//! A chunk that fails keeps the chunks that answered: only its AMIs are asked again, at a
//! later poll, with backoff, and the UI is told that names are incomplete and why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ErrorKind;
use super::images::IDS_PER_REQUEST;
use super::poller::{Jitter, Outbox, PollEvent, Schedule, Snapshot, Source};
use crate::image::AmiInfo;
use crate::task::{StoreTask, Tasks};

/// Name requests of one feed in flight at once: 2,700 AMIs are named in 7 rounds, not 27.
pub const PER_FEED: usize = 4;
/// Name requests in flight across every feed: 340 feeds starting together do not open
/// 1,360 connections at once.
const ALL_FEEDS: usize = 32;
static SLOTS: Semaphore = Semaphore::const_new(ALL_FEEDS);

/// How long before an AMI EC2 did not know is asked about again: deregistered AMIs rarely
/// come back, and with thousands of tasks they are hundreds.
pub(super) const RECHECK_UNKNOWN: Duration = Duration::from_secs(3600);

/// Names of some AMIs could not be had: how many, why, and when they are asked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesGap {
    /// AMIs still without an answer.
    pub amis: usize,
    /// The last failure, in one line.
    pub why: String,
    /// When this was found, and the wait before those AMIs are asked again (at the first poll
    /// after it).
    pub at: DateTime<Utc>,
    pub retry_in: Duration,
}

/// What the poller hands the namer: the latest snapshot, and how many sweeps so far (a sweep
/// is when AMIs EC2 did not know are asked about again).
pub(super) type Latest = Option<(Arc<Snapshot>, u64)>;

#[derive(Debug, Clone, Copy)]
struct Failed {
    attempts: u32,
    retry_at: Instant,
}

/// Which AMIs' names to ask for: each once; one whose lookup failed again after a backoff;
/// one EC2 did not know again at a sweep at most once an hour (an AMI shared late); nothing
/// at all once names proved unavailable.
#[derive(Debug)]
pub(super) struct Namer {
    schedule: Schedule,
    /// Every AMI seen (its ID shared with the tasks that name it).
    pub(super) asked: HashSet<Arc<str>>,
    /// The tasks of the last snapshot looked at: a fast poll's snapshot shares most of them,
    /// whose AMIs need no lookup in `asked`.
    last: Tasks,
    /// AMIs EC2 did not know, and when they were last asked about.
    pub(super) unknown: HashMap<String, Instant>,
    /// AMIs whose lookup failed, and when to ask again.
    failed: HashMap<String, Failed>,
    pub(super) off: bool,
    /// A gap was told to the UI and not closed since.
    told_gap: bool,
    why: String,
    jitter: Jitter,
}

impl Namer {
    pub(super) fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            asked: HashSet::new(),
            last: Tasks::new(),
            unknown: HashMap::new(),
            failed: HashMap::new(),
            off: false,
            told_gap: false,
            why: String::new(),
            jitter: Jitter::new(),
        }
    }

    /// The AMIs to ask about now, each once.
    pub(super) fn wanted(&mut self, tasks: &Tasks, swept: bool) -> Vec<String> {
        if self.off {
            return Vec::new();
        }
        let now = Instant::now();
        // An AMI whose tasks left the listing (31 days) is not waited for any more.
        if !self.failed.is_empty() {
            let present: HashSet<&str> = tasks.iter().filter_map(|t| t.ami_id.as_deref()).collect();
            self.failed.retain(|id, _| present.contains(id.as_str()));
        }
        let mut ids: Vec<String> = Vec::new();
        let mut due: HashSet<&str> = HashSet::new();
        // Between sweeps, with no lookup waiting to be tried again, a task whose AMI is the one
        // the same place held in the last snapshot (the very same text: a task the fast poll
        // did not touch, in a run of tasks shared with it) was seen then: only the others are
        // looked up.
        let look: Vec<&StoreTask> = if !swept && self.failed.is_empty() {
            let last = &self.last;
            let moved = |(i, t): &(usize, &StoreTask)| !last.get(*i).is_some_and(|l| same(&l.ami_id, &t.ami_id));
            tasks.unshared_with(last).filter(moved).map(|(_, t)| t).collect()
        } else {
            tasks.iter().collect()
        };
        for t in look {
            let Some(arc) = &t.ami_id else { continue };
            let id = &**arc;
            // Each at most once here: `asked` holds every AMI seen, an unknown one leaves
            // `unknown` the first time it is asked again, and a failed one is due once.
            let again = swept
                && self.unknown.get(id).is_some_and(|at| now.duration_since(*at) >= RECHECK_UNKNOWN)
                && self.unknown.remove(id).is_some();
            let retry = self.failed.get(id).is_some_and(|f| f.retry_at <= now) && due.insert(id);
            if again || retry || (!self.asked.contains(id) && self.asked.insert(arc.clone())) {
                ids.push(id.to_string());
            }
        }
        self.last = tasks.clone();
        ids
    }

    /// Takes one chunk's answer; returns the event to send, if any.
    fn take(&mut self, chunk: &[String], res: Result<Vec<AmiInfo>, super::FetchError>) -> Option<PollEvent> {
        match res {
            Ok(found) => {
                let known: HashSet<&str> = found.iter().map(|i| &*i.id).collect();
                let missing: Vec<String> = chunk.iter().filter(|i| !known.contains(i.as_str())).cloned().collect();
                let now = Instant::now();
                self.unknown.extend(missing.iter().map(|m| (m.clone(), now)));
                chunk.iter().for_each(|id| {
                    self.failed.remove(id);
                });
                // Each AMI's ID is the tasks' copy: hundreds of thousands of AMIs, one copy each.
                let share = |mut info: AmiInfo| {
                    if let Some(id) = self.asked.get(&*info.id) {
                        info.id = id.clone();
                    }
                    Arc::new(info)
                };
                Some(PollEvent::Names { found: found.into_iter().map(share).collect(), missing })
            }
            // Said once, though the chunks in flight meet the same denial.
            Err(e) if matches!(e.kind, ErrorKind::Unauthorized) && self.off => None,
            Err(e) if matches!(e.kind, ErrorKind::Unauthorized) => {
                self.off = true;
                self.failed.clear();
                let why =
                    "names are not available: the caller may not call ec2:DescribeImages (optional; it adds AMI names)";
                Some(PollEvent::NamesUnavailable { why: why.into() })
            }
            Err(e) => {
                tracing::warn!(error = %e, detail = %e.detail, amis = chunk.len(), "names lookup failed");
                self.why = e.summary();
                let now = Instant::now();
                for id in chunk {
                    let attempts = self.failed.get(id).map_or(0, |f| f.attempts) + 1;
                    let retry_at = now + self.schedule.after_failure(attempts, self.jitter.next());
                    self.failed.insert(id.clone(), Failed { attempts, retry_at });
                }
                None
            }
        }
    }

    /// Whether names are complete now, if that changed or is still not so: the event to send.
    fn gap(&mut self) -> Option<PollEvent> {
        if self.failed.is_empty() || self.off {
            return std::mem::take(&mut self.told_gap).then_some(PollEvent::NamesIncomplete { gap: None });
        }
        self.told_gap = true;
        let now = Instant::now();
        let next = self.failed.values().map(|f| f.retry_at).min().unwrap_or(now);
        let gap = NamesGap {
            amis: self.failed.len(),
            why: self.why.clone(),
            at: Utc::now(),
            retry_in: next.saturating_duration_since(now),
        };
        Some(PollEvent::NamesIncomplete { gap: Some(gap) })
    }

    /// Asks for `ids`, [`PER_FEED`] chunks at once, sending each chunk's names as they come;
    /// then whether names are complete. `Err` when the UI has gone.
    async fn round(&mut self, source: &Arc<dyn Source>, ids: Vec<String>, tx: &Outbox) -> Result<(), ()> {
        let mut chunks = ids.chunks(IDS_PER_REQUEST).map(<[String]>::to_vec);
        let mut set = JoinSet::new();
        let mut asking: HashMap<tokio::task::Id, Vec<String>> = HashMap::new();
        loop {
            while set.len() < PER_FEED
                && !self.off
                && let Some(chunk) = chunks.next()
            {
                let (source, c) = (source.clone(), chunk.clone());
                let handle = set.spawn(async move {
                    // Closed never: the semaphore is static and never closed.
                    let _slot = SLOTS.acquire().await;
                    match source.names(&c) {
                        Some(answer) => answer.await,
                        None => Ok(Vec::new()),
                    }
                });
                asking.insert(handle.id(), chunk);
            }
            let Some(joined) = set.join_next_with_id().await else { break };
            let (id, res) = match joined {
                Ok((id, res)) => (id, res),
                Err(e) => {
                    let why = if e.is_panic() { "the names lookup panicked" } else { "the names lookup was stopped" };
                    (e.id(), Err(super::FetchError::new(ErrorKind::Other, why)))
                }
            };
            let chunk = asking.remove(&id).unwrap_or_default();
            if let Some(event) = self.take(&chunk, res)
                && tx.send(event).await.is_err()
            {
                return Err(());
            }
        }
        match self.gap() {
            Some(event) => tx.send(event).await,
            None => Ok(()),
        }
    }
}

/// Whether two AMI IDs are the very same text (not only equal).
fn same(a: &Option<Arc<str>>, b: &Option<Arc<str>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The namer of one feed: after each snapshot the poller hands over, the names of the AMIs
/// not asked before (and those due again). Ends when the poller or the UI has gone.
pub(super) async fn run(source: Arc<dyn Source>, schedule: Schedule, mut latest: watch::Receiver<Latest>, tx: Outbox) {
    let mut namer = Namer::new(schedule);
    let mut sweeps_seen = 0;
    while latest.changed().await.is_ok() {
        let Some((snapshot, sweeps)) = latest.borrow_and_update().clone() else { continue };
        let swept = sweeps != sweeps_seen;
        sweeps_seen = sweeps;
        let ids = namer.wanted(&snapshot.tasks, swept);
        let sent = if !ids.is_empty() {
            namer.round(&source, ids, &tx).await
        } else if namer.told_gap && namer.failed.is_empty() {
            // The missing AMIs left the listing: names are complete again.
            namer.told_gap = false;
            tx.send(PollEvent::NamesIncomplete { gap: None }).await
        } else {
            Ok(())
        };
        if sent.is_err() {
            return;
        }
        if namer.off {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ami: &str) -> StoreTask {
        StoreTask { ami_id: Some(ami.into()), ..StoreTask::default() }
    }

    fn l<const N: usize>(tasks: [StoreTask; N]) -> Tasks {
        Tasks::from(tasks.to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn names_are_asked_once_and_unknown_ones_again_only_at_a_sweep() {
        let mut n = Namer::new(Schedule::default());
        assert_eq!(
            n.wanted(&l([t("ami-0000000a"), t("ami-0000000b"), t("ami-0000000a")]), true),
            ["ami-0000000a", "ami-0000000b"]
        );
        assert!(n.wanted(&l([t("ami-0000000a")]), false).is_empty(), "known: not asked again");
        n.unknown.insert("ami-0000000b".into(), Instant::now());
        assert!(n.wanted(&l([t("ami-0000000b")]), true).is_empty(), "unknown: not again within the hour");
        tokio::time::advance(RECHECK_UNKNOWN).await;
        assert!(n.wanted(&l([t("ami-0000000b")]), false).is_empty(), "unknown: not at a fast poll");
        assert_eq!(n.wanted(&l([t("ami-0000000b")]), true), ["ami-0000000b"], "unknown: at a sweep, an hour on");
        assert!(n.wanted(&l([t("ami-0000000b")]), true).is_empty(), "and only once");
        n.off = true;
        assert!(n.wanted(&l([t("ami-0000000c")]), true).is_empty(), "denied: never again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_poll_asks_for_the_amis_of_its_new_tasks_only() {
        let mut n = Namer::new(Schedule::default());
        let first = [t("ami-0000000a"), t("ami-0000000b")];
        assert_eq!(n.wanted(&l(first.clone()), true), ["ami-0000000a", "ami-0000000b"]);
        // The fast poll's merge: the same tasks (their text shared), one new in front.
        let next = [t("ami-0000000c"), first[0].clone(), first[1].clone()];
        assert_eq!(n.wanted(&l(next.clone()), false), ["ami-0000000c"], "a task moved to another place is still known");
        let again = [next[0].clone(), next[1].clone(), t("ami-0000000d")];
        assert_eq!(n.wanted(&l(again), false), ["ami-0000000d"], "a new task in a known place is looked at");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_chunk_is_asked_again_after_a_backoff_that_grows_and_the_rest_is_kept() {
        let schedule =
            Schedule { interval: Duration::from_secs(5), max_backoff: Duration::from_secs(60), ..Schedule::default() };
        let mut n = Namer::new(schedule);
        let tasks = [t("ami-0000000a"), t("ami-0000000b")];
        assert_eq!(n.wanted(&l(tasks.clone()), false).len(), 2);
        let info = AmiInfo { id: "ami-0000000a".into(), ..AmiInfo::default() };
        assert!(matches!(n.take(&["ami-0000000a".into()], Ok(vec![info])), Some(PollEvent::Names { .. })));
        let err = super::super::FetchError::new(ErrorKind::Service("InternalError".into()), "InternalError: boom");
        assert!(n.take(&["ami-0000000b".into()], Err(err.clone())).is_none());
        let Some(PollEvent::NamesIncomplete { gap: Some(gap) }) = n.gap() else { panic!("a gap is told") };
        assert_eq!(gap.amis, 1);
        assert!(gap.why.contains("EC2 failed on its side"), "{}", gap.why);
        assert!(gap.retry_in >= Duration::from_millis(2500) && gap.retry_in <= Duration::from_secs(5), "{gap:?}");
        assert!(n.wanted(&l(tasks.clone()), true).is_empty(), "not before the backoff");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(n.wanted(&l(tasks.clone()), false), ["ami-0000000b"], "only the failed one, once due");
        n.take(&["ami-0000000b".into()], Err(err));
        let Some(PollEvent::NamesIncomplete { gap: Some(gap) }) = n.gap() else { panic!() };
        assert!(gap.retry_in >= Duration::from_secs(5), "the second wait is longer: {gap:?}");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(n.wanted(&l(tasks.clone()), false), ["ami-0000000b"]);
        n.take(&["ami-0000000b".into()], Ok(vec![]));
        assert!(matches!(n.gap(), Some(PollEvent::NamesIncomplete { gap: None })), "the gap is closed");
        assert!(n.gap().is_none(), "and said once");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(n.wanted(&l(tasks.clone()), false).is_empty(), "nothing left to ask");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_ami_whose_tasks_left_the_listing_is_not_waited_for() {
        let mut n = Namer::new(Schedule::default());
        assert_eq!(n.wanted(&l([t("ami-0000000a")]), false).len(), 1);
        let err = super::super::FetchError::new(ErrorKind::Timeout, "slow");
        n.take(&["ami-0000000a".into()], Err(err));
        assert!(matches!(n.gap(), Some(PollEvent::NamesIncomplete { gap: Some(_) })));
        assert!(n.wanted(&l([t("ami-0000000b")]), false).len() == 1 && n.failed.is_empty());
    }
}
