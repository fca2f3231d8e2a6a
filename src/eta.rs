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
    pub fn record<'a>(&mut self, tasks: impl IntoIterator<Item = &'a StoreTask>, at: DateTime<Utc>) {
        let mut seen = HashMap::with_capacity(self.samples.len());
        for t in tasks.into_iter().filter(|t| t.is_in_progress()) {
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

/// The moments the percentage changed: each sample whose progress differs from the one before,
/// after the last time the progress went backwards (a restart). The first sample is not a tick:
/// it was taken part-way through a percent.
fn ticks(samples: &[Sample]) -> Vec<Sample> {
    let from = samples.windows(2).rposition(|w| w[1].progress < w[0].progress).map_or(0, |i| i + 1);
    let s = &samples[from..];
    s.windows(2).filter(|w| w[1].progress != w[0].progress).map(|w| w[1]).collect()
}

/// The first sample after the last time the progress went backwards.
fn first_sample(samples: &[Sample]) -> Option<&Sample> {
    let from = samples.windows(2).rposition(|w| w[1].progress < w[0].progress).map_or(0, |i| i + 1);
    samples.get(from)
}

/// The estimate from samples, a start time and the current progress.
///
/// The observed rate runs from tick to tick (the moments the percentage changed), never from a
/// sample taken part-way through a percent, so a slow task's estimate does not climb between
/// ticks. The time since the last tick is a lower bound on how long the current percent takes:
/// until it is used up the estimate counts down; past it, the rate slows to match.
pub fn estimate(
    samples: &[Sample],
    start: Option<DateTime<Utc>>,
    progress: u8,
    now: DateTime<Utc>,
) -> Option<Estimate> {
    if progress >= 100 {
        return None;
    }
    let ms_per_min = 60_000.0;
    // A task waits at 0% in the service's queue before it moves: its rate counts from the last
    // time it was seen at 0%, not from its start.
    let still = samples.iter().rev().find(|s| s.progress == 0).map(|s| s.at);
    let start = match (start, still) {
        (Some(s), Some(z)) => Some(s.max(z)),
        (s, z) => s.or(z),
    };
    let since_start = start.and_then(|s| {
        let elapsed = now - s;
        // 1% after a few seconds says little; wait for 1% and a minute.
        (progress >= 1 && elapsed >= MIN_SPAN)
            .then(|| f64::from(progress) / elapsed.num_milliseconds() as f64 * ms_per_min)
    });
    let ticks = ticks(samples);
    let observed = ticks.last().and_then(|last| {
        // The earliest tick in the window; for a task slower than a percent per window, the one before the last.
        let first = ticks.iter().find(|t| last.at - t.at <= WINDOW).filter(|t| t.at < last.at);
        let first = first.or_else(|| ticks.len().checked_sub(2).map(|i| &ticks[i]));
        // One tick only: from the first sample, part-way through its percent, when the gain is
        // large enough (2% or more) that the part-percent is a small error.
        let first =
            first.or_else(|| first_sample(samples).filter(|s| last.progress >= s.progress.saturating_add(2)))?;
        let span = last.at - first.at;
        let gained = i32::from(last.progress) - i32::from(first.progress);
        (span >= MIN_SPAN && gained > 0).then(|| f64::from(gained) / span.num_milliseconds() as f64 * ms_per_min)
    });
    // How long the current percent has lasted at least: since the last tick, else since the first
    // sample at this percentage (which may be part-way through it).
    let current_since = match ticks.last() {
        Some(t) if samples.last().is_some_and(|s| s.progress == t.progress) => Some((t.at, true)),
        _ => samples.iter().rev().take_while(|s| s.progress == progress).last().map(|s| (s.at, false)),
    };
    let in_percent = current_since.map_or(0.0, |(at, _)| (now - at).num_milliseconds().max(0) as f64 / ms_per_min);
    let (rate, from_samples) = match (observed, since_start) {
        (Some(o), _) => (o, true),
        (None, Some(avg)) => (avg, false),
        (None, None) => return None,
    };
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    // Minutes per percent; the current one has taken `in_percent` already.
    let per = 1.0 / rate;
    let (per, from_samples) = if in_percent > per { (in_percent, true) } else { (per, from_samples) };
    let to_go = f64::from(100 - progress);
    // From a tick, the current percent counts down; from a mid-percent sample only the bound is known.
    let left_min = match current_since {
        Some((_, true)) => to_go * per - in_percent.min(per),
        _ => to_go * per,
    };
    let left = Duration::milliseconds((left_min * ms_per_min) as i64);
    (left <= MAX_ETA).then_some(Estimate {
        rate_per_min: 1.0 / per,
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
    fn a_task_that_waited_in_the_queue_counts_its_rate_from_when_it_moved() {
        // Started 310 minutes ago, at 0% until 10 minutes ago (the queue), 5% now: 1% in two
        // minutes, so 190 minutes left, not 5% in 310 minutes (5,890 left).
        let samples = series(&[(-300 * 60, 0), (-10 * 60, 0)]);
        let e = estimate(&samples, Some(t0() - Duration::minutes(310)), 5, t0()).unwrap();
        assert_eq!(e.left.num_minutes(), 190);
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
        // Tick to tick: 11% at 60 s to 50% at 630 s is 39% in 570 s, so 50% takes 12m11s. Without
        // the window it would be ~1 min (the jump alone) or 50 min (the jump ignored).
        assert!((e.left - Duration::seconds(731)).num_seconds().abs() <= 30, "{e:?}");
    }

    /// A task gaining one percent every `period` seconds (ticks at whole multiples from its start),
    /// sampled every `every` seconds from `first` seconds after its start: never on a tick. At each
    /// poll, once two ticks are seen, the estimate is within `tol` of the truth, and it never grows
    /// between ticks.
    fn off_tick(period: i64, every: i64, first: i64, start_pct: u8, tol: f64) {
        let start = t0() - Duration::seconds(period * i64::from(start_pct));
        let pct = |t: i64| (start_pct as i64 + t / period).min(100) as u8;
        let done = t0() + Duration::seconds(period * (100 - i64::from(start_pct)));
        let mut samples = Vec::new();
        let mut prev: Option<(u8, Duration)> = None;
        let mut checked = 0;
        let mut t = first;
        while pct(t) < 99 && t < 6 * 3600 {
            let at = t0() + Duration::seconds(t);
            samples.push(Sample { at, progress: pct(t) });
            if samples.len() > MAX_SAMPLES {
                samples.remove(0);
            }
            let e = estimate(&samples, Some(start), pct(t), at).unwrap();
            let truth = done - at;
            let ticks_seen = samples.windows(2).filter(|w| w[0].progress != w[1].progress).count();
            if ticks_seen >= 2 && (ticks(&samples).last().unwrap().at - ticks(&samples)[0].at) >= MIN_SPAN {
                let err = (e.left - truth).num_seconds().abs() as f64;
                assert!(
                    err <= tol * truth.num_seconds() as f64 + every as f64,
                    "at {t}s ({}%): estimated {}s, truly {}s",
                    pct(t),
                    e.left.num_seconds(),
                    truth.num_seconds()
                );
                if let Some((p, left)) = prev.filter(|(p, _)| *p == pct(t)) {
                    assert!(
                        e.left <= left,
                        "at {t}s: {}s left, up from {}s at the same {p}%",
                        e.left.num_seconds(),
                        left.num_seconds()
                    );
                }
                checked += 1;
            }
            prev = Some((pct(t), e.left));
            t += every;
        }
        assert!(checked > 8, "the series reached its checks: {checked}");
    }

    #[test]
    fn a_slow_task_counts_down_between_ticks() {
        // The case: ~3h10m left, a percent every 6 minutes, 5-second polls that start
        // 200 s into a percent, and polls 37 s apart that land anywhere in one.
        off_tick(360, 5, 200, 68, 0.03);
        off_tick(360, 37, 200, 68, 0.05);
    }

    #[test]
    fn a_fast_task_sampled_between_ticks_is_estimated_closely() {
        // Two or three percent per poll, polls off the ticks.
        off_tick(2, 5, 1, 40, 0.05);
        off_tick(7, 5, 3, 10, 0.05);
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
