//! `--wait`: poll every feed until every selected task has ended, for scripts and CI.
//!
//! Runs on the same pollers as the dashboard (same retries and backoff). Exit codes: 0 every
//! task completed, 1 any failed (listed with reasons) or an error waiting cannot fix, 3
//! nothing matched the selection, 124 `--timeout` passed first (after one last poll).
//!
//! A task in a state this build does not know is not an end: it is named once on stderr and
//! waited for like a task in progress, so `--timeout` bounds it.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::ec2::poller::{Ec2Source, Source};
use crate::ec2::{Feed, Paging, PollEvent, Pollers, Schedule, Selection, Snapshot};
use crate::eta::History;
use crate::output::{self, Format};
use crate::task::{StoreTask, TaskKey, TaskState};
use crate::text::{duration_short, safe};

pub const EXIT_NOTHING_MATCHED: u8 = 3;
pub const EXIT_TIMEOUT: u8 = 124;

/// How long the last poll at the deadline may take before `--wait` gives up on it.
const LAST_LOOK: Duration = Duration::from_secs(5);
/// Failed polls of a feed before its first answer, after which `--wait` gives up.
const FIRST_POLL_RETRIES: u32 = 3;

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub interval: Duration,
    pub sweep_interval: Duration,
    pub timeout: Option<Duration>,
    pub output: Format,
    pub page_size: i32,
}

/// What one tracked entry follows: a task, or (with `--image-id`) the AMI's latest task, so
/// that a retry of a failed export replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Track {
    Task(TaskKey),
    LatestOf(std::sync::Arc<str>),
}

#[derive(Debug, Clone)]
struct Tracked {
    feed: usize,
    track: Track,
    task: StoreTask,
}

/// Where the wait stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not every feed has answered yet: the set is not chosen.
    Starting,
    NothingMatched,
    Waiting,
    AllEnded,
}

/// The wait's state: the chosen set and each feed's progress history. No I/O, so it is
/// unit-tested with poller events made by hand.
#[derive(Debug)]
pub struct Waiter {
    sel: Selection,
    by_ami: bool,
    /// Each feed's history, sampled at that feed's own fetch times, from snapshots only.
    history: Vec<History>,
    /// Each feed's first snapshot, until every feed has one and the set is chosen.
    first: Vec<Option<Arc<Snapshot>>>,
    tracked: Option<Vec<Tracked>>,
    /// Unknown states already named on stderr.
    named_unknown: Vec<String>,
}

impl Waiter {
    pub fn new(feeds: usize, sel: Selection) -> Self {
        Self {
            by_ami: !sel.image_ids.is_empty(),
            sel,
            history: vec![History::default(); feeds],
            first: vec![None; feeds],
            tracked: None,
            named_unknown: Vec::new(),
        }
    }

    /// Takes feed `f`'s new snapshot; returns the positions of tracked tasks that changed
    /// (every one, when this snapshot completes the first round and the set is chosen).
    pub fn on_snapshot(&mut self, f: usize, snap: Arc<Snapshot>) -> Vec<usize> {
        let Some(history) = self.history.get_mut(f) else { return Vec::new() };
        history.record(&snap.tasks, snap.fetched_at);
        let Some(tracked) = &mut self.tracked else {
            self.first[f] = Some(snap);
            if self.first.iter().all(Option::is_some) {
                let chosen = self.choose();
                let n = chosen.len();
                self.tracked = Some(chosen);
                return (0..n).collect();
            }
            return Vec::new();
        };
        // Each task of the snapshot by its key, and each AMI's latest task: one pass, so a wait
        // on thousands of tasks costs the same per poll as a wait on a few.
        let mut by_key: HashMap<TaskKey, &StoreTask> = HashMap::with_capacity(snap.tasks.len());
        let mut latest: HashMap<&str, &StoreTask> = HashMap::new();
        for x in &snap.tasks {
            by_key.entry(x.key()).or_insert(x);
            if let Some(ami) = x.ami_id.as_deref() {
                let e = latest.entry(ami).or_insert(x);
                if x.start_time > e.start_time {
                    *e = x;
                }
            }
        }
        let mut changed = Vec::new();
        for (n, t) in tracked.iter_mut().enumerate().filter(|(_, t)| t.feed == f) {
            let now = match &t.track {
                Track::Task(key) => by_key.get(key).copied(),
                Track::LatestOf(ami) => latest.get(&**ami).copied(),
            };
            // A task that left the listing (the 31-day window) keeps its last known state.
            if let Some(now) = now
                && *now != t.task
                && now.start_time >= t.task.start_time
            {
                t.task = now.clone();
                changed.push(n);
            }
        }
        changed
    }

    /// The set, chosen from every feed's first snapshot with the state and bucket filters:
    /// states only choose; a task that completes stays tracked. Only the latest task of each
    /// AMI is waited on: an old failure whose retry completed is history, not a failure.
    fn choose(&mut self) -> Vec<Tracked> {
        let mut out: Vec<Tracked> = Vec::new();
        for (f, snap) in self.first.iter().enumerate() {
            let Some(snap) = snap else { continue };
            let mut latest: HashMap<&str, &StoreTask> = HashMap::new();
            for t in &snap.tasks {
                if let Some(ami) = t.ami_id.as_deref() {
                    let e = latest.entry(ami).or_insert(t);
                    if t.start_time > e.start_time {
                        *e = t;
                    }
                }
            }
            let is_latest =
                |t: &StoreTask| t.ami_id.as_deref().is_none_or(|a| latest.get(a).is_some_and(|l| std::ptr::eq(*l, t)));
            for t in snap.tasks.iter().filter(|t| is_latest(t) && self.sel.matches(t)) {
                let track = match (&t.ami_id, self.by_ami) {
                    (Some(ami), true) => Track::LatestOf(ami.clone()),
                    _ => Track::Task(t.key()),
                };
                if !out.iter().any(|o| o.feed == f && o.track == track) {
                    out.push(Tracked { feed: f, track, task: t.clone() });
                }
            }
        }
        self.first.iter_mut().for_each(|s| *s = None);
        out
    }

    pub fn progress(&self) -> Progress {
        match &self.tracked {
            None => Progress::Starting,
            Some(t) if t.is_empty() => Progress::NothingMatched,
            Some(t) if t.iter().all(|t| t.task.state.as_ref().is_some_and(TaskState::is_final)) => Progress::AllEnded,
            Some(_) => Progress::Waiting,
        }
    }

    /// The tracked tasks with their feeds, in the order chosen.
    pub fn tasks(&self) -> Vec<(usize, &StoreTask)> {
        self.tracked.iter().flatten().map(|t| (t.feed, &t.task)).collect()
    }

    /// States this build does not know, not named before: say each once.
    fn new_unknown_states(&mut self) -> Vec<String> {
        let mut fresh = Vec::new();
        for t in self.tracked.iter().flatten() {
            if let Some(TaskState::Other(s)) = &t.task.state
                && !self.named_unknown.contains(s)
            {
                self.named_unknown.push(s.clone());
                fresh.push(s.clone());
            }
        }
        fresh
    }

    /// Counts for the progress line, with the time left of the slowest task in progress.
    fn summary(&self, at: DateTime<Utc>) -> String {
        let tasks = self.tasks();
        let count = |s: TaskState| tasks.iter().filter(|(_, t)| t.state.as_ref() == Some(&s)).count();
        let running: Vec<&(usize, &StoreTask)> = tasks.iter().filter(|(_, t)| t.is_in_progress()).collect();
        let mut line = format!("{} tasks: {} in progress", tasks.len(), running.len());
        if !running.is_empty() {
            let avg =
                running.iter().map(|(_, t)| u32::from(t.progress.unwrap_or(0))).sum::<u32>() / running.len() as u32;
            line.push_str(&format!(" (avg {avg}%"));
            let lefts: Option<Vec<_>> =
                running.iter().map(|(f, t)| self.history[*f].estimate(t, at).map(|e| e.left)).collect();
            if let Some(longest) = lefts.and_then(|l| l.into_iter().max()) {
                line.push_str(&format!(", all done ~{}", duration_short(longest.num_seconds())));
            }
            line.push(')');
        }
        line.push_str(&format!(", {} completed, {} failed", count(TaskState::Completed), count(TaskState::Failed)));
        line
    }
}

fn describe(t: &StoreTask) -> String {
    format!(
        "{} {} {}%{}",
        safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")),
        safe(t.state.as_ref().map_or("unknown", |s| s.as_wire())),
        t.progress.map_or("?".into(), |p| p.to_string()),
        t.bucket.as_deref().map_or(String::new(), |b| format!(" s3://{}", safe(b)))
    )
}

/// Waits for the selected tasks of every feed; returns the exit code.
pub async fn wait(feeds: &[Feed], sel: &Selection, opts: &WaitOptions) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
    // States only choose the tasks at the start: a task that completes must stay tracked.
    let fetch_sel = Selection { states: Vec::new(), ..sel.clone() };
    let paging = Paging { page_size: opts.page_size, ..Paging::default() };
    let sources: Vec<Arc<dyn Source>> = feeds
        .iter()
        .map(|f| {
            Arc::new(Ec2Source {
                ec2: f.ec2.clone(),
                selection: fetch_sel.clone(),
                paging: paging.clone(),
                names: false,
            }) as _
        })
        .collect();
    let schedule = Schedule {
        interval: opts.interval,
        idle_interval: opts.interval,
        sweep_interval: opts.sweep_interval,
        ..Schedule::default()
    };
    let mut pollers = Pollers::spawn(sources, schedule);
    let live = io::stderr().is_terminal();
    let named = feeds.len() > 1;
    let who = |f: usize| if named { format!("{}: ", safe(&feeds[f].info.label())) } else { String::new() };
    let mut w = Waiter::new(feeds.len(), sel.clone());
    let mut answered = vec![false; feeds.len()];
    let mut timed_out = false;

    loop {
        let event = tokio::select! {
            ev = pollers.recv() => ev,
            _ = sleep_until(deadline), if !timed_out => {
                // One last poll at the deadline, so a task that ended in the last interval
                // is reported as ended, not as a timeout.
                timed_out = true;
                pollers.refresh();
                let look = last_look(&mut pollers, &mut w, feeds.len(), &who).await;
                if let Some(fatal) = look {
                    if live {
                        eprintln!();
                    }
                    anyhow::bail!(fatal);
                }
                None
            }
        };
        if timed_out && !matches!(w.progress(), Progress::AllEnded) {
            if live {
                eprintln!();
            }
            let limit = opts.timeout.unwrap_or_default();
            let state = match w.progress() {
                Progress::Starting => "before every feed had answered".to_string(),
                _ => w.summary(Utc::now()),
            };
            eprintln!("amiwatch: timed out after {}: {state}", duration_short(limit.as_secs() as i64));
            print_set(feeds, &w, opts.output).await?;
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        match event {
            Some((f, Some(PollEvent::Snapshot { snapshot, .. }))) => {
                answered[f] = true;
                let at = snapshot.fetched_at;
                let changed = w.on_snapshot(f, snapshot);
                if !live {
                    let tasks = w.tasks();
                    for n in changed {
                        let (feed, t) = tasks[n];
                        eprintln!("{} {}{}", at.format("%Y-%m-%dT%H:%M:%SZ"), who(feed), describe(t));
                    }
                }
                for s in w.new_unknown_states() {
                    eprintln!(
                        "amiwatch: a task is in state '{}', which this amiwatch does not know: it is waited for \
                         until it reaches Completed or Failed (bound the wait with --timeout)",
                        safe(&s)
                    );
                }
            }
            Some((f, Some(PollEvent::Failed { error, consecutive, retry_in, .. }))) => {
                let first = !answered[f];
                if !error.is_transient() || (first && consecutive > FIRST_POLL_RETRIES) {
                    if live {
                        eprintln!();
                    }
                    anyhow::bail!("{}{error}", who(f));
                }
                if live {
                    eprintln!();
                }
                eprintln!("amiwatch: {}{error} (still waiting; next try in {}s)", who(f), retry_in.as_secs().max(1));
            }
            Some((
                _,
                Some(
                    PollEvent::Polling
                    | PollEvent::Names { .. }
                    | PollEvent::NamesUnavailable { .. }
                    | PollEvent::NamesIncomplete { .. },
                ),
            ))
            | None
                if !timed_out =>
            {
                continue;
            }
            Some((f, None)) => {
                anyhow::bail!("{}the poller stopped unexpectedly: {}", who(f), pollers.why_ended(f))
            }
            _ => {}
        }
        match w.progress() {
            Progress::Starting => continue,
            Progress::NothingMatched => {
                eprintln!("amiwatch: nothing to wait for: no store-image task matches the selection");
                return Ok(ExitCode::from(EXIT_NOTHING_MATCHED));
            }
            Progress::AllEnded => {
                if live {
                    eprintln!();
                }
                return finish(feeds, &w, opts.output).await;
            }
            Progress::Waiting if live => {
                let line = w.summary(Utc::now());
                let elapsed = duration_short(started.elapsed().as_secs() as i64);
                eprint!("\r\x1b[2Kwaiting for {line} · {elapsed} elapsed");
                let _ = io::stderr().flush();
            }
            Progress::Waiting => {}
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Waits (at most [`LAST_LOOK`]) for one answer of every feed after a refresh; returns the
/// error to end with if a feed failed in a way waiting cannot fix (a key revoked before the
/// deadline is that error, not a timeout). `who` names feed `f` in it.
async fn last_look(
    pollers: &mut Pollers,
    w: &mut Waiter,
    feeds: usize,
    who: &dyn Fn(usize) -> String,
) -> Option<String> {
    let until = tokio::time::Instant::now() + LAST_LOOK;
    let mut answered = vec![false; feeds];
    while answered.iter().any(|a| !a) {
        let ev = tokio::select! {
            ev = pollers.recv() => ev,
            _ = tokio::time::sleep_until(until) => return None,
        };
        match ev {
            Some((f, Some(PollEvent::Snapshot { snapshot, .. }))) => {
                answered[f] = true;
                w.on_snapshot(f, snapshot);
            }
            Some((f, Some(PollEvent::Failed { error, .. }))) if !error.is_transient() => {
                return Some(format!("{}{error}", who(f)));
            }
            Some((f, Some(PollEvent::Failed { .. }))) => answered[f] = true,
            Some((_, Some(_))) => {}
            Some((f, None)) => return Some(format!("{}the poller stopped unexpectedly", who(f))),
            None => return None,
        }
    }
    None
}

/// How long looking up the AMIs' names for the final table may take.
const NAMES_TIME: Duration = Duration::from_secs(20);

async fn print_set(feeds: &[Feed], w: &Waiter, format: Format) -> anyhow::Result<()> {
    // The table and CSV name each AMI, as --once's do; the JSON stays the AWS CLI's.
    let name = format != Format::Json;
    let mut per_feed: Vec<Vec<&StoreTask>> = vec![Vec::new(); feeds.len()];
    for (f, t) in w.tasks() {
        per_feed[f].push(t);
    }
    let names = if name {
        crate::once::names_for(feeds, &per_feed, crate::ec2::feed::Deadline::after(NAMES_TIME), "").await
    } else {
        Vec::new()
    };
    let rows: Vec<output::Row<'_>> = w
        .tasks()
        .into_iter()
        .map(|(f, t)| output::Row {
            feed: &feeds[f].info,
            task: t,
            naming: names.get(f).and_then(|m| m.get(t.ami_id.as_deref()?)),
        })
        .collect();
    let mut out = io::stdout().lock();
    let extra = output::Extra { feed: feeds.len() > 1, name };
    let res = output::write(&mut out, format, &rows, None, None, extra).and_then(|()| out.flush());
    crate::run::quiet_on_broken_pipe(res)
}

async fn finish(feeds: &[Feed], w: &Waiter, format: Format) -> anyhow::Result<ExitCode> {
    print_set(feeds, w, format).await?;
    let tasks = w.tasks();
    let failed: Vec<&(usize, &StoreTask)> = tasks.iter().filter(|(_, t)| t.state == Some(TaskState::Failed)).collect();
    if failed.is_empty() {
        eprintln!("amiwatch: all {} tasks completed", tasks.len());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("amiwatch: {} of {} tasks failed:", failed.len(), tasks.len());
    for (f, t) in failed {
        let feed = if feeds.len() > 1 { format!(" ({})", safe(&feeds[*f].info.label())) } else { String::new() };
        eprintln!(
            "  {}{feed} {}: {}",
            safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")),
            t.s3_uri().map(|u| safe(&u).into_owned()).unwrap_or_default(),
            safe(t.failure_reason.as_deref().unwrap_or("no reason given"))
        );
    }
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as ChronoDuration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    fn task(ami: &str, mins_ago: i64, state: TaskState, progress: u8) -> StoreTask {
        StoreTask {
            ami_id: Some(ami.into()),
            start_time: Some(t0() - ChronoDuration::minutes(mins_ago)),
            progress: Some(progress),
            state: Some(state),
            ..StoreTask::default()
        }
    }

    fn snap(tasks: Vec<StoreTask>, secs: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot { tasks: tasks.into(), fetched_at: t0() + ChronoDuration::seconds(secs), next_token: None })
    }

    fn in_progress() -> Selection {
        Selection { states: vec![TaskState::InProgress], ..Selection::default() }
    }

    #[test]
    fn the_set_is_chosen_once_every_feed_has_answered() {
        let mut w = Waiter::new(2, in_progress());
        let a = vec![
            task("ami-0000000a", 30, TaskState::InProgress, 10),
            task("ami-0000000b", 90, TaskState::Completed, 100),
        ];
        assert!(w.on_snapshot(0, snap(a.clone(), 0)).is_empty());
        assert_eq!(w.progress(), Progress::Starting, "the second feed has not answered");
        let b = vec![task("ami-0000000c", 20, TaskState::InProgress, 50)];
        assert_eq!(w.on_snapshot(1, snap(b, 0)), vec![0, 1]);
        assert_eq!(w.progress(), Progress::Waiting);
        let ids: Vec<_> = w.tasks().iter().map(|(f, t)| (*f, t.ami_id.clone().unwrap())).collect();
        assert_eq!(ids, vec![(0, "ami-0000000a".into()), (1, "ami-0000000c".into())]);
        // The first feed's task ends; the second's is still running.
        let a2 = vec![task("ami-0000000a", 30, TaskState::Completed, 100)];
        assert_eq!(w.on_snapshot(0, snap(a2, 5)), vec![0]);
        assert_eq!(w.progress(), Progress::Waiting);
        let b2 = vec![task("ami-0000000c", 20, TaskState::Failed, 60)];
        assert_eq!(w.on_snapshot(1, snap(b2, 5)), vec![1]);
        assert_eq!(w.progress(), Progress::AllEnded);
    }

    #[test]
    fn bare_wait_follows_the_latest_task_of_each_ami() {
        // ami-a failed an hour ago and its retry completed; ami-b is running.
        let mut w = Waiter::new(1, Selection::default());
        let tasks = vec![
            task("ami-0000000a", 60, TaskState::Failed, 40),
            task("ami-0000000a", 20, TaskState::Completed, 100),
            task("ami-0000000b", 10, TaskState::InProgress, 30),
        ];
        w.on_snapshot(0, snap(tasks, 0));
        let chosen: Vec<_> = w.tasks().iter().map(|(_, t)| (t.ami_id.clone().unwrap(), t.state.clone())).collect();
        assert_eq!(
            chosen,
            vec![
                ("ami-0000000a".into(), Some(TaskState::Completed)),
                ("ami-0000000b".into(), Some(TaskState::InProgress))
            ]
        );
        w.on_snapshot(0, snap(vec![task("ami-0000000b", 10, TaskState::Completed, 100)], 5));
        assert_eq!(w.progress(), Progress::AllEnded, "the old failure is not waited on");
        // --state failed picks the AMIs whose latest attempt failed: here, none.
        let mut w = Waiter::new(1, Selection { states: vec![TaskState::Failed], ..Selection::default() });
        w.on_snapshot(
            0,
            snap(
                vec![
                    task("ami-0000000a", 60, TaskState::Failed, 40),
                    task("ami-0000000a", 20, TaskState::Completed, 100),
                ],
                0,
            ),
        );
        assert_eq!(w.progress(), Progress::NothingMatched);
    }

    #[test]
    fn nothing_matching_is_told_apart_from_not_started() {
        let mut w = Waiter::new(1, in_progress());
        assert_eq!(w.progress(), Progress::Starting);
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 30, TaskState::Completed, 100)], 0));
        assert_eq!(w.progress(), Progress::NothingMatched);
    }

    #[test]
    fn a_retry_replaces_the_failed_task_of_a_watched_ami() {
        let sel = Selection { image_ids: vec!["ami-0000000a".into()], ..Selection::default() };
        let mut w = Waiter::new(1, sel);
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 60, TaskState::Failed, 40)], 0));
        assert_eq!(w.progress(), Progress::AllEnded);
        let mut w = Waiter::new(1, Selection { image_ids: vec!["ami-0000000a".into()], ..Selection::default() });
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 60, TaskState::InProgress, 40)], 0));
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 1, TaskState::InProgress, 2)], 5));
        assert_eq!(w.tasks()[0].1.progress, Some(2), "the newer attempt is the one followed");
    }

    #[test]
    fn progress_is_sampled_from_snapshots_only() {
        // A failed poll between two snapshots adds no sample: the task does not look stalled.
        let mut w = Waiter::new(1, in_progress());
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 30, TaskState::InProgress, 10)], 0));
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 30, TaskState::InProgress, 20)], 300));
        let t = task("ami-0000000a", 30, TaskState::InProgress, 20);
        assert_eq!(w.history[0].samples(&t).len(), 2);
        let e = w.history[0].estimate(&t, t0() + ChronoDuration::seconds(300)).unwrap();
        assert!((e.rate_per_min - 2.0).abs() < 0.01, "10% in 5 minutes: {e:?}");
    }

    #[test]
    fn an_unknown_state_is_named_once_and_not_taken_for_an_end() {
        let mut w = Waiter::new(1, Selection::default());
        w.on_snapshot(0, snap(vec![task("ami-0000000a", 30, TaskState::Other("Paused".into()), 10)], 0));
        assert_eq!(w.progress(), Progress::Waiting);
        assert_eq!(w.new_unknown_states(), vec!["Paused".to_string()]);
        assert!(w.new_unknown_states().is_empty());
    }
}
