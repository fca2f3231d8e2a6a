//! Time left from sizes and the service's throughput: how many GB a minute one feed's exports
//! store together, observed from how `progress x size` of its tasks in progress moves between
//! polls, and a plan from it: when each task in progress (or waiting in the service's queue at
//! 0%) should start and end, and when all are done.
//!
//! Pure: no clock and no I/O. The caller records each poll's tasks with their AMIs' sizes and
//! asks for a [`Plan`]. Where sizes are unknown it gives nothing, and the caller falls back to
//! the per-task estimate of [`crate::eta`].

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::task::{StoreTask, TaskKey, TaskState};

/// The throughput is measured over the latest intervals between polls that span this long
/// (whole percentages of a large AMI move slowly: a short window would see only their steps;
/// over 15 minutes, one 1,000 GB export at 3 GB a minute moves 4 or 5 whole percent, a 20%
/// error in its pace, and every queued task's `starts in` with it: BENCHMARKS.md section 7).
const WINDOW_SECS: f64 = 60.0 * 60.0;
/// At most this many intervals (a bound whatever the poll interval).
const MAX_INTERVALS: usize = 1000;
/// The shortest time the window must span before a throughput is given, seconds.
const MIN_SPAN_SECS: f64 = 30.0;
/// Plans beyond this many minutes are not plans (two weeks).
const MAX_MINUTES: f64 = 14.0 * 24.0 * 60.0;

/// One task as one poll saw it, with its AMI's size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    progress: u8,
    size_gb: u64,
}

/// What a feed's exports stored between two polls.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    gb: f64,
    secs: f64,
    /// Tasks that moved in it (above 0% at its start, or moved since).
    movers: usize,
}

/// A feed's observed throughput, from poll to poll.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    last: Option<(DateTime<Utc>, HashMap<TaskKey, Seen>)>,
    window: VecDeque<Interval>,
}

/// What an estimate stands on (the detail pane says it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    /// GB a minute the feed's exports store together.
    pub gb_per_min: f64,
    /// Intervals between polls it is measured over.
    pub polls: usize,
    /// GB the exports in progress have left, those waiting included.
    pub gb_left: f64,
}

/// When one task should start moving (0 when it moves now) and end, in minutes from the poll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskPlan {
    pub starts_in_min: f64,
    pub done_in_min: f64,
}

/// The plan of a feed's tasks in progress, as of its latest poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub basis: Option<Basis>,
    /// Per task in progress with a known size, by its key.
    pub tasks: HashMap<TaskKey, TaskPlan>,
    /// Minutes until every task in progress is done, when every one has a known size.
    pub all_done_in_min: Option<f64>,
    /// Tasks the plan has waiting in the service's queue (starting later).
    pub queued: usize,
}

fn trackable(t: &StoreTask) -> bool {
    t.ami_id.is_some() && t.start_time.is_some()
}

impl Throughput {
    /// Records the tasks of a poll at `at`, each with its AMI's size when known (`size`).
    /// A task seen before moved `(now - then) x size`; one that completed since moved the rest
    /// of its size. Tasks without a size count for nothing (they neither add nor stall).
    pub fn record<'a>(
        &mut self,
        tasks: impl IntoIterator<Item = &'a StoreTask>,
        at: DateTime<Utc>,
        size: impl Fn(&StoreTask) -> Option<u64>,
    ) {
        let mut now = HashMap::new();
        let mut gb = 0.0;
        let mut movers = 0;
        let before = self.last.as_ref().filter(|(then, _)| *then < at);
        // A completed task counts only when it was in progress at the last poll: a few of a
        // feed's thousands. Their start times rule out the rest before any lookup.
        let mut starts: Vec<DateTime<Utc>> =
            before.map_or_else(Vec::new, |(_, m)| m.keys().filter_map(|k| k.start_time).collect());
        starts.sort_unstable();
        for t in tasks.into_iter().filter(|t| trackable(t)) {
            let was_seen = |t: &StoreTask| t.start_time.is_some_and(|s| starts.binary_search(&s).is_ok());
            match t.state {
                Some(TaskState::InProgress) => {}
                Some(TaskState::Completed) if was_seen(t) => {}
                _ => continue,
            }
            let Some(size_gb) = size(t) else { continue };
            let key = t.key();
            let progress = t.progress.unwrap_or(0).min(100);
            let prev = before.and_then(|(_, m)| m.get(&key));
            match t.state {
                Some(TaskState::InProgress) => {
                    if let Some(p) = prev {
                        gb += f64::from(progress.saturating_sub(p.progress)) / 100.0 * size_gb as f64;
                        movers += usize::from(p.progress > 0 || progress > p.progress);
                    }
                    now.insert(key, Seen { progress, size_gb });
                }
                _ => {
                    if let Some(p) = prev {
                        gb += f64::from(100u8.saturating_sub(p.progress)) / 100.0 * size_gb as f64;
                        movers += 1;
                    }
                }
            }
        }
        if let Some((then, seen)) = before {
            // Only intervals that had something in progress tell the service's pace.
            if !seen.is_empty() {
                let secs = (at - *then).num_milliseconds() as f64 / 1000.0;
                self.window.push_back(Interval { gb, secs, movers });
                // Drop the oldest while the rest still span the window.
                let mut span: f64 = self.window.iter().map(|i| i.secs).sum();
                while let Some(first) = self.window.front().copied() {
                    if self.window.len() <= MAX_INTERVALS && span - first.secs < WINDOW_SECS {
                        break;
                    }
                    span -= first.secs;
                    self.window.pop_front();
                }
            }
        }
        if self.last.as_ref().is_none_or(|(then, _)| *then < at) {
            self.last = Some((at, now));
        }
    }

    /// GB a minute over the window, once it spans long enough; `None` before, or when the
    /// exports stored nothing at all (a stalled service has no pace to plan with).
    pub fn gb_per_min(&self) -> Option<f64> {
        let (gb, secs) = self.window.iter().fold((0.0, 0.0), |(g, s), i| (g + i.gb, s + i.secs));
        (secs >= MIN_SPAN_SECS && gb > 0.0).then(|| gb / secs * 60.0)
    }

    /// GB a minute one moving task stores: the feed's GB over the time each task moved
    /// (the service's pace per export, what the plan runs each task at).
    pub fn per_task_gb_per_min(&self) -> Option<f64> {
        let (gb, task_secs, secs) = self
            .window
            .iter()
            .fold((0.0, 0.0, 0.0), |(g, ts, s), i| (g + i.gb, ts + i.secs * i.movers as f64, s + i.secs));
        (secs >= MIN_SPAN_SECS && gb > 0.0 && task_secs > 0.0).then(|| gb / task_secs * 60.0)
    }

    /// Intervals the throughput is measured over.
    pub fn polls(&self) -> usize {
        self.window.len()
    }

    /// The plan for `tasks` (the latest poll's) from the observed throughput.
    pub fn plan<'a>(
        &self,
        tasks: impl IntoIterator<Item = &'a StoreTask>,
        quota_gb: Option<u64>,
        size: impl Fn(&StoreTask) -> Option<u64>,
    ) -> Plan {
        let (Some(rate), Some(per_task)) = (self.gb_per_min(), self.per_task_gb_per_min()) else {
            return Plan::default();
        };
        let moving: Vec<&StoreTask> = tasks.into_iter().filter(|t| t.is_in_progress() && trackable(t)).collect();
        let sized: Vec<(&StoreTask, u64)> = moving.iter().filter_map(|t| Some((*t, size(t)?))).collect();
        let all_sized = sized.len() == moving.len();
        let jobs: Vec<Job> = sized
            .iter()
            .map(|(t, gb)| Job {
                size_gb: *gb as f64,
                left_gb: left_gb(t.progress.unwrap_or(0), *gb),
                moving: t.progress.unwrap_or(0) > 0,
                start: t.start_time,
            })
            .collect();
        let gb_left: f64 = jobs.iter().map(|j| j.left_gb).sum();
        let schedule = schedule(&jobs, per_task, quota_gb);
        let mut out = Plan {
            basis: Some(Basis { gb_per_min: rate, polls: self.polls(), gb_left }),
            tasks: HashMap::new(),
            all_done_in_min: None,
            queued: 0,
        };
        for ((t, _), p) in sized.iter().zip(&schedule) {
            if p.done_in_min <= MAX_MINUTES {
                out.tasks.insert(t.key(), *p);
                out.queued += usize::from(p.starts_in_min > 0.0);
            }
        }
        let last = schedule.iter().map(|p| p.done_in_min).fold(0.0, f64::max);
        out.all_done_in_min = (all_sized && !jobs.is_empty() && last <= MAX_MINUTES).then_some(last);
        out
    }
}

/// GB a task at `progress` has left: the service rounds its progress down to a whole percent,
/// so one that moved is half a percent past what it says, on average.
fn left_gb(progress: u8, size_gb: u64) -> f64 {
    let done = match progress.min(100) {
        0 => 0.0,
        p => f64::from(p) + 0.5,
    };
    (100.0 - done).max(0.0) / 100.0 * size_gb as f64
}

/// One task for [`schedule`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    /// The AMI's size: what it holds of the quota while it moves.
    pub size_gb: f64,
    pub left_gb: f64,
    /// Whether it has started moving (above 0%); one at 0% waits in the service's queue.
    pub moving: bool,
    /// Queue order: the earlier start is admitted first.
    pub start: Option<DateTime<Utc>>,
}

/// When each job starts and ends, each moving job storing `per_task_gb_per_min`. The service's queue admits waiting jobs
/// in the order they started while the moving ones hold less than `quota_gb` (one admitted
/// job may take the total past it); without a quota, each job that ends lets the next start.
/// Bounded: every turn ends one job.
pub fn schedule(jobs: &[Job], per_task_gb_per_min: f64, quota_gb: Option<u64>) -> Vec<TaskPlan> {
    let mut plans = vec![TaskPlan { starts_in_min: 0.0, done_in_min: 0.0 }; jobs.len()];
    let per_task = per_task_gb_per_min;
    if jobs.is_empty() || !(per_task.is_finite() && per_task > 0.0) {
        return plans;
    }
    let mut waiting: Vec<usize> = (0..jobs.len()).filter(|&i| !jobs[i].moving).collect();
    waiting.sort_by(|&a, &b| jobs[a].start.cmp(&jobs[b].start).then(a.cmp(&b)));
    let mut waiting: VecDeque<usize> = waiting.into();
    let moving: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i].moving).collect();
    // The running jobs: (end in minutes, job).
    let mut running: Vec<(f64, usize)> = Vec::new();
    let start = |at: f64, i: usize, running: &mut Vec<(f64, usize)>, plans: &mut Vec<TaskPlan>| {
        let end = at + jobs[i].left_gb / per_task;
        plans[i] = TaskPlan { starts_in_min: at, done_in_min: end };
        running.push((end, i));
    };
    for i in moving {
        start(0.0, i, &mut running, &mut plans);
    }
    let held = |running: &[(f64, usize)]| running.iter().map(|&(_, i)| jobs[i].size_gb).sum::<f64>();
    let admit = |at: f64,
                 running: &mut Vec<(f64, usize)>,
                 plans: &mut Vec<TaskPlan>,
                 waiting: &mut VecDeque<usize>,
                 freed: bool| {
        match quota_gb {
            Some(q) => {
                while running.is_empty() || held(running) < q as f64 {
                    let Some(i) = waiting.pop_front() else { break };
                    start(at, i, running, plans);
                }
            }
            None if freed || running.is_empty() => {
                if let Some(i) = waiting.pop_front() {
                    start(at, i, running, plans);
                }
            }
            None => {}
        }
    };
    admit(0.0, &mut running, &mut plans, &mut waiting, false);
    while !waiting.is_empty() {
        let Some(k) = (0..running.len()).min_by(|&a, &b| running[a].0.total_cmp(&running[b].0)) else { break };
        let (at, _) = running.swap_remove(k);
        admit(at, &mut running, &mut plans, &mut waiting, true);
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    fn task(n: u32, progress: u8, state: TaskState) -> StoreTask {
        StoreTask {
            ami_id: Some(format!("ami-{n:08x}").into()),
            start_time: Some(t0() - Duration::minutes(i64::from(100 - n))),
            bucket: None,
            object_key: None,
            progress: Some(progress),
            state: Some(state),
            failure_reason: None,
        }
    }

    /// Sizes by AMI number: 100 GB each, AMI 9 unknown.
    fn size(t: &StoreTask) -> Option<u64> {
        (t.ami_id.as_deref() != Some("ami-00000009")).then_some(100)
    }

    #[test]
    fn throughput_is_progress_times_size_over_time_completions_included() {
        let mut tp = Throughput::default();
        use TaskState::*;
        tp.record(&[task(1, 10, InProgress), task(2, 90, InProgress)], t0(), size);
        assert_eq!(tp.gb_per_min(), None, "one poll tells no pace");
        // A minute later: 1 moved 10% of 100 GB, 2 completed (10% more): 20 GB a minute.
        tp.record(&[task(1, 20, InProgress), task(2, 100, Completed)], t0() + Duration::minutes(1), size);
        assert_eq!(tp.gb_per_min(), Some(20.0));
        assert_eq!(tp.per_task_gb_per_min(), Some(10.0), "two moved");
        assert_eq!(tp.polls(), 1);
        // The same poll again changes nothing; an unknown size neither adds nor stalls.
        tp.record(&[task(1, 20, InProgress)], t0() + Duration::minutes(1), size);
        tp.record(&[task(1, 30, InProgress), task(9, 50, InProgress)], t0() + Duration::minutes(2), size);
        assert_eq!(tp.gb_per_min(), Some(15.0), "30 GB over two minutes");
        assert_eq!(tp.per_task_gb_per_min(), Some(10.0), "30 GB over three task-minutes");
        assert_eq!(tp.polls(), 2);
    }

    #[test]
    fn the_window_forgets_old_intervals_and_idle_ones_do_not_count() {
        let mut tp = Throughput::default();
        let mut at = t0();
        // Nothing in progress for a while: no intervals.
        tp.record(&[], at, size);
        at += Duration::minutes(5);
        tp.record(&[task(1, 0, TaskState::InProgress)], at, size);
        assert_eq!(tp.polls(), 0);
        // Slow (1% every two minutes), then fast (1% a minute): the window ends up measuring
        // the fast pace alone.
        let mut progress = 0u8;
        for n in 1..=75 {
            progress += if n <= 10 { u8::from(n % 2 == 0) } else { 1 };
            at += Duration::minutes(1);
            tp.record(&[task(1, progress, TaskState::InProgress)], at, size);
        }
        // Sixty one-minute intervals span the window, all at the fast pace.
        assert_eq!(tp.polls(), 60);
        assert_eq!(tp.gb_per_min(), Some(1.0));
    }

    #[test]
    fn what_is_left_counts_the_half_percent_the_service_rounds_away() {
        assert_eq!(left_gb(0, 200), 200.0, "at 0% nothing has moved");
        assert_eq!(left_gb(50, 200), 99.0);
        assert_eq!(left_gb(100, 200), 0.0);
        assert_eq!(left_gb(250, 200), 0.0, "a progress past 100 is 100");
    }

    #[test]
    fn a_queued_task_starts_when_the_first_moving_one_ends() {
        // Two move, 10 GB a minute each: 50 and 100 GB left. A third waits.
        let job = |size_gb, left_gb, moving, mins| Job {
            size_gb,
            left_gb,
            moving,
            start: Some(t0() + Duration::minutes(mins)),
        };
        let jobs = [job(100.0, 50.0, true, 0), job(200.0, 100.0, true, 0), job(30.0, 30.0, false, 1)];
        let p = schedule(&jobs, 10.0, None);
        assert_eq!(p[0], TaskPlan { starts_in_min: 0.0, done_in_min: 5.0 });
        assert_eq!(p[1], TaskPlan { starts_in_min: 0.0, done_in_min: 10.0 });
        assert_eq!(p[2], TaskPlan { starts_in_min: 5.0, done_in_min: 8.0 });
        // With a 250 GB quota the same: 300 held, the first end (100 GB) brings it to 200.
        assert_eq!(schedule(&jobs, 10.0, Some(250))[2], TaskPlan { starts_in_min: 5.0, done_in_min: 8.0 });
        // With a 150 GB quota it waits for both (200 GB still held after the first).
        assert_eq!(schedule(&jobs, 10.0, Some(150))[2], TaskPlan { starts_in_min: 10.0, done_in_min: 13.0 });
        // With a 400 GB quota it would have been admitted already: it starts now.
        assert_eq!(schedule(&jobs, 10.0, Some(400))[2].starts_in_min, 0.0);
        // Nothing moving yet: the first waiting one starts now.
        let idle = [job(40.0, 40.0, false, 0), job(20.0, 20.0, false, 1)];
        let p = schedule(&idle, 10.0, None);
        assert_eq!((p[0].done_in_min, p[1].starts_in_min, p[1].done_in_min), (4.0, 4.0, 6.0));
        assert!(schedule(&jobs, 0.0, None).iter().all(|p| p.done_in_min == 0.0), "no pace, no plan");
    }

    #[test]
    fn a_plan_needs_every_size_for_all_done_and_says_what_it_stands_on() {
        let mut tp = Throughput::default();
        use TaskState::*;
        tp.record(&[task(1, 10, InProgress), task(2, 0, InProgress)], t0(), size);
        let later = [task(1, 20, InProgress), task(2, 0, InProgress)];
        tp.record(&later, t0() + Duration::minutes(1), size);
        let plan = tp.plan(&later, None, size);
        let basis = plan.basis.unwrap();
        // Task 1 says 20%: it is 20.5% done on average (the service rounds down), 79.5 GB left.
        assert_eq!((basis.gb_per_min, basis.polls, basis.gb_left), (10.0, 1, 179.5));
        // Task 1: 79.5 GB at 10 a minute; task 2 waits for it, then 100 GB.
        let key = |n: usize| later[n].key();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let (p0, p1) = (plan.tasks[&key(0)], plan.tasks[&key(1)]);
        assert!(close(p0.starts_in_min, 0.0) && close(p0.done_in_min, 7.95), "{p0:?}");
        assert!(close(p1.starts_in_min, 7.95) && close(p1.done_in_min, 17.95), "{p1:?}");
        assert!(plan.all_done_in_min.is_some_and(|m| close(m, 17.95)));
        let with_unknown = [task(1, 20, InProgress), task(9, 30, InProgress)];
        let plan = tp.plan(&with_unknown, None, size);
        assert_eq!(plan.all_done_in_min, None, "an unknown size leaves all done to the per-task estimate");
        assert!(plan.tasks.contains_key(&with_unknown[0].key()) && !plan.tasks.contains_key(&with_unknown[1].key()));
    }
}
