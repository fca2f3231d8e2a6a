//! The derived view: grouping per AMI, filters, search and sort over one snapshot.
//!
//! Derived when the data or a filter changes, never per frame, and kept in one place.

use std::collections::HashMap;

use crate::task::{StoreTask, TaskState};

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

    pub fn matches(self, t: &StoreTask) -> bool {
        match self {
            Self::All => true,
            Self::InProgress => t.state == Some(TaskState::InProgress),
            Self::Completed => t.state == Some(TaskState::Completed),
            Self::Failed => t.state == Some(TaskState::Failed),
        }
    }

    pub fn from_state(s: &TaskState) -> Self {
        match s {
            TaskState::InProgress => Self::InProgress,
            TaskState::Completed => Self::Completed,
            TaskState::Failed => Self::Failed,
            TaskState::Other(_) => Self::All,
        }
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
    Bucket,
    State,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Progress => "progress",
            Self::AmiId => "AMI ID",
            Self::Bucket => "bucket",
            Self::State => "state",
        }
    }

    pub fn next(self) -> Self {
        match self {
            Self::Started => Self::Progress,
            Self::Progress => Self::AmiId,
            Self::AmiId => Self::Bucket,
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
    /// Indices of each AMI's latest task (tasks without an AMI ID stand alone).
    latest: Vec<usize>,
    /// Per AMI, its tasks newest first.
    attempts: HashMap<String, Vec<usize>>,
    /// Every bucket with its number of tasks (latest per AMI), sorted by name.
    pub buckets: Vec<(String, usize)>,
    pub buckets_all: Vec<(String, usize)>,
    /// Every region with its number of tasks (latest per AMI), sorted by name.
    pub regions: Vec<(String, usize)>,
    pub regions_all: Vec<(String, usize)>,
}

impl Index {
    pub fn build(tasks: &[StoreTask]) -> Self {
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        // Newest first, so the first task seen of an AMI is its latest.
        order.sort_by(|&a, &b| tasks[b].start_time.cmp(&tasks[a].start_time));
        let mut attempts: HashMap<String, Vec<usize>> = HashMap::new();
        let mut latest = Vec::new();
        for &i in &order {
            match &tasks[i].ami_id {
                Some(id) => {
                    let list = attempts.entry(id.clone()).or_default();
                    if list.is_empty() {
                        latest.push(i);
                    }
                    list.push(i);
                }
                None => latest.push(i),
            }
        }
        let haystack = tasks
            .iter()
            .map(|t| {
                [&t.ami_id, &t.bucket, &t.object_key, &t.failure_reason, &t.region]
                    .iter()
                    .filter_map(|f| f.as_deref())
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
                    .to_lowercase()
            })
            .collect();
        let count = |idx: &mut dyn Iterator<Item = usize>, field: fn(&StoreTask) -> Option<&str>| {
            let mut m: HashMap<&str, usize> = HashMap::new();
            for i in idx {
                if let Some(b) = field(&tasks[i]) {
                    *m.entry(b).or_default() += 1;
                }
            }
            let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            v.sort();
            v
        };
        let bucket: fn(&StoreTask) -> Option<&str> = |t| t.bucket.as_deref();
        let region: fn(&StoreTask) -> Option<&str> = |t| t.region.as_deref();
        Self {
            buckets: count(&mut latest.iter().copied(), bucket),
            buckets_all: count(&mut (0..tasks.len()), bucket),
            regions: count(&mut latest.iter().copied(), region),
            regions_all: count(&mut (0..tasks.len()), region),
            haystack,
            latest,
            attempts,
        }
    }

    /// The other tasks of the same AMI, newest first.
    pub fn earlier_attempts(&self, tasks: &[StoreTask], i: usize) -> Vec<usize> {
        tasks[i]
            .ami_id
            .as_ref()
            .and_then(|id| self.attempts.get(id))
            .map(|v| v.iter().copied().filter(|&j| j != i).collect())
            .unwrap_or_default()
    }

    /// How many tasks the AMI of task `i` has.
    pub fn attempt_count(&self, tasks: &[StoreTask], i: usize) -> usize {
        tasks[i].ami_id.as_ref().and_then(|id| self.attempts.get(id)).map_or(1, Vec::len)
    }
}

/// Everything that shapes the visible rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub state: StateFilter,
    pub bucket: Option<String>,
    pub region: Option<String>,
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
pub fn sorted(tasks: &[StoreTask], index: &Index, f: &Filters) -> Vec<usize> {
    let mut rows: Vec<usize> = if f.all_tasks { (0..tasks.len()).collect() } else { index.latest.clone() };
    let newest_first =
        |a: &StoreTask, b: &StoreTask| b.start_time.cmp(&a.start_time).then_with(|| a.ami_id.cmp(&b.ami_id));
    rows.sort_by(|&a, &b| {
        let (x, y) = (&tasks[a], &tasks[b]);
        let primary = match f.sort {
            SortKey::Started => std::cmp::Ordering::Equal,
            SortKey::Progress => x.progress.cmp(&y.progress),
            SortKey::AmiId => x.ami_id.cmp(&y.ami_id),
            SortKey::Bucket => x.bucket.cmp(&y.bucket),
            SortKey::State => x.state.cmp(&y.state),
        };
        let ord = primary.then_with(|| newest_first(x, y));
        if f.reverse { ord.reverse() } else { ord }
    });
    rows
}

/// Applies bucket, search and state filters to sorted rows, counting per state on the way.
pub fn filter(tasks: &[StoreTask], index: &Index, sorted: &[usize], f: &Filters) -> View {
    let mut view = View { rows: Vec::with_capacity(sorted.len()), counts: Counts::default() };
    let mut progress_sum = 0u64;
    for &i in sorted {
        let t = &tasks[i];
        if f.bucket.as_ref().is_some_and(|b| t.bucket.as_ref() != Some(b)) {
            continue;
        }
        if f.region.as_ref().is_some_and(|r| t.region.as_ref() != Some(r)) {
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
            region: None,
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

    fn ids(ts: &[StoreTask], v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| ts[i].ami_id.clone().unwrap()).collect()
    }

    fn run(f: &Filters) -> (Vec<String>, Counts) {
        let ts = tasks();
        let idx = Index::build(&ts);
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
        let ts = tasks();
        let idx = Index::build(&ts);
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
}
