//! The derived view: filters, search and sort over every feed's data.
//!
//! Each feed's share of the view (a [`Part`]: its rows for the filters, sorted, and its counts)
//! is made from that feed's [`FeedData`] alone, and made again only when that feed's data or
//! the filters change. The flat view is the merge of the parts' sorted runs, by one total order
//! ([`compare`]), so a change in one feed merges one run into the rest.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::feed::{FeedData, newest_first};
use crate::task::{StoreTask, TaskState};

/// A task of the view: feed `feed`'s task number `task` in that feed's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RowRef {
    pub feed: u32,
    pub task: u32,
}

impl RowRef {
    pub fn new(feed: usize, task: u32) -> Self {
        Self { feed: feed as u32, task }
    }

    pub fn feed(self) -> usize {
        self.feed as usize
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
    /// An export plan's AMIs not started yet (`amiwatch export`); its tab shows only then.
    Queued,
}

impl StateFilter {
    pub const ALL: [Self; 5] = [Self::All, Self::InProgress, Self::Completed, Self::Failed, Self::Queued];

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::InProgress => "In progress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Queued => "Queued",
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
            Self::Queued => Some(TaskState::Queued),
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
    /// The AMI's size (GB), unknown sizes last.
    Size,
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
            Self::Size => "size",
        }
    }

    pub fn next(self) -> Self {
        match self {
            Self::Started => Self::Progress,
            Self::Progress => Self::AmiId,
            Self::AmiId => Self::Name,
            Self::Name => Self::Bucket,
            Self::Bucket => Self::State,
            Self::State => Self::Size,
            Self::Size => Self::Started,
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
    /// An export plan's AMIs waiting for their turn.
    pub queued: usize,
    /// Mean progress of the tasks in progress.
    pub overall_progress: Option<u8>,
}

impl Counts {
    /// Counts a task of this state in (`add`) or out, in the tab it shows under.
    fn tally(&mut self, state: &Option<TaskState>, add: bool) {
        let n = match state {
            Some(TaskState::InProgress) => &mut self.in_progress,
            Some(TaskState::Completed) => &mut self.completed,
            Some(TaskState::Failed) => &mut self.failed,
            _ => return,
        };
        *n = if add { *n + 1 } else { n.saturating_sub(1) };
    }

    pub fn of(self, f: StateFilter) -> usize {
        match f {
            StateFilter::All => self.all,
            StateFilter::InProgress => self.in_progress,
            StateFilter::Completed => self.completed,
            StateFilter::Failed => self.failed,
            StateFilter::Queued => self.queued,
        }
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

impl Filters {
    /// These filters but the state filter: what the parts and the merged rows are made for.
    pub fn every_state(&self) -> Self {
        Self { state: StateFilter::All, ..self.clone() }
    }
}

/// When the tasks in progress should all be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Done {
    /// Nothing is in progress.
    #[default]
    Nothing,
    At(DateTime<Utc>),
    /// Some task in progress has no estimate.
    Unknown,
}

impl Done {
    fn add(self, other: Done) -> Done {
        match (self, other) {
            (Done::Unknown, _) | (_, Done::Unknown) => Done::Unknown,
            (Done::Nothing, d) | (d, Done::Nothing) => d,
            (Done::At(a), Done::At(b)) => Done::At(a.max(b)),
        }
    }

    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            Done::At(t) => Some(t),
            _ => None,
        }
    }
}

/// One feed's share of the view: its rows for every filter but the state filter (a tab key
/// then costs one pass over the merged rows, not a merge), sorted, and what the summary counts
/// of it.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// The data and filters it was made for: it is made again when either changes.
    made_of: Option<(Arc<FeedData>, Filters)>,
    /// Its rows of every state, in [`compare`]'s order.
    pub rows: Vec<u32>,
    /// Counts ignore the state filter, so the summary shows every tab.
    pub counts: Counts,
    progress_sum: u64,
    pub done: Done,
}

impl Part {
    /// Whether this part was made of exactly this data and these filters.
    pub fn is_for(&self, data: &Arc<FeedData>, filters: &Filters) -> bool {
        self.made_of.as_ref().is_some_and(|(d, f)| Arc::ptr_eq(d, data) && f == filters)
    }

    /// The part for `data`, the next data of the feed this part was made of, when its rows stay
    /// what they are: the same tasks grouped and named the same (a fast poll that moved
    /// percentages, or ended tasks), under filters that neither progress nor state decides.
    /// Then only what the tasks that moved change is counted again (their states, and the
    /// tasks in progress): its rows, and so the merged rows, stay as they are. `Some(states
    /// changed)` when it was so refreshed; `None` when the part must be made again.
    pub fn refresh(&mut self, feed: usize, data: &Arc<FeedData>, filters: &Filters) -> Option<bool> {
        let (before, made_for) = self.made_of.as_ref()?;
        let moving_order = matches!(filters.sort, SortKey::Progress | SortKey::State);
        // A search can match a failure reason, which a task gets when it fails.
        if made_for != filters || moving_order || !filters.search.is_empty() || !before.same_rows_as(data) {
            return None;
        }
        let moved = data.moved_since(before)?;
        // Whether task `i` is one of this part's rows: what `make` keeps without a search.
        let mine = |i: u32| {
            let t = &data.tasks()[i as usize];
            filters.feed.is_none_or(|f| f == feed)
                && filters.bucket.as_deref().is_none_or(|b| t.bucket.as_deref() == Some(b))
                && (filters.all_tasks || data.is_latest(i))
        };
        let (old, new) = (before.tasks(), data.tasks());
        let mut states_changed = false;
        for &i in moved.iter().filter(|&&i| old[i as usize].state != new[i as usize].state) {
            if mine(i) {
                states_changed = true;
                self.counts.tally(&old[i as usize].state, false);
                self.counts.tally(&new[i as usize].state, true);
            }
        }
        // The tasks in progress: their progress and time left as of this poll.
        (self.progress_sum, self.done) = (0, Done::Nothing);
        for &i in data.running().iter().filter(|&&i| mine(i)) {
            self.progress_sum += u64::from(new[i as usize].progress.unwrap_or(0));
            self.done = self.done.add(data.done_at(i).map_or(Done::Unknown, Done::At));
        }
        self.made_of = Some((data.clone(), filters.clone()));
        Some(states_changed)
    }

    /// Counts task `i` of `data` (one of this part's rows).
    fn count(&mut self, data: &FeedData, i: u32) {
        let t = &data.tasks()[i as usize];
        let c = &mut self.counts;
        c.all += 1;
        match t.state {
            Some(TaskState::InProgress) => {
                c.in_progress += 1;
                self.progress_sum += u64::from(t.progress.unwrap_or(0));
                self.done = self.done.add(data.done_at(i).map_or(Done::Unknown, Done::At));
            }
            Some(TaskState::Completed) => c.completed += 1,
            Some(TaskState::Failed) => c.failed += 1,
            Some(TaskState::Queued) => c.queued += 1,
            _ => {}
        }
    }

    /// Feed `feed`'s part for `filters`; `label` is what the feed is called (searched too).
    pub fn make(feed: usize, data: &Arc<FeedData>, filters: &Filters, label: &str) -> Self {
        let mut part = Part { made_of: Some((data.clone(), filters.clone())), ..Part::default() };
        if filters.feed.is_some_and(|f| f != feed) {
            return part;
        }
        let tasks = data.tasks();
        // A search that names the feed keeps every task of it.
        let search =
            (!filters.search.is_empty() && !contains_folded(label, &filters.search)).then_some(&filters.search);
        let mut take = |i: u32| {
            let t = &tasks[i as usize];
            if filters.bucket.as_deref().is_some_and(|b| t.bucket.as_deref() != Some(b)) {
                return;
            }
            if search.is_some_and(|s| !matches(data, t, s) && !size_matches(data.size(i), s)) {
                return;
            }
            part.count(data, i);
            part.rows.push(i);
        };
        match filters.all_tasks {
            true => (0..tasks.len() as u32).for_each(&mut take),
            false => data.latest().iter().copied().for_each(&mut take),
        }
        let whole = |i: u32| RowRef::new(feed, i);
        // The latest tasks come in the default order already; sorting a sorted run is linear.
        part.rows.sort_by(|&a, &b| compare(filters, (data, whole(a)), (data, whole(b))));
        part
    }
}

/// Whether a task matches a (lowercased) search: its AMI ID, name, bucket, key or reason.
fn matches(data: &FeedData, t: &StoreTask, needle: &str) -> bool {
    let name = t.ami_id.as_deref().and_then(|a| data.names.get(a)).and_then(|n| n.name());
    [t.ami_id.as_deref(), name, t.bucket.as_deref(), t.object_key.as_deref(), t.failure_reason.as_deref()]
        .into_iter()
        .flatten()
        .any(|h| contains_folded(h, needle))
}

/// Whether `hay` contains `needle` (already lowercased), ignoring case, without allocating
/// for ASCII text.
/// Whether the SIZE cell (`500`, or `500 GB` as a person may type it) holds the search.
fn size_matches(size: Option<u64>, needle: &str) -> bool {
    let Some(gb) = size else { return false };
    if !needle.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    contains_folded(&format!("{gb} GB"), needle)
}

pub fn contains_folded(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle)
}

/// The one order of the view, a total order over every feed's tasks: the sort column (named
/// AMIs before unnamed ones whichever way a name sort goes), then newest first and by AMI ID
/// whichever way the column goes, then by feed and position so no two rows tie.
pub fn compare(f: &Filters, a: (&FeedData, RowRef), b: (&FeedData, RowRef)) -> Ordering {
    let (x, y) = (&a.0.tasks()[a.1.task as usize], &b.0.tasks()[b.1.task as usize]);
    let (first, column) = match f.sort {
        SortKey::Started => (Ordering::Equal, y.start_time.cmp(&x.start_time)),
        SortKey::Progress => (Ordering::Equal, x.progress.cmp(&y.progress)),
        SortKey::AmiId => (Ordering::Equal, x.ami_id.cmp(&y.ami_id)),
        SortKey::Name => match (a.0.name_key(a.1.task), b.0.name_key(b.1.task)) {
            (Some(p), Some(q)) => (Ordering::Equal, cmp_folded(p, q)),
            (p, q) => (q.is_some().cmp(&p.is_some()), Ordering::Equal),
        },
        SortKey::Bucket => (Ordering::Equal, x.bucket.cmp(&y.bucket)),
        SortKey::State => (Ordering::Equal, x.state.cmp(&y.state)),
        SortKey::Size => match (a.0.size(a.1.task), b.0.size(b.1.task)) {
            (Some(p), Some(q)) => (Ordering::Equal, p.cmp(&q)),
            (p, q) => (q.is_some().cmp(&p.is_some()), Ordering::Equal),
        },
    };
    let column = if f.reverse { column.reverse() } else { column };
    first.then(column).then_with(|| newest_first(x, y)).then(a.1.cmp(&b.1))
}

/// Two names in the order of their lowercase forms, without making them for ASCII text.
pub fn cmp_folded(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// Merges runs sorted by `cmp` into one, pairwise: O(n log k) for k runs of n rows in all.
pub fn merge_runs(mut runs: Vec<Vec<RowRef>>, cmp: &impl Fn(RowRef, RowRef) -> Ordering) -> Vec<RowRef> {
    runs.retain(|r| !r.is_empty());
    while runs.len() > 1 {
        let mut next = Vec::with_capacity(runs.len().div_ceil(2));
        let mut it = runs.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => merge_two(a, b, cmp),
                None => a,
            });
        }
        runs = next;
    }
    runs.pop().unwrap_or_default()
}

/// Merges two sorted runs. A short run goes into a long one by binary search, so merging a
/// feed's few rows into everything else costs a copy, not a comparison per row.
pub fn merge_two(a: Vec<RowRef>, b: Vec<RowRef>, cmp: &impl Fn(RowRef, RowRef) -> Ordering) -> Vec<RowRef> {
    let (big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(big.len() + small.len());
    if small.len().saturating_mul(16) < big.len() {
        let mut from = 0;
        for r in small {
            let at = from + big[from..].partition_point(|&x| cmp(x, r) == Ordering::Less);
            out.extend_from_slice(&big[from..at]);
            out.push(r);
            from = at;
        }
        out.extend_from_slice(&big[from..]);
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < big.len() && j < small.len() {
        if cmp(small[j], big[i]) == Ordering::Less {
            out.push(small[j]);
            j += 1;
        } else {
            out.push(big[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&big[i..]);
    out.extend_from_slice(&small[j..]);
    out
}

/// The visible rows and the counts beside them.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The rows, in display order.
    pub rows: Vec<RowRef>,
    pub counts: Counts,
    /// When every task in progress that the filters keep (the state filter aside) should be
    /// done; `None` when one of them has no estimate.
    pub all_done_at: Option<DateTime<Utc>>,
}

impl View {
    /// The counts and the time all is done, over every feed's part.
    pub fn total(parts: &[Part]) -> (Counts, Option<DateTime<Utc>>) {
        let mut c = Counts::default();
        let (mut sum, mut done) = (0u64, Done::Nothing);
        for p in parts {
            c.all += p.counts.all;
            c.in_progress += p.counts.in_progress;
            c.completed += p.counts.completed;
            c.failed += p.counts.failed;
            c.queued += p.counts.queued;
            sum += p.progress_sum;
            done = done.add(p.done);
        }
        if c.in_progress > 0 {
            c.overall_progress = Some((sum / c.in_progress as u64) as u8);
        }
        (c, done.at())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The name sort's order is the order of the lowercased names, ASCII or not.
        #[test]
        fn folded_order_is_the_order_of_the_lowercase_forms(a in "[A-Za-z0-9 ._-]{0,8}|\\PC{0,8}", b in "[A-Za-z0-9 ._-]{0,8}|\\PC{0,8}") {
            proptest::prop_assert_eq!(cmp_folded(&a, &b), a.to_lowercase().cmp(&b.to_lowercase()));
        }
    }
}
