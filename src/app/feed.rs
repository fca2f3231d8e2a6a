//! One feed's data and what is derived from it, built once when its snapshot or its names
//! arrive, and never again until they change. The dashboard runs the [`Deriver`]s on a worker
//! beside the pollers (`tui`), so the event loop only swaps an `Arc`; the view merges the
//! feeds' parts when it draws ([`super::view`]). A change in one feed costs that feed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ec2::{PollEvent, Snapshot};
use crate::eta::{Estimate, History};
use crate::image::{AmiInfo, Naming};
use crate::task::{StoreTask, TaskKey, TaskState, Tasks};
use crate::throughput::{Plan, TaskPlan, Throughput};

/// What `DescribeImages` said of a feed's AMIs, by AMI ID.
pub type Names = HashMap<Arc<str>, Naming>;

/// A feed's snapshot with everything the view needs of it, derived once.
#[derive(Debug, Clone)]
pub struct FeedData {
    /// This data's number, unique in the process: what [`FeedData::moved_since`] refers to.
    serial: u64,
    /// When this data holds the same tasks as the data it was derived from (numbered so): the
    /// tasks whose progress or state differ from it, by task number.
    moved: Option<(u64, Vec<u32>)>,
    /// The tasks in progress, by task number.
    running: Vec<u32>,
    pub snapshot: Arc<Snapshot>,
    pub names: Arc<Names>,
    /// Progress samples of the tasks in progress, as of this snapshot (the detail pane).
    pub history: Arc<History>,
    /// Which tasks there are and how they group: shared with the last snapshot while its
    /// tasks are the same ones (a fast poll moves percentages, not tasks).
    grouping: Arc<Grouping>,
    /// The tasks' estimates as of the snapshot's fetch, by task number: only tasks in progress
    /// have one, a few of thousands (a list of all was 32 KB a feed, made on every poll).
    estimates: Vec<(u32, Estimate)>,
    /// Tasks in progress (latest per AMI).
    in_progress: usize,
    /// What the names give each task: shared while the names and the tasks stay the same.
    named: Arc<Named>,
    /// The longest name, in cells (the column's width).
    pub longest_name: usize,
    /// Time left from sizes and the feed's throughput ([`crate::throughput`]), as of the snapshot.
    pub plan: Arc<Plan>,
    /// What the AMIs in progress hold of the store quota; `None` until `DescribeImages` has
    /// told any size (without names nothing is known of it).
    pub in_flight: Option<InFlight>,
}

/// What the AMIs being stored hold of a feed's store quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InFlight {
    /// The sum of the known sizes, GB.
    pub gb: u64,
    /// AMIs in progress whose size is not known (deregistered, or not looked up yet).
    pub unknown: usize,
}

impl InFlight {
    /// `340` or `340+` (some size unknown).
    pub fn amount(self) -> String {
        format!("{}{}", self.gb, if self.unknown > 0 { "+" } else { "" })
    }

    /// `340+ of 600 GB in flight`.
    pub fn text(self, quota: u64) -> String {
        format!("{} of {quota} GB in flight", self.amount())
    }

    /// At or over the quota: EC2 refuses new exports now.
    pub fn is_full(self, quota: u64) -> bool {
        self.gb >= quota
    }
}

/// What the names give each task of a snapshot.
#[derive(Debug, Clone, Default)]
struct Named {
    /// Per task, its AMI's details when they give a name (the name sort): shared with the
    /// names map, 8 bytes a task.
    named: Vec<Option<Arc<AmiInfo>>>,
    /// Per task, its AMI's size in GB when `DescribeImages` told it.
    sizes: Vec<Option<u64>>,
    longest_name: usize,
}

/// Which tasks a snapshot has and how they group: AMI, start time and bucket decide it,
/// progress and state do not.
#[derive(Debug, Clone)]
struct Grouping {
    /// Each AMI's latest task (a task without an AMI ID stands alone), newest first.
    latest: Vec<u32>,
    /// Per task, whether it is its AMI's latest (a task without an AMI ID stands alone): a
    /// byte a task, where a lookup by AMI ID (a search comparing IDs), asked for every task in
    /// progress at every poll, was 6-8% of the dashboard's CPU at 340 feeds.
    is_latest: Vec<bool>,
    /// The tasks with an AMI ID, by AMI ID, each AMI's newest first: an AMI's tasks are a
    /// run of it ([`Grouping::attempts`]), 4 bytes a task where a map of lists took a string
    /// and a list an AMI.
    by_ami: Vec<u32>,
    /// Every bucket with its number of tasks (latest per AMI, and all), sorted by name.
    buckets: Vec<(String, usize)>,
    buckets_all: Vec<(String, usize)>,
    longest_bucket: usize,
}

impl FeedData {
    /// Derives everything from a snapshot, its names, and the history that includes it.
    pub fn build(snapshot: Arc<Snapshot>, names: Arc<Names>, history: Arc<History>) -> Self {
        Self::build_with(snapshot, names, history, Arc::new(Plan::default()))
    }

    /// As [`FeedData::build`], with the throughput's plan for this snapshot.
    pub fn build_with(snapshot: Arc<Snapshot>, names: Arc<Names>, history: Arc<History>, plan: Arc<Plan>) -> Self {
        Self::next(None, snapshot, names, history, plan)
    }

    /// The data of the next snapshot: what depends on which tasks there are is taken from
    /// `before` when they are the same tasks in the same order, so a fast poll that moved a
    /// few percentages costs a pass over the tasks, not a regrouping.
    pub fn next(
        before: Option<&FeedData>,
        snapshot: Arc<Snapshot>,
        names: Arc<Names>,
        history: Arc<History>,
        plan: Arc<Plan>,
    ) -> Self {
        let same = before.filter(|b| same_tasks(b.tasks(), &snapshot.tasks));
        let grouping = match same {
            Some(b) => b.grouping.clone(),
            None => Arc::new(Grouping::of(&snapshot.tasks)),
        };
        let named = match same {
            Some(b) if Arc::ptr_eq(&b.names, &names) => b.named.clone(),
            _ => Arc::new(Named::of(&snapshot.tasks, &names)),
        };
        let tasks = &snapshot.tasks;
        let in_progress = |i: &u32| tasks[*i as usize].is_in_progress();
        // After a fast poll, only the tasks in runs it did not share with `before` can differ
        // from `before`'s: what they are is what changed, and the tasks in progress are
        // `before`'s still in progress and those of the changed that are.
        let moved = same.map(|b| {
            let differ = |(i, t): &(usize, &StoreTask)| {
                let a = &b.tasks()[*i];
                a.progress != t.progress || a.state != t.state
            };
            (b.serial, tasks.unshared_with(b.tasks()).filter(differ).map(|(i, _)| i as u32).collect::<Vec<u32>>())
        });
        let running: Vec<u32> = match (same, &moved) {
            (Some(b), Some((_, m))) => {
                let mut r: Vec<u32> = b.running.iter().chain(m).copied().filter(in_progress).collect();
                r.sort_unstable();
                r.dedup();
                r
            }
            _ => (0..tasks.len() as u32).filter(in_progress).collect(),
        };
        let estimates = running
            .iter()
            .filter_map(|&i| Some((i, history.estimate(&tasks[i as usize], snapshot.fetched_at)?)))
            .collect();
        let latest_running: Vec<u32> = running.iter().copied().filter(|&i| grouping.is_latest(i)).collect();
        let in_progress = latest_running.len();
        let in_flight = (!names.is_empty()).then(|| {
            let mut f = InFlight::default();
            for &i in &latest_running {
                match named.sizes.get(i as usize).copied().flatten() {
                    Some(gb) => f.gb += gb,
                    None => f.unknown += 1,
                }
            }
            f
        });
        let longest_name = named.longest_name;
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            serial,
            moved,
            running,
            snapshot,
            names,
            history,
            grouping,
            estimates,
            in_progress,
            named,
            longest_name,
            plan,
            in_flight,
        }
    }

    /// Whether `other` holds the same tasks in the same order, grouped and named the same (its
    /// progress and states may differ): a view's rows made of one are the rows of the other
    /// for any order that neither progress nor state decides.
    pub fn same_rows_as(&self, other: &FeedData) -> bool {
        Arc::ptr_eq(&self.grouping, &other.grouping) && Arc::ptr_eq(&self.named, &other.named)
    }

    /// When this data holds the same tasks as `before`, the data it was derived from: the
    /// tasks whose progress or state differ (a fast poll's few); `None` otherwise.
    pub fn moved_since(&self, before: &FeedData) -> Option<&[u32]> {
        self.moved.as_ref().filter(|(s, _)| *s == before.serial).map(|(_, m)| m.as_slice())
    }

    /// The tasks in progress, by task number.
    pub fn running(&self) -> &[u32] {
        &self.running
    }

    /// Whether task `i` is its AMI's latest (a task without an AMI ID stands alone).
    pub fn is_latest(&self, i: u32) -> bool {
        self.grouping.is_latest(i)
    }

    /// The same snapshot with other names (and the plan they give): only what names decide is
    /// derived again.
    pub fn renamed(&self, names: Arc<Names>, plan: Arc<Plan>) -> Self {
        Self::next(Some(self), self.snapshot.clone(), names, self.history.clone(), plan)
    }

    /// The size in GB of task `i`'s AMI, when known.
    pub fn size(&self, i: u32) -> Option<u64> {
        self.named.sizes.get(i as usize).copied().flatten()
    }

    /// Task `i`'s place in the throughput's plan (when it starts moving, when it ends).
    pub fn task_plan(&self, i: u32) -> Option<TaskPlan> {
        let t = self.tasks().get(i as usize)?;
        if self.plan.tasks.is_empty() || !t.is_in_progress() {
            return None;
        }
        self.plan.tasks.get(&t.key()).copied()
    }

    /// Every bucket with its number of tasks: latest per AMI, or `all` of them.
    pub fn buckets(&self, all: bool) -> &[(String, usize)] {
        if all { &self.grouping.buckets_all } else { &self.grouping.buckets }
    }

    /// The longest bucket name, in cells.
    pub fn longest_bucket(&self) -> usize {
        self.grouping.longest_bucket
    }

    /// Tasks in progress (latest per AMI).
    pub fn in_progress(&self) -> usize {
        self.in_progress
    }

    pub fn tasks(&self) -> &Tasks {
        &self.snapshot.tasks
    }

    /// Each AMI's latest task, newest first.
    pub fn latest(&self) -> &[u32] {
        &self.grouping.latest
    }

    pub fn estimate(&self, i: u32) -> Option<Estimate> {
        let at = self.estimates.binary_search_by_key(&i, |e| e.0).ok()?;
        Some(self.estimates[at].1)
    }

    /// The name of task `i`'s AMI, for sorting (which ignores case: [`super::view::cmp_folded`]).
    pub fn name_key(&self, i: u32) -> Option<&str> {
        self.named.named.get(i as usize)?.as_ref()?.name.as_deref()
    }

    pub fn naming(&self, i: u32) -> Option<&Naming> {
        self.names.get(self.tasks().get(i as usize)?.ami_id.as_deref()?)
    }

    /// Every task of task `i`'s AMI, newest first (none for a task without an AMI ID).
    pub fn attempts(&self, i: u32) -> &[u32] {
        let ami = self.tasks().get(i as usize).and_then(|t| t.ami_id.as_deref());
        ami.map_or(&[], |a| self.grouping.attempts(self.tasks(), a))
    }

    /// The task an identity names now: the same task, or with `latest`, its AMI's latest.
    pub fn find(&self, key: &TaskKey, latest: bool) -> Option<u32> {
        let tasks = self.tasks();
        match &key.ami_id {
            Some(ami) => {
                let list = self.grouping.attempts(tasks, ami);
                match latest {
                    true => list.first().copied(),
                    false => list.iter().copied().find(|&i| tasks[i as usize].start_time == key.start_time),
                }
            }
            None => (0..tasks.len() as u32).find(|&i| tasks[i as usize].has_key(key)),
        }
    }

    /// When task `i` should be done: from sizes and the feed's throughput when its size is
    /// known and the throughput measured, else from its own progress ([`FeedData::estimate`]).
    pub fn done_at(&self, i: u32) -> Option<DateTime<Utc>> {
        if let Some(p) = self.task_plan(i) {
            let ms = (p.done_in_min * 60_000.0).round() as i64;
            return Some(self.snapshot.fetched_at + chrono::Duration::milliseconds(ms));
        }
        Some(self.snapshot.fetched_at + self.estimate(i)?.left)
    }
}

/// Whether two snapshots hold the same tasks in the same order (progress and state aside):
/// what [`Grouping`] and [`Named`] stand on. Only the tasks of runs they do not share are
/// compared (a fast poll's few).
fn same_tasks(before: &Tasks, now: &Tasks) -> bool {
    let same = |(i, b): (usize, &StoreTask)| {
        let a = &before[i];
        a.start_time == b.start_time && a.ami_id == b.ami_id && a.bucket == b.bucket
    };
    before.len() == now.len() && now.unshared_with(before).all(same)
}

impl Named {
    fn of(tasks: &Tasks, names: &Names) -> Self {
        if names.is_empty() {
            return Self::default();
        }
        let info = |t: &StoreTask| match names.get(t.ami_id.as_deref()?)? {
            Naming::Known(info) if info.name.is_some() => Some(info.clone()),
            _ => None,
        };
        let named: Vec<Option<Arc<AmiInfo>>> = tasks.iter().map(info).collect();
        let longest_name = named.iter().flatten().filter_map(|i| i.name.as_deref()).map(crate::text::width).max();
        let sizes = tasks.iter().map(|t| size_of(names, t)).collect();
        Self { named, sizes, longest_name: longest_name.unwrap_or(0) }
    }
}

impl Grouping {
    fn of(tasks: &Tasks) -> Self {
        let mut order: Vec<u32> = (0..tasks.len() as u32).collect();
        // Newest first, then by AMI ID: the first task seen of an AMI is its latest, and the
        // order is the default sort's, so that sort costs nothing.
        order.sort_by(|&a, &b| newest_first(&tasks[a as usize], &tasks[b as usize]).then(a.cmp(&b)));
        let ami = |i: u32| tasks[i as usize].ami_id.as_deref();
        let mut by_ami: Vec<u32> = order.iter().copied().filter(|&i| ami(i).is_some()).collect();
        // Stable: each AMI's tasks stay newest first.
        by_ami.sort_by(|&a, &b| ami(a).cmp(&ami(b)));
        let mut is_latest = vec![true; tasks.len()];
        for (n, &i) in by_ami.iter().enumerate() {
            is_latest[i as usize] = n == 0 || ami(by_ami[n - 1]) != ami(i);
        }
        let latest: Vec<u32> = order.iter().copied().filter(|&i| is_latest[i as usize]).collect();
        let longest_bucket =
            tasks.iter().filter_map(|t| t.bucket.as_deref()).map(crate::text::width).max().unwrap_or(0);
        let buckets = bucket_counts(latest.iter().map(|&i| &tasks[i as usize]));
        let buckets_all = bucket_counts(tasks.iter());
        Self { latest, is_latest, by_ami, buckets, buckets_all, longest_bucket }
    }

    /// Whether task `i` is its AMI's latest (a task without an AMI ID stands alone).
    fn is_latest(&self, i: u32) -> bool {
        self.is_latest.get(i as usize).copied().unwrap_or(true)
    }

    /// Every task of AMI `ami`, newest first.
    fn attempts(&self, tasks: &Tasks, ami: &str) -> &[u32] {
        let of = |i: &u32| tasks[*i as usize].ami_id.as_deref().unwrap_or_default();
        let from = self.by_ami.partition_point(|i| of(i) < ami);
        let to = from + self.by_ami[from..].partition_point(|i| of(i) == ami);
        &self.by_ami[from..to]
    }
}

/// Newest first, then by AMI ID: the default order, and every sort's tie-break.
pub fn newest_first(a: &StoreTask, b: &StoreTask) -> std::cmp::Ordering {
    b.start_time.cmp(&a.start_time).then_with(|| a.ami_id.cmp(&b.ami_id))
}

fn bucket_counts<'a>(tasks: impl Iterator<Item = &'a StoreTask>) -> Vec<(String, usize)> {
    let mut m: HashMap<&str, usize> = HashMap::new();
    for t in tasks {
        if let Some(b) = t.bucket.as_deref() {
            *m.entry(b).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort();
    v
}

/// What a poll said of the schedule, with a new snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub next_in: Duration,
    pub slowed: bool,
    /// Requests the poll made.
    pub requests: u32,
}

/// A feed's event, after derivation: what the dashboard applies.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// New data: a snapshot (with `polled`) or new names (without). `ended` are the tasks
    /// that were in progress before and have ended now, for toasts and notifications.
    Data { data: Arc<FeedData>, polled: Option<Polled>, ended: Vec<u32> },
    /// Anything else the poller says (polling, a failure, names unavailable), as it said it.
    Status(PollEvent),
}

/// Turns one feed's poller events into [`FeedEvent`]s: keeps its time-left history and its
/// names across snapshots, and derives a new [`FeedData`] when either changes. Events are taken
/// in ([`Deriver::take`]) and derived when asked ([`Deriver::flush`]), so a burst (many name
/// lookups answering one after another) costs one derivation, not one each.
#[derive(Debug, Clone, Default)]
pub struct Deriver {
    /// The store quota the plan of queued tasks assumes (`--store-quota`), if any.
    pub quota_gb: Option<u64>,
    history: History,
    throughput: Throughput,
    names: Arc<Names>,
    data: Option<Arc<FeedData>>,
    /// A snapshot taken in and not derived yet, with what its poll said.
    pending: Option<(Arc<Snapshot>, Polled)>,
    /// Names changed since the last derivation.
    renamed: bool,
}

impl Deriver {
    /// A deriver whose plan of queued tasks assumes this store quota (GB).
    pub fn with_quota(gb: u64) -> Self {
        Self { quota_gb: Some(gb), ..Self::default() }
    }

    /// Takes one event in. What is not data passes straight through; data waits for
    /// [`Deriver::flush`].
    pub fn take(&mut self, event: PollEvent) -> Option<FeedEvent> {
        match event {
            PollEvent::Snapshot { snapshot, next_in, slowed, requests } => {
                self.history.record(&snapshot.tasks, snapshot.fetched_at);
                let names = &self.names;
                self.throughput.record(&snapshot.tasks, snapshot.fetched_at, |t| size_of(names, t));
                // Polls a burst took in at once count together; the newest snapshot stands.
                let requests = requests + self.pending.as_ref().map_or(0, |(_, p)| p.requests);
                self.pending = Some((snapshot, Polled { next_in, slowed, requests }));
                None
            }
            PollEvent::Names { found, missing } => {
                let names = Arc::make_mut(&mut self.names);
                for info in found {
                    names.insert(info.id.clone(), Naming::of(info));
                }
                for id in missing {
                    names.insert(id.into(), Naming::Deregistered);
                }
                self.renamed = true;
                None
            }
            other => Some(FeedEvent::Status(other)),
        }
    }

    /// Whether a snapshot waits to be derived (names alone can wait a little longer).
    pub fn has_snapshot(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether anything waits to be derived.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some() || (self.renamed && self.data.is_some())
    }

    /// Derives what was taken in: new data, or `None` when nothing changed.
    pub fn flush(&mut self) -> Option<FeedEvent> {
        let names_changed = std::mem::take(&mut self.renamed);
        let data = match (self.pending.take(), &self.data) {
            (Some((snapshot, polled)), before) => {
                let ended = before.as_ref().map_or_else(Vec::new, |b| endings(b, &snapshot.tasks));
                let history = Arc::new(self.history.clone());
                let plan = self.plan(&snapshot);
                let data = Arc::new(FeedData::next(before.as_deref(), snapshot, self.names.clone(), history, plan));
                return Some(self.publish(data, Some(polled), ended));
            }
            // New names for the same snapshot: only what names decide is derived again.
            (None, Some(before)) if names_changed => {
                Arc::new(before.renamed(self.names.clone(), self.plan(&before.snapshot)))
            }
            // Names before any snapshot are kept for the first one.
            _ => return None,
        };
        Some(self.publish(data, None, Vec::new()))
    }

    /// The throughput's plan for this snapshot, with the sizes the names give.
    fn plan(&self, snapshot: &Snapshot) -> Arc<Plan> {
        let names = &self.names;
        Arc::new(self.throughput.plan(&snapshot.tasks, self.quota_gb, |t| size_of(names, t)))
    }

    fn publish(&mut self, data: Arc<FeedData>, polled: Option<Polled>, ended: Vec<u32>) -> FeedEvent {
        self.data = Some(data.clone());
        FeedEvent::Data { data, polled, ended }
    }

    /// Takes one event in and derives at once: the inline path of tests and tools.
    pub fn apply(&mut self, event: PollEvent) -> Option<FeedEvent> {
        match self.take(event) {
            Some(status) => Some(status),
            None => self.flush(),
        }
    }
}

/// The size in GB of a task's AMI, when `DescribeImages` told it.
fn size_of(names: &Names, t: &StoreTask) -> Option<u64> {
    match names.get(t.ami_id.as_deref()?)? {
        Naming::Known(info) => info.size_gib(),
        Naming::Deregistered => None,
    }
}

/// The tasks of `now` that were in progress in `before` and have ended.
fn endings(before: &FeedData, now: &Tasks) -> Vec<u32> {
    let ended = |t: &StoreTask| t.state.as_ref().is_some_and(TaskState::is_final);
    // The same tasks in the same places (a fast poll): those `before` had in progress.
    if same_tasks(before.tasks(), now) {
        return before.running.iter().copied().filter(|&i| ended(&now[i as usize])).collect();
    }
    let before = before.tasks();
    // By AMI ID and start time, borrowed: a feed has thousands of ended tasks and a few running.
    let running: std::collections::HashSet<(Option<&str>, Option<DateTime<Utc>>)> =
        before.iter().filter(|t| t.is_in_progress()).map(|t| (t.ami_id.as_deref(), t.start_time)).collect();
    if running.is_empty() {
        return Vec::new();
    }
    // Their start times rule out nearly every ended task before a lookup.
    let mut starts: Vec<Option<DateTime<Utc>>> = running.iter().map(|k| k.1).collect();
    starts.sort_unstable();
    let was_running = |t: &StoreTask| {
        starts.binary_search(&t.start_time).is_ok() && running.contains(&(t.ami_id.as_deref(), t.start_time))
    };
    (0..now.len() as u32).filter(|&i| ended(&now[i as usize]) && was_running(&now[i as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::AmiInfo;

    fn snapshot(n: usize) -> PollEvent {
        let tasks: Vec<_> =
            (0..n).map(|i| StoreTask { ami_id: Some(format!("ami-{i:08x}").into()), ..StoreTask::default() }).collect();
        let snapshot = Arc::new(Snapshot { tasks: tasks.into(), fetched_at: chrono::Utc::now(), next_token: None });
        PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 }
    }

    fn names(i: usize) -> PollEvent {
        let info = AmiInfo { id: format!("ami-{i:08x}").into(), name: Some(format!("Name-{i}")), ..AmiInfo::default() };
        PollEvent::Names { found: vec![Arc::new(info)], missing: Vec::new() }
    }

    #[test]
    fn a_burst_of_names_is_one_derivation_that_keeps_the_grouping() {
        let mut d = Deriver::default();
        let Some(FeedEvent::Data { data: first, .. }) = d.apply(snapshot(50)) else { panic!("data") };
        for i in 0..30 {
            assert!(d.take(names(i)).is_none(), "names wait for the flush");
        }
        let Some(FeedEvent::Data { data, polled, .. }) = d.flush() else { panic!("one derivation") };
        assert!(polled.is_none(), "names are not a poll");
        assert!(d.flush().is_none(), "nothing more to derive");
        assert_eq!(data.names.len(), 30);
        assert_eq!(data.name_key(3), Some("Name-3"), "the name, for the sort");
        assert!(Arc::ptr_eq(&data.grouping, &first.grouping), "the snapshot's grouping is shared, not rebuilt");
    }

    /// What a feed's data says, everything the view reads of it.
    fn observed(d: &FeedData) -> impl PartialEq + std::fmt::Debug {
        let n = d.tasks().len() as u32;
        (
            d.latest().to_vec(),
            d.in_progress(),
            d.buckets(true).to_vec(),
            d.buckets(false).to_vec(),
            (0..n)
                .map(|i| (d.estimate(i), d.name_key(i).map(str::to_string), d.size(i), d.attempts(i).to_vec()))
                .collect::<Vec<_>>(),
            d.in_flight,
            d.longest_name,
            d.longest_bucket(),
        )
    }

    proptest::proptest! {
        /// A snapshot derived from the one before it (sharing what its tasks decide) says the
        /// same as one derived from scratch, whether its tasks moved on, changed or not.
        #[test]
        fn the_next_snapshot_derived_from_the_last_equals_a_fresh_one(
            amis in proptest::collection::vec((0u8..6, 0i64..5, 0u8..3), 0..12),
            moved in proptest::collection::vec((0u8..=100, 0u8..3), 12),
            same in proptest::bool::ANY,
        ) {
            let base = chrono::DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc();
            let state = |s: u8| [TaskState::InProgress, TaskState::Completed, TaskState::Failed][usize::from(s)].clone();
            let first: Vec<StoreTask> = amis
                .iter()
                .map(|&(a, m, b)| StoreTask {
                    ami_id: Some(format!("ami-{a:08x}").into()),
                    start_time: Some(base - chrono::Duration::minutes(m)),
                    bucket: Some(format!("b{b}").into()),
                    progress: Some(10),
                    state: Some(TaskState::InProgress),
                    ..StoreTask::default()
                })
                .collect();
            let mut second = first.clone();
            for (t, &(p, s)) in second.iter_mut().zip(&moved) {
                t.progress = Some(p);
                t.state = Some(state(s));
            }
            if !same {
                second.reverse();
            }
            let names: Arc<Names> = Arc::new(
                (0..3u8)
                    .map(|a| {
                        let info = AmiInfo { id: format!("ami-{a:08x}").into(), name: Some(format!("N{a}")), ..AmiInfo::default() };
                        (info.id.clone(), Naming::Known(Arc::new(info)))
                    })
                    .collect(),
            );
            let snap = |tasks: Vec<StoreTask>, secs| Arc::new(Snapshot { tasks: tasks.into(), fetched_at: base + chrono::Duration::seconds(secs), next_token: None });
            let mut history = History::default();
            let (s1, s2) = (snap(first, 0), snap(second, 60));
            history.record(&s1.tasks, s1.fetched_at);
            let one = FeedData::next(None, s1, names.clone(), Arc::new(history.clone()), Arc::default());
            history.record(&s2.tasks, s2.fetched_at);
            let h = Arc::new(history);
            let chained = FeedData::next(Some(&one), s2.clone(), names.clone(), h.clone(), Arc::default());
            let fresh = FeedData::next(None, s2, names, h, Arc::default());
            proptest::prop_assert_eq!(observed(&chained), observed(&fresh));
            if same {
                proptest::prop_assert!(Arc::ptr_eq(&chained.grouping, &one.grouping), "the same tasks share their grouping");
            }
        }
    }

    #[test]
    fn names_before_any_snapshot_wait_for_it_and_polls_in_a_burst_count_together() {
        let mut d = Deriver::default();
        assert!(d.take(names(1)).is_none());
        assert!(d.flush().is_none(), "no snapshot yet: nothing to show");
        d.take(snapshot(5));
        d.take(snapshot(5));
        let Some(FeedEvent::Data { data, polled, .. }) = d.flush() else { panic!("data") };
        assert_eq!(polled.map(|p| p.requests), Some(2), "both polls' requests are counted");
        assert_eq!(data.naming(1).and_then(Naming::name), Some("Name-1"));
    }
}
