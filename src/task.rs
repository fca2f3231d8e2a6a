//! The domain: one store-image task and its state.
//!
//! This is the only place that sees the SDK's `StoreImageTaskResult`; everything after the
//! conversion works with [`StoreTask`].

use std::fmt;
use std::sync::Arc;

use aws_sdk_ec2::types::StoreImageTaskResult;
use chrono::{DateTime, Utc};

/// The state of a store-image task, as the service reports it.
///
/// The service sends a plain string; a value this build does not know is kept as it came
/// rather than dropped, so that a new state shows up instead of silently vanishing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    InProgress,
    Completed,
    Failed,
    /// Not a state of the service's: an AMI of an `amiwatch export` plan waiting for its turn
    /// under the store quota (never parsed from an answer, never sent in a filter).
    Queued,
    Other(String),
}

impl TaskState {
    /// Parses the service's wire value (exact, case-sensitive, as the service sends it).
    pub fn from_wire(s: &str) -> Self {
        match s {
            "InProgress" => Self::InProgress,
            "Completed" => Self::Completed,
            "Failed" => Self::Failed,
            other => Self::Other(other.to_string()),
        }
    }

    /// Parses what a user types: `InProgress`, `in-progress`, `in_progress`, `completed`, ...
    pub fn from_user(s: &str) -> Option<Self> {
        let folded: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).flat_map(char::to_lowercase).collect();
        match folded.as_str() {
            "inprogress" | "running" => Some(Self::InProgress),
            "completed" | "complete" | "done" => Some(Self::Completed),
            "failed" | "failure" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The value the service uses on the wire and in filters.
    pub fn as_wire(&self) -> &str {
        match self {
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Queued => "Queued",
            Self::Other(s) => s,
        }
    }

    /// A short label for people ("in progress").
    pub fn label(&self) -> &str {
        match self {
            Self::InProgress => "in progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Queued => "queued",
            Self::Other(s) => s,
        }
    }

    /// Whether the task has reached an end state.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_wire())
    }
}

/// One store-image task: an AMI being copied (or copied) into an S3 bucket.
///
/// Every field is optional in the service model, so every field is optional here; a missing
/// field is shown as unknown, never invented.
///
/// Text is shared (`Arc<str>`): a fast poll's snapshot is the last one with a few tasks
/// replaced, and a task's identity ([`TaskKey`]) is taken often, so copying a task or its key
/// copies no text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreTask {
    pub ami_id: Option<Arc<str>>,
    pub start_time: Option<DateTime<Utc>>,
    pub bucket: Option<Arc<str>>,
    pub object_key: Option<Arc<str>>,
    /// 0..=100 when the service sent a sane value.
    pub progress: Option<u8>,
    pub state: Option<TaskState>,
    pub failure_reason: Option<Arc<str>>,
}

/// A task's identity: its AMI and its start time. An AMI exported twice has two tasks; the
/// same task seen in two polls has one key. Within one feed (account and region) it is unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub ami_id: Option<Arc<str>>,
    pub start_time: Option<DateTime<Utc>>,
}

impl StoreTask {
    /// The one conversion from the SDK's type.
    pub fn from_sdk(r: &StoreImageTaskResult) -> Self {
        Self {
            ami_id: r.ami_id().map(Arc::from),
            start_time: r.task_start_time().and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
            // A few buckets hold an account's exports: one copy of each name.
            bucket: r.bucket().map(crate::image::shared),
            object_key: r.s3object_key().map(Arc::from),
            progress: r.progress_percentage().map(|p| p.clamp(0, 100) as u8),
            state: r.store_task_state().map(TaskState::from_wire),
            failure_reason: r.store_task_failure_reason().map(Arc::from),
        }
    }

    /// The task's identity across polls.
    pub fn key(&self) -> TaskKey {
        TaskKey { ami_id: self.ami_id.clone(), start_time: self.start_time }
    }

    /// Whether this is the task `key` names (without building a key).
    pub fn has_key(&self, key: &TaskKey) -> bool {
        self.start_time == key.start_time && self.ami_id == key.ami_id
    }

    /// `s3://bucket/key`, when both are known.
    pub fn s3_uri(&self) -> Option<String> {
        match (&self.bucket, &self.object_key) {
            (Some(b), Some(k)) => Some(format!("s3://{b}/{k}")),
            _ => None,
        }
    }

    /// `s3://bucket/key` when it is a URI S3 would accept: a valid bucket name, and a key of
    /// at most 1,024 bytes with no control or direction-changing characters. What the
    /// clipboard gets: never text a server slipped escape sequences into.
    pub fn valid_s3_uri(&self) -> Option<String> {
        let (b, k) = (self.bucket.as_deref()?, self.object_key.as_deref()?);
        let key_ok = !k.is_empty() && k.len() <= 1024 && matches!(crate::text::safe(k), std::borrow::Cow::Borrowed(_));
        (is_bucket_name(b) && key_ok).then(|| format!("s3://{b}/{k}"))
    }

    pub fn is_in_progress(&self) -> bool {
        self.state == Some(TaskState::InProgress)
    }
}

/// A snapshot's tasks, in order, held in shared runs of [`Tasks::RUN`]: a copy shares every
/// run, and replacing a task copies only its run. A fast poll changes a few of a feed's
/// thousands of tasks; copying them all for each poll (every task's texts counted again, and
/// freed again when the last snapshot went) was a fifth of the dashboard's CPU at 340 feeds.
#[derive(Clone, Default)]
pub struct Tasks {
    /// Every run holds [`Tasks::RUN`] tasks but the last, which holds 1 to `RUN`.
    runs: Vec<Arc<[StoreTask]>>,
    len: usize,
}

impl Tasks {
    /// Tasks a run: what replacing one task copies.
    pub const RUN: usize = 32;

    /// No tasks.
    pub const fn new() -> Self {
        Self { runs: Vec::new(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<&StoreTask> {
        (i < self.len).then(|| &self.runs[i / Self::RUN][i % Self::RUN])
    }

    /// Every task, in order.
    pub fn iter(&self) -> Iter<'_> {
        fn run(r: &Arc<[StoreTask]>) -> std::slice::Iter<'_, StoreTask> {
            r.iter()
        }
        self.runs.iter().flat_map(run as fn(&Arc<[StoreTask]>) -> std::slice::Iter<'_, StoreTask>)
    }

    /// Replaces task `i`, copying its run only when another copy shares it. Out of range:
    /// nothing happens.
    pub fn set(&mut self, i: usize, task: StoreTask) {
        if i < self.len {
            Arc::make_mut(&mut self.runs[i / Self::RUN])[i % Self::RUN] = task;
        }
    }

    /// The tasks, with their places, that are not in a run this list shares with `before`
    /// at the same place: every task that differs from the one at its place in `before` is
    /// among them, and after a fast poll's few changes little else is.
    pub fn unshared_with<'a>(&'a self, before: &'a Tasks) -> impl Iterator<Item = (usize, &'a StoreTask)> + 'a {
        self.runs
            .iter()
            .enumerate()
            .filter(move |(r, run)| before.runs.get(*r).is_none_or(|b| !Arc::ptr_eq(b, run)))
            .flat_map(|(r, run)| run.iter().enumerate().map(move |(j, t)| (r * Self::RUN + j, t)))
    }

    pub fn to_vec(&self) -> Vec<StoreTask> {
        self.iter().cloned().collect()
    }
}

/// The tasks of a [`Tasks`], in order.
pub type Iter<'a> = std::iter::FlatMap<
    std::slice::Iter<'a, Arc<[StoreTask]>>,
    std::slice::Iter<'a, StoreTask>,
    fn(&'a Arc<[StoreTask]>) -> std::slice::Iter<'a, StoreTask>,
>;

impl From<Vec<StoreTask>> for Tasks {
    fn from(tasks: Vec<StoreTask>) -> Self {
        let len = tasks.len();
        let mut runs = Vec::with_capacity(len.div_ceil(Self::RUN));
        let mut rest = tasks.into_iter();
        loop {
            let run: Arc<[StoreTask]> = rest.by_ref().take(Self::RUN).collect();
            if run.is_empty() {
                break;
            }
            runs.push(run);
        }
        Self { runs, len }
    }
}

impl FromIterator<StoreTask> for Tasks {
    fn from_iter<I: IntoIterator<Item = StoreTask>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Index<usize> for Tasks {
    type Output = StoreTask;

    fn index(&self, i: usize) -> &StoreTask {
        match self.get(i) {
            Some(t) => t,
            None => panic!("task {i} of {}", self.len),
        }
    }
}

impl<'a> IntoIterator for &'a Tasks {
    type Item = &'a StoreTask;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Tasks {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Tasks {}

impl PartialEq<Vec<StoreTask>> for Tasks {
    fn eq(&self, other: &Vec<StoreTask>) -> bool {
        self.len == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, no two dots in a row.
pub fn is_bucket_name(s: &str) -> bool {
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&s.len()) && ok_chars && ends(s.bytes().next()) && ends(s.bytes().last()) && !s.contains("..")
}

/// `ami-` followed by 8 or 17 lowercase hex digits.
pub fn is_ami_id(s: &str) -> bool {
    s.strip_prefix("ami-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::primitives::DateTime as SdkDateTime;

    fn numbered(n: usize) -> Vec<StoreTask> {
        (0..n).map(|i| StoreTask { progress: Some((i % 101) as u8), ..StoreTask::default() }).collect()
    }

    proptest::proptest! {
        #[test]
        fn tasks_hold_what_they_were_given_and_a_change_copies_one_run(n in 0usize..200, at in 0usize..200, p in 0u8..=100) {
            let v = numbered(n);
            let before = Tasks::from(v.clone());
            proptest::prop_assert_eq!(&before, &v);
            proptest::prop_assert_eq!(before.len(), n);
            proptest::prop_assert_eq!(before.get(n), None);
            let mut after = before.clone();
            proptest::prop_assert_eq!(after.unshared_with(&before).count(), 0, "a copy shares every run");
            after.set(at, StoreTask { progress: Some(p), ..StoreTask::default() });
            proptest::prop_assert_eq!(&before, &v, "the copy it came from is untouched");
            let mut want = v.clone();
            if at < n {
                want[at].progress = Some(p);
            }
            proptest::prop_assert_eq!(&after, &want);
            let unshared: Vec<usize> = after.unshared_with(&before).map(|(i, _)| i).collect();
            let run = (at / Tasks::RUN) * Tasks::RUN;
            let want_unshared: Vec<usize> = if at < n { (run..(run + Tasks::RUN).min(n)).collect() } else { Vec::new() };
            proptest::prop_assert_eq!(unshared, want_unshared, "only the changed task's run");
        }
    }

    #[test]
    fn user_states_are_case_and_dash_insensitive() {
        for s in ["InProgress", "in-progress", "IN_PROGRESS", "inprogress"] {
            assert_eq!(TaskState::from_user(s), Some(TaskState::InProgress), "{s}");
        }
        assert_eq!(TaskState::from_user("Completed"), Some(TaskState::Completed));
        assert_eq!(TaskState::from_user("FAILED"), Some(TaskState::Failed));
        assert_eq!(TaskState::from_user("pending"), None);
    }

    #[test]
    fn unknown_wire_state_is_kept() {
        let s = TaskState::from_wire("Cancelling");
        assert_eq!(s, TaskState::Other("Cancelling".into()));
        assert_eq!(s.as_wire(), "Cancelling");
        assert!(!s.is_final());
    }

    #[test]
    fn conversion_keeps_every_field() {
        let r = StoreImageTaskResult::builder()
            .ami_id("ami-0123456789abcdef0")
            .task_start_time(SdkDateTime::from_secs(1_764_330_706))
            .bucket("b")
            .s3object_key("k.bin")
            .progress_percentage(42)
            .store_task_state("Failed")
            .store_task_failure_reason("boom")
            .build();
        let t = StoreTask::from_sdk(&r);
        assert_eq!(t.ami_id.as_deref(), Some("ami-0123456789abcdef0"));
        assert_eq!(t.start_time.unwrap().timestamp(), 1_764_330_706);
        assert_eq!(t.progress, Some(42));
        assert_eq!(t.state, Some(TaskState::Failed));
        assert_eq!(t.failure_reason.as_deref(), Some("boom"));
        assert_eq!(t.s3_uri().as_deref(), Some("s3://b/k.bin"));
    }

    #[test]
    fn missing_fields_stay_missing_and_bad_progress_is_clamped() {
        let empty = StoreTask::from_sdk(&StoreImageTaskResult::builder().build());
        assert_eq!(empty, StoreTask::default());
        let r = StoreImageTaskResult::builder().progress_percentage(250).build();
        assert_eq!(StoreTask::from_sdk(&r).progress, Some(100));
        let r = StoreImageTaskResult::builder().progress_percentage(-3).build();
        assert_eq!(StoreTask::from_sdk(&r).progress, Some(0));
    }
}
