//! Speed and time left of tasks in progress, from the progress samples the poller sees.
//!
//! EC2 reports only a start time and a whole percentage. Two estimates are combined:
//! the rate observed across recent samples (what the task does now), and the average rate
//! since the task started (all a fresh start of amiwatch knows). A task that sits at one
//! percentage, a jump, or a restart all give a sensible estimate or an honest `None`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::task::{StoreTask, TaskKey};

/// Samples kept per task: enough for a sparkline and a 15-minute window at 5 s polls.
const MAX_SAMPLES: usize = 240;
/// The window the observed rate is measured over.
const WINDOW: Duration = Duration::minutes(15);
/// An observed rate needs at least this much time between its samples.
const MIN_SPAN: Duration = Duration::seconds(60);
/// Estimates beyond this are not estimates.
const MAX_ETA: Duration = Duration::days(14);

/// One observation of a task's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub progress: u8,
}

/// A task's estimated speed and time left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Percent per minute.
    pub rate_per_min: f64,
    pub left: Duration,
    /// Whether the rate comes from observed samples (otherwise from the start time only).
    pub observed: bool,
}

/// Progress samples per task of one feed, sampled at that feed's fetch times.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: HashMap<TaskKey, Vec<Sample>>,
}

/// A task's key, when it has the AMI ID and start time that make it trackable.
fn key(t: &StoreTask) -> Option<TaskKey> {
    (t.ami_id.is_some() && t.start_time.is_some()).then(|| t.key())
}

impl History {
    /// Records the progress of every task in progress at `at`; forgets tasks that ended or left.
    pub fn record(&mut self, tasks: &[StoreTask], at: DateTime<Utc>) {
        let mut seen = HashMap::with_capacity(self.samples.len());
        for t in tasks.iter().filter(|t| t.is_in_progress()) {
            let (Some(k), Some(p)) = (key(t), t.progress) else { continue };
            let mut v = self.samples.remove(&k).unwrap_or_default();
            if v.last().is_none_or(|s| s.at < at) {
                v.push(Sample { at, progress: p });
            }
            if v.len() > MAX_SAMPLES {
                v.drain(..v.len() - MAX_SAMPLES);
            }
            seen.insert(k, v);
        }
        self.samples = seen;
    }

    pub fn samples(&self, t: &StoreTask) -> &[Sample] {
        key(t).and_then(|k| self.samples.get(&k)).map_or(&[], Vec::as_slice)
    }

    /// The estimate for a task at `now`, or `None` when there is nothing honest to say.
    pub fn estimate(&self, t: &StoreTask, now: DateTime<Utc>) -> Option<Estimate> {
        if !t.is_in_progress() {
            return None;
        }
        estimate(self.samples(t), t.start_time, t.progress?, now)
    }
}

/// The estimate from samples, a start time and the current progress.
pub fn estimate(
    samples: &[Sample],
    start: Option<DateTime<Utc>>,
    progress: u8,
    now: DateTime<Utc>,
) -> Option<Estimate> {
    if progress >= 100 {
        return None;
    }
    let since_start = start.and_then(|s| {
        let elapsed = now - s;
        // 1% after a few seconds says little; wait for 1% and a minute.
        (progress >= 1 && elapsed >= MIN_SPAN)
            .then(|| f64::from(progress) / elapsed.num_milliseconds() as f64 * 60_000.0)
    });
    let observed = samples.last().and_then(|last| {
        let first = samples.iter().find(|s| last.at - s.at <= WINDOW)?;
        let span = last.at - first.at;
        let gained = i32::from(last.progress) - i32::from(first.progress);
        (span >= MIN_SPAN && gained > 0).then(|| f64::from(gained) / span.num_milliseconds() as f64 * 60_000.0)
    });
    // A task that has sat still across the whole window is slower than its average: take the
    // slower of the average and the most it could have done unseen (under 1% per window).
    let stalled = samples
        .last()
        .is_some_and(|last| samples.first().is_some_and(|f| last.at - f.at >= WINDOW && f.progress == last.progress));
    let (rate, from_samples) = match (observed, since_start) {
        (Some(o), _) => (o, true),
        (None, Some(avg)) if stalled => (avg.min(60_000.0 / WINDOW.num_milliseconds() as f64), true),
        (None, Some(avg)) => (avg, false),
        (None, None) => return None,
    };
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    let left_min = f64::from(100 - progress) / rate;
    let left = Duration::milliseconds((left_min * 60_000.0) as i64);
    (left <= MAX_ETA).then_some(Estimate {
        rate_per_min: rate,
        left: left.max(Duration::zero()),
        observed: from_samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    fn series(points: &[(i64, u8)]) -> Vec<Sample> {
        points.iter().map(|&(s, p)| Sample { at: t0() + Duration::seconds(s), progress: p }).collect()
    }

    #[test]
    fn steady_progress_gives_the_obvious_answer() {
        // 1% a minute, observed over 10 minutes, at 40%: 60 minutes left.
        let s = series(&(0..=20).map(|i| (i * 30, 30 + (i / 2) as u8)).collect::<Vec<_>>());
        let e = estimate(&s, Some(t0() - Duration::minutes(30)), 40, t0() + Duration::minutes(10)).unwrap();
        assert!((e.rate_per_min - 1.0).abs() < 0.01, "{e:?}");
        assert_eq!(e.left.num_minutes(), 60);
        assert!(e.observed);
    }

    #[test]
    fn a_fresh_restart_uses_the_start_time() {
        // No samples yet: 25% in 50 minutes, 150 minutes left.
        let e = estimate(&[], Some(t0() - Duration::minutes(50)), 25, t0()).unwrap();
        assert_eq!(e.left.num_minutes(), 150);
        assert!(!e.observed);
    }

    #[test]
    fn too_little_to_go_on_is_unknown_never_absurd() {
        assert_eq!(estimate(&[], Some(t0() - Duration::seconds(10)), 1, t0()), None, "1% after 10 s");
        assert_eq!(estimate(&[], Some(t0() - Duration::minutes(10)), 0, t0()), None, "no progress yet");
        assert_eq!(estimate(&[], None, 50, t0()), None, "no start time");
        assert_eq!(estimate(&[], Some(t0() - Duration::days(300)), 1, t0()), None, "months away is no estimate");
        assert_eq!(estimate(&[], Some(t0()), 100, t0()), None);
        // A start time in the future (clock skew) never gives a negative estimate.
        assert_eq!(estimate(&[], Some(t0() + Duration::hours(1)), 50, t0()), None);
    }

    #[test]
    fn a_task_sitting_at_one_percentage_slows_its_estimate() {
        let s = series(&(0..=40).map(|i| (i * 30, 50)).collect::<Vec<_>>()); // 20 minutes at 50%
        let now = t0() + Duration::minutes(20);
        let e = estimate(&s, Some(t0() - Duration::minutes(20)), 50, now).unwrap();
        let naive = estimate(&[], Some(t0() - Duration::minutes(20)), 50, now).unwrap();
        assert!(e.left > naive.left, "stalled {:?} vs average {:?}", e.left, naive.left);
        assert!(e.left.num_minutes() >= 750, "under 1% per 15 minutes: {:?}", e.left);
    }

    #[test]
    fn a_jump_is_smoothed_by_the_window() {
        // 10% over 10 minutes, then a jump of 30% in one poll.
        let mut pts: Vec<(i64, u8)> = (0..=20).map(|i| (i * 30, 10 + (i / 2) as u8)).collect();
        pts.push((630, 50));
        let s = series(&pts);
        let e = estimate(&s, Some(t0() - Duration::minutes(60)), 50, t0() + Duration::seconds(630)).unwrap();
        assert!(e.left > Duration::minutes(5) && e.left < Duration::hours(2), "{e:?}");
    }

    #[test]
    fn history_keeps_tasks_in_progress_only_and_is_bounded() {
        use crate::task::TaskState;
        let mut h = History::default();
        let mut t = StoreTask {
            ami_id: Some("ami-12345678".into()),
            start_time: Some(t0()),
            progress: Some(1),
            state: Some(TaskState::InProgress),
            ..StoreTask::default()
        };
        for i in 0..(MAX_SAMPLES as i64 + 50) {
            h.record(std::slice::from_ref(&t), t0() + Duration::seconds(i * 5));
        }
        assert_eq!(h.samples(&t).len(), MAX_SAMPLES);
        t.state = Some(TaskState::Completed);
        h.record(std::slice::from_ref(&t), t0() + Duration::hours(2));
        assert!(h.samples(&t).is_empty());
        assert_eq!(h.estimate(&t, t0()), None);
    }
}
