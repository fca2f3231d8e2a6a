//! The derived view: grouping per AMI, filters, search and sort over one snapshot.
//!
//! Derived when the data or a filter changes, never per frame, and kept in one place.

use std::collections::HashMap;

use super::FeedState;
use crate::task::{StoreTask, TaskState};

/// Every feed's tasks, numbered one after the other: task `i` is task `i - offsets[f]` of
/// feed `f`. The view's rows are such numbers, so they point into the feeds' own snapshots
/// and nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Tasks<'a> {
    feeds: &'a [FeedState],
    offsets: &'a [usize],
}

impl<'a> Tasks<'a> {
    /// `offsets` has one entry per feed, where its tasks start, and a last one, the total.
    pub fn new(feeds: &'a [FeedState], offsets: &'a [usize]) -> Self {
        Self { feeds, offsets }
    }

    pub fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The feed of task `i`, and its index in that feed's snapshot.
    pub fn locate(&self, i: usize) -> (usize, usize) {
        let f = self.offsets.partition_point(|&o| o <= i).saturating_sub(1).min(self.feeds.len().saturating_sub(1));
        (f, i - self.offsets[f])
    }

    /// Every task with its number and its feed, in numbering order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, &'a StoreTask)> + 'a {
        let offsets = self.offsets;
        self.feeds
            .iter()
            .enumerate()
            .flat_map(move |(f, feed)| feed.tasks().iter().enumerate().map(move |(n, t)| (offsets[f] + n, f, t)))
    }
}

impl std::ops::Index<usize> for Tasks<'_> {
    type Output = StoreTask;

    fn index(&self, i: usize) -> &StoreTask {
        let (f, local) = self.locate(i);
        &self.feeds[f].tasks()[local]
    }
}

/// The state filter of the dashboard (keys 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    All,
    InProgress,
    Completed,
    Failed,
}

impl StateFilter {
    pub const ALL: [Self; 4] = [Self::All, Self::InProgress, Self::Completed, Self::Failed];

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }

    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The task state this filter shows; `None` for every state. The one mapping between
    /// the two: [`StateFilter::from_state`] is its inverse.
    pub fn state(self) -> Option<TaskState> {
        match self {
            Self::All => None,
            Self::InProgress => Some(TaskState::InProgress),
            Self::Completed => Some(TaskState::Completed),
            Self::Failed => Some(TaskState::Failed),
        }
    }

    pub fn matches(self, t: &StoreTask) -> bool {
        self.state().is_none_or(|s| t.state.as_ref() == Some(&s))
    }

    /// The filter that shows `s`; a state this build does not know shows under All.
    pub fn from_state(s: &TaskState) -> Self {
        Self::ALL.into_iter().find(|f| f.state().as_ref() == Some(s)).unwrap_or(Self::All)
    }
}

/// The sort column (key `o` cycles, `O` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Start time, newest first by default.
    #[default]
    Started,
    Progress,
    AmiId,
    /// The AMI's name (from `DescribeImages`); AMIs without one last.
    Name,
    Bucket,
    State,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Progress => "progress",
            Self::AmiId => "AMI ID",
            Self::Name => "name",
            Self::Bucket => "bucket",
            Self::State => "state",
        }
    }

    pub fn next(self) -> Self {
        match self {
            Self::Started => Self::Progress,
            Self::Progress => Self::AmiId,
            Self::AmiId => Self::Name,
            Self::Name => Self::Bucket,
            Self::Bucket => Self::State,
            Self::State => Self::Started,
        }
    }
}

/// Counts of the tasks a filter would show, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub all: usize,
    pub in_progress: usize,
    pub completed: usize,
    pub failed: usize,
    /// Mean progress of the tasks in progress.
    pub overall_progress: Option<u8>,
}

impl Counts {
    pub fn of(self, f: StateFilter) -> usize {
        match f {
            StateFilter::All => self.all,
            StateFilter::InProgress => self.in_progress,
            StateFilter::Completed => self.completed,
            StateFilter::Failed => self.failed,
        }
    }
}

/// What does not change until the next snapshot: the grouping per AMI and search text.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Per task: everything a search looks at, lowercased once.
    haystack: Vec<String>,
    /// Numbers of each AMI's latest task (tasks without an AMI ID stand alone).
    latest: Vec<usize>,
    /// Per feed and AMI, its tasks newest first.
    attempts: HashMap<(usize, String), Vec<usize>>,
    /// Every bucket with its number of tasks (latest per AMI), sorted by name.
    pub buckets: Vec<(String, usize)>,
    pub buckets_all: Vec<(String, usize)>,
    /// Every feed (by position) with its number of tasks (latest per AMI), in feed order.
    pub feeds: Vec<(usize, usize)>,
    pub feeds_all: Vec<(usize, usize)>,
    /// Per task, its AMI's name, when `DescribeImages` gave one.
    pub names: Vec<Option<String>>,
    /// The longest name, in cells (0: no names, no column).
    pub longest_name: usize,
}

impl Index {
    pub fn build(tasks: &Tasks<'_>, feeds: &[FeedState]) -> Self {
        let all: Vec<(usize, usize, &StoreTask)> = tasks.iter().collect();
        let mut order: Vec<usize> = (0..all.len()).collect();
        // Newest first, so the first task seen of an AMI is its latest.
        order.sort_by(|&a, &b| all[b].2.start_time.cmp(&all[a].2.start_time));
        let mut attempts: HashMap<(usize, String), Vec<usize>> = HashMap::new();
        let mut latest = Vec::new();
        for &i in &order {
            let (n, f, t) = all[i];
            match &t.ami_id {
                Some(id) => {
                    let list = attempts.entry((f, id.clone())).or_default();
                    if list.is_empty() {
                        latest.push(n);
                    }
                    list.push(n);
                }
                None => latest.push(n),
            }
        }
        let labels: Vec<String> = match feeds.len() {
            1 => vec![String::new()],
            _ => feeds.iter().map(|f| f.info.label()).collect(),
        };
        let names: Vec<Option<String>> =
            all.iter().map(|(_, f, t)| feeds[*f].names.get(t.ami_id.as_deref()?)?.name().map(str::to_string)).collect();
        let longest_name = names.iter().flatten().map(|n| crate::text::width(n)).max().unwrap_or(0);
        // The full label is searched, so a search for the account or profile finds its rows.
        let haystack = all
            .iter()
            .zip(&names)
            .map(|((_, f, t), name)| {
                [t.ami_id.as_deref(), t.bucket.as_deref(), t.object_key.as_deref(), t.failure_reason.as_deref()]
                    .into_iter()
                    .chain(std::iter::once(name.as_deref()))
                    .flatten()
                    .chain(std::iter::once(labels[*f].as_str()))
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
                    .to_lowercase()
            })
            .collect();
        let buckets = |idx: &mut dyn Iterator<Item = usize>| {
            let mut m: HashMap<&str, usize> = HashMap::new();
            for i in idx {
                if let Some(b) = all[i].2.bucket.as_deref() {
                    *m.entry(b).or_default() += 1;
                }
            }
            let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            v.sort();
            v
        };
        let per_feed = |idx: &mut dyn Iterator<Item = usize>| {
            let mut counts = vec![0usize; feeds.len()];
            for i in idx {
                counts[all[i].1] += 1;
            }
            counts.into_iter().enumerate().collect::<Vec<_>>()
        };
        Self {
            buckets: buckets(&mut latest.iter().copied()),
            buckets_all: buckets(&mut (0..all.len())),
            feeds: per_feed(&mut latest.iter().copied()),
            feeds_all: per_feed(&mut (0..all.len())),
            haystack,
            latest,
            attempts,
            names,
            longest_name,
        }
    }

    fn group(&self, tasks: &Tasks<'_>, i: usize) -> Option<&Vec<usize>> {
        let id = tasks[i].ami_id.as_ref()?;
        self.attempts.get(&(tasks.locate(i).0, id.clone()))
    }

    /// The other tasks of the same AMI in the same feed, newest first.
    pub fn earlier_attempts(&self, tasks: &Tasks<'_>, i: usize) -> Vec<usize> {
        self.group(tasks, i).map(|v| v.iter().copied().filter(|&j| j != i).collect()).unwrap_or_default()
    }

    /// How many tasks the AMI of task `i` has.
    pub fn attempt_count(&self, tasks: &Tasks<'_>, i: usize) -> usize {
        self.group(tasks, i).map_or(1, Vec::len)
    }
}

/// Everything that shapes the visible rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub state: StateFilter,
    pub bucket: Option<String>,
    /// A feed, by position.
    pub feed: Option<usize>,
    /// Lowercased search text.
    pub search: String,
    pub sort: SortKey,
    pub reverse: bool,
    /// Every task instead of the latest per AMI.
    pub all_tasks: bool,
}

/// The visible rows and the counts beside them.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Indices into the snapshot's tasks, in display order.
    pub rows: Vec<usize>,
    pub counts: Counts,
}

/// Sorts the grouping by the chosen column; ties keep newest first, then AMI ID.
pub fn sorted(tasks: &Tasks<'_>, index: &Index, f: &Filters) -> Vec<usize> {
    let mut rows: Vec<usize> = if f.all_tasks { (0..tasks.len()).collect() } else { index.latest.clone() };
    let newest_first =
        |a: &StoreTask, b: &StoreTask| b.start_time.cmp(&a.start_time).then_with(|| a.ami_id.cmp(&b.ami_id));
    rows.sort_by(|&a, &b| {
        let (x, y) = (&tasks[a], &tasks[b]);
        let primary = match f.sort {
            SortKey::Started => std::cmp::Ordering::Equal,
            SortKey::Progress => x.progress.cmp(&y.progress),
            SortKey::AmiId => x.ami_id.cmp(&y.ami_id),
            // Named AMIs first, A-Z; those without a name after them.
            SortKey::Name => match (&index.names[a], &index.names[b]) {
                (Some(p), Some(q)) => p.cmp(q),
                (p, q) => q.is_some().cmp(&p.is_some()),
            },
            SortKey::Bucket => x.bucket.cmp(&y.bucket),
            SortKey::State => x.state.cmp(&y.state),
        };
        let ord = primary.then_with(|| newest_first(x, y));
        if f.reverse { ord.reverse() } else { ord }
    });
    rows
}

/// Applies bucket, search and state filters to sorted rows, counting per state on the way.
pub fn filter(tasks: &Tasks<'_>, index: &Index, sorted: &[usize], f: &Filters) -> View {
    let mut view = View { rows: Vec::with_capacity(sorted.len()), counts: Counts::default() };
    let mut progress_sum = 0u64;
    for &i in sorted {
        let t = &tasks[i];
        if f.bucket.as_ref().is_some_and(|b| t.bucket.as_ref() != Some(b)) {
            continue;
        }
        if f.feed.is_some_and(|feed| tasks.locate(i).0 != feed) {
            continue;
        }
        if !f.search.is_empty() && !index.haystack[i].contains(&f.search) {
            continue;
        }
        let c = &mut view.counts;
        c.all += 1;
        match t.state {
            Some(TaskState::InProgress) => {
                c.in_progress += 1;
                progress_sum += u64::from(t.progress.unwrap_or(0));
            }
            Some(TaskState::Completed) => c.completed += 1,
            Some(TaskState::Failed) => c.failed += 1,
            _ => {}
        }
        if f.state.matches(t) {
            view.rows.push(i);
        }
    }
    if view.counts.in_progress > 0 {
        view.counts.overall_progress = Some((progress_sum / view.counts.in_progress as u64) as u8);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};

    fn t(ami: &str, mins_ago: i64, bucket: &str, state: TaskState, progress: u8) -> StoreTask {
        let base = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc();
        StoreTask {
            ami_id: Some(ami.into()),
            start_time: Some(base - Duration::minutes(mins_ago)),
            bucket: Some(bucket.into()),
            object_key: Some(format!("{ami}.bin")),
            progress: Some(progress),
            state: Some(state),
            failure_reason: (progress == 13).then(|| "Access Denied".into()),
        }
    }

    fn tasks() -> Vec<StoreTask> {
        vec![
            t("ami-00000001", 10, "alpha", TaskState::InProgress, 40),
            t("ami-00000002", 20, "beta", TaskState::Completed, 100),
            t("ami-00000003", 30, "alpha", TaskState::Failed, 13),
            t("ami-00000001", 90, "alpha", TaskState::Failed, 13), // an earlier attempt
            t("ami-00000004", 5, "beta", TaskState::InProgress, 60),
        ]
    }

    /// Feeds holding these task lists, and their offsets.
    fn feeds(lists: Vec<Vec<StoreTask>>) -> (Vec<FeedState>, Vec<usize>) {
        let mut offsets = vec![0];
        let feeds = lists
            .into_iter()
            .enumerate()
            .map(|(n, tasks)| {
                offsets.push(offsets[n] + tasks.len());
                let info = crate::ec2::FeedInfo { region: Some(format!("region-{n}")), ..Default::default() };
                let snapshot = crate::ec2::Snapshot { tasks, fetched_at: chrono::Utc::now(), next_token: None };
                FeedState { snapshot: Some(std::sync::Arc::new(snapshot)), ..FeedState::new(info.into()) }
            })
            .collect();
        (feeds, offsets)
    }

    fn ids(ts: &Tasks<'_>, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| ts[i].ami_id.clone().unwrap()).collect()
    }

    fn run(f: &Filters) -> (Vec<String>, Counts) {
        let (feeds, offsets) = feeds(vec![tasks()]);
        let ts = Tasks::new(&feeds, &offsets);
        let idx = Index::build(&ts, &feeds);
        let s = sorted(&ts, &idx, f);
        let v = filter(&ts, &idx, &s, f);
        (ids(&ts, &v.rows), v.counts)
    }

    #[test]
    fn latest_per_ami_newest_first_by_default() {
        let (rows, counts) = run(&Filters::default());
        assert_eq!(rows, ["ami-00000004", "ami-00000001", "ami-00000002", "ami-00000003"]);
        assert_eq!((counts.all, counts.in_progress, counts.completed, counts.failed), (4, 2, 1, 1));
        assert_eq!(counts.overall_progress, Some(50));
    }

    #[test]
    fn all_tasks_shows_earlier_attempts() {
        let (rows, _) = run(&Filters { all_tasks: true, ..Filters::default() });
        assert_eq!(rows.len(), 5);
        let (feeds, offsets) = feeds(vec![tasks()]);
        let ts = Tasks::new(&feeds, &offsets);
        let idx = Index::build(&ts, &feeds);
        assert_eq!(idx.earlier_attempts(&ts, 0), vec![3]);
        assert_eq!(idx.attempt_count(&ts, 0), 2);
        assert_eq!(idx.buckets, vec![("alpha".into(), 2), ("beta".into(), 2)]);
    }

    #[test]
    fn state_bucket_and_search_filters_combine() {
        let (rows, counts) = run(&Filters { state: StateFilter::InProgress, ..Filters::default() });
        assert_eq!(rows, ["ami-00000004", "ami-00000001"]);
        assert_eq!(counts.all, 4, "counts ignore the state filter so the summary shows every tab");
        let (rows, _) = run(&Filters { bucket: Some("alpha".into()), ..Filters::default() });
        assert_eq!(rows, ["ami-00000001", "ami-00000003"]);
        let (rows, counts) = run(&Filters { search: "access denied".into(), ..Filters::default() });
        assert_eq!(rows, ["ami-00000003"]);
        assert_eq!(counts.all, 1);
        let (rows, _) = run(&Filters { search: "beta".into(), state: StateFilter::Completed, ..Filters::default() });
        assert_eq!(rows, ["ami-00000002"]);
    }

    #[test]
    fn sort_columns_and_reverse() {
        let (rows, _) = run(&Filters { sort: SortKey::Progress, ..Filters::default() });
        assert_eq!(rows, ["ami-00000003", "ami-00000001", "ami-00000004", "ami-00000002"]);
        let (rows, _) = run(&Filters { sort: SortKey::Progress, reverse: true, ..Filters::default() });
        assert_eq!(rows, ["ami-00000002", "ami-00000004", "ami-00000001", "ami-00000003"]);
        let (rows, _) = run(&Filters { sort: SortKey::AmiId, ..Filters::default() });
        assert_eq!(rows, ["ami-00000001", "ami-00000002", "ami-00000003", "ami-00000004"]);
        let (rows, _) = run(&Filters { reverse: true, ..Filters::default() });
        assert_eq!(rows[0], "ami-00000003", "reversed start order is oldest first");
    }

    #[test]
    fn state_filter_cycles_through_all_four() {
        let mut f = StateFilter::All;
        let mut seen = vec![];
        for _ in 0..4 {
            f = f.next();
            seen.push(f);
        }
        assert_eq!(seen, [StateFilter::InProgress, StateFilter::Completed, StateFilter::Failed, StateFilter::All]);
    }

    #[test]
    fn rows_point_into_each_feed_and_attempts_stay_within_a_feed() {
        // The same AMI ID in two feeds is two AMIs (two accounts or regions).
        let a = vec![t("ami-00000001", 10, "alpha", TaskState::InProgress, 40)];
        let b = vec![
            t("ami-00000001", 20, "beta", TaskState::Completed, 100),
            t("ami-00000002", 5, "beta", TaskState::Failed, 13),
        ];
        let (feeds, offsets) = feeds(vec![a, b]);
        let ts = Tasks::new(&feeds, &offsets);
        assert_eq!(ts.len(), 3);
        assert_eq!((ts.locate(0), ts.locate(1), ts.locate(2)), ((0, 0), (1, 0), (1, 1)));
        assert_eq!(ts[1].bucket.as_deref(), Some("beta"));
        let idx = Index::build(&ts, &feeds);
        assert_eq!(idx.attempt_count(&ts, 0), 1, "not grouped with the other feed's AMI");
        assert_eq!(idx.feeds, vec![(0, 1), (1, 2)]);
        let f = Filters { feed: Some(1), ..Filters::default() };
        let v = filter(&ts, &idx, &sorted(&ts, &idx, &f), &f);
        assert_eq!(v.rows, vec![2, 1], "only the second feed, newest first");
        let f = Filters { search: "region-0".into(), ..Filters::default() };
        let v = filter(&ts, &idx, &sorted(&ts, &idx, &f), &f);
        assert_eq!(v.rows, vec![0], "search matches the feed's name");
    }

    #[test]
    fn state_filter_and_task_state_map_both_ways() {
        for f in StateFilter::ALL {
            match f.state() {
                Some(s) => assert_eq!(StateFilter::from_state(&s), f),
                None => assert_eq!(f, StateFilter::All),
            }
        }
        assert_eq!(StateFilter::from_state(&TaskState::Other("Paused".into())), StateFilter::All);
    }
}
