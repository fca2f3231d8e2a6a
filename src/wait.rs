//! `--wait`: poll until every selected task has ended, for scripts and CI.
//!
//! Exit codes: 0 every task completed, 1 any failed (listed with reasons) or an error,
//! 3 nothing matched the selection, 124 `--timeout` passed first.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::app::eta::History;
use crate::ec2::{self, Ec2, Paging, Selection};
use crate::output::{self, Format};
use crate::task::{StoreTask, TaskState};
use crate::text::duration_short;
use crate::text::safe;

pub const EXIT_NOTHING_MATCHED: u8 = 3;
pub const EXIT_TIMEOUT: u8 = 124;

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub interval: Duration,
    pub timeout: Option<Duration>,
    pub output: Format,
    pub page_size: i32,
}

/// A tracked task's identity: its AMI when watching AMIs (a retry replaces a failed task),
/// its AMI and start time otherwise.
type Key = (Option<String>, Option<i64>);

fn key(t: &StoreTask, by_ami: bool) -> Key {
    (t.ami_id.clone(), if by_ami { None } else { t.start_time.map(|s| s.timestamp()) })
}

/// Counts for the progress line.
fn summary(tasks: &[StoreTask], history: &History, at: chrono::DateTime<Utc>) -> String {
    let count = |s: TaskState| tasks.iter().filter(|t| t.state.as_ref() == Some(&s)).count();
    let running: Vec<&StoreTask> = tasks.iter().filter(|t| t.is_in_progress()).collect();
    let mut line = format!("{} tasks: {} in progress", tasks.len(), running.len());
    if !running.is_empty() {
        let avg = running.iter().map(|t| u32::from(t.progress.unwrap_or(0))).sum::<u32>() / running.len() as u32;
        line.push_str(&format!(" (avg {avg}%"));
        let lefts: Option<Vec<_>> = running.iter().map(|t| history.estimate(t, at).map(|e| e.left)).collect();
        if let Some(longest) = lefts.and_then(|l| l.into_iter().max()) {
            line.push_str(&format!(", all done ~{}", duration_short(longest.num_seconds())));
        }
        line.push(')');
    }
    line.push_str(&format!(", {} completed, {} failed", count(TaskState::Completed), count(TaskState::Failed)));
    line
}

fn describe(t: &StoreTask) -> String {
    format!(
        "{} {} {}%{}",
        safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")),
        t.state.as_ref().map_or("unknown", |s| s.as_wire()),
        t.progress.map_or("?".into(), |p| p.to_string()),
        t.bucket.as_deref().map_or(String::new(), |b| format!(" s3://{}", safe(b)))
    )
}

/// Waits for the selected tasks; returns the exit code.
pub async fn wait(clients: &[Ec2], sel: &Selection, opts: &WaitOptions) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let by_ami = !sel.image_ids.is_empty();
    // States only choose the tasks at the start: a task that completes must stay tracked.
    let fetch_sel = Selection { states: Vec::new(), ..sel.clone() };
    let paging = Paging { page_size: opts.page_size, ..Paging::default() };
    let live = io::stderr().is_terminal();
    let mut history = History::default();
    let mut tracked: Option<HashMap<Key, StoreTask>> = None;
    let mut order: Vec<Key> = Vec::new();
    let mut first = true;

    loop {
        let fetched = fetch_regions(clients, &fetch_sel, &paging).await;
        let tasks = match fetched {
            Ok(t) => t,
            Err(e) if e.is_transient() && tracked.is_some() => {
                eprintln!("amiwatch: {} (still waiting)", e.summary());
                Vec::new()
            }
            Err(e) => anyhow::bail!(e.summary()),
        };
        let now = Utc::now();
        let map = tracked.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for t in tasks.iter().filter(|t| sel.matches(t)) {
                let k = key(t, by_ami);
                if let std::collections::hash_map::Entry::Vacant(e) = m.entry(k) {
                    order.push(e.key().clone());
                    e.insert(t.clone());
                }
            }
            m
        });
        if map.is_empty() {
            eprintln!("amiwatch: nothing to wait for: no store-image task matches the selection");
            return Ok(ExitCode::from(EXIT_NOTHING_MATCHED));
        }
        // Newest first: with AMIs, a retry's task replaces the failed one.
        for t in &tasks {
            let k = key(t, by_ami);
            if let Some(old) = map.get_mut(&k)
                && (old.start_time <= t.start_time)
                && old != t
            {
                if !live && !first {
                    eprintln!("{} {}", now.format("%Y-%m-%dT%H:%M:%SZ"), describe(t));
                }
                *old = t.clone();
            }
        }
        let current: Vec<StoreTask> = order.iter().filter_map(|k| map.get(k).cloned()).collect();
        history.record(&current, now);
        if first && !live {
            for t in &current {
                eprintln!("{} {}", now.format("%Y-%m-%dT%H:%M:%SZ"), describe(t));
            }
        }
        first = false;
        let line = summary(&current, &history, now);
        if live {
            eprint!("\r\x1b[2Kwaiting for {line} · {} elapsed", duration_short(started.elapsed().as_secs() as i64));
            let _ = io::stderr().flush();
        }
        if current.iter().all(|t| t.state.as_ref().is_some_and(TaskState::is_final)) {
            if live {
                eprintln!();
            }
            return finish(&current, opts.output);
        }
        if let Some(limit) = opts.timeout
            && started.elapsed() + opts.interval > limit
        {
            let left = limit.saturating_sub(started.elapsed());
            tokio::time::sleep(left).await;
            if live {
                eprintln!();
            }
            eprintln!("amiwatch: timed out after {}: {line}", duration_short(limit.as_secs() as i64));
            print_set(&current, opts.output)?;
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        tokio::time::sleep(opts.interval).await;
    }
}

/// Every region's tasks, one after the other; any region's failure fails the poll.
async fn fetch_regions(clients: &[Ec2], sel: &Selection, paging: &Paging) -> Result<Vec<StoreTask>, ec2::FetchError> {
    let mut tasks = Vec::new();
    for ec2 in clients {
        let region = ec2.region.clone().unwrap_or_default();
        let f = ec2::fetch_all_retrying(ec2, sel, paging, 3, |e, wait| {
            eprintln!("amiwatch: {region}: {}; retrying in {}s", e.summary(), wait.as_secs());
        })
        .await?;
        tasks.extend(f.tasks);
    }
    Ok(tasks)
}

fn print_set(tasks: &[StoreTask], format: Format) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match output::write(&mut out, format, tasks, None, None, false).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn finish(tasks: &[StoreTask], format: Format) -> anyhow::Result<ExitCode> {
    print_set(tasks, format)?;
    let failed: Vec<&StoreTask> = tasks.iter().filter(|t| t.state == Some(TaskState::Failed)).collect();
    if failed.is_empty() {
        eprintln!("amiwatch: all {} tasks completed", tasks.len());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("amiwatch: {} of {} tasks failed:", failed.len(), tasks.len());
    for t in failed {
        eprintln!(
            "  {} {}: {}",
            safe(t.ami_id.as_deref().unwrap_or("(no AMI ID)")),
            t.s3_uri().map(|u| safe(&u).into_owned()).unwrap_or_default(),
            safe(t.failure_reason.as_deref().unwrap_or("no reason given"))
        );
    }
    Ok(ExitCode::FAILURE)
}
