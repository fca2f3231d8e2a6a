//! `--once`: every feed fetched once, side by side, on the same pollers (and so the same
//! retries and backoff) as the dashboard, then printed.
//!
//! A partial list is never passed off as complete: when any feed fails, nothing is printed
//! and the exit code is 1, unless `--partial` asks for the feeds that answered (exit 1 still).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use crate::ec2::feed::Deadline;
use crate::ec2::poller::{Ec2Source, Source};
use crate::ec2::{Feed, FetchError, Paging, PollEvent, Pollers, Schedule, Selection, Snapshot};
use crate::image::Naming;
use crate::output::{self, Format};
use crate::text::safe;

/// Failed polls of one feed before `--once` gives it up, on top of the SDK's own retries.
pub const ONCE_RETRIES: u32 = 3;

/// The backoff between those polls: 1 s, then 2 s, then 4 s (with jitter).
fn schedule() -> Schedule {
    Schedule {
        interval: Duration::from_secs(1),
        idle_interval: Duration::from_secs(1),
        max_backoff: Duration::from_secs(8),
        ..Schedule::default()
    }
}

/// Fetches every feed once. A feed's transient failure is tried again up to `retries` times,
/// announced through `on_retry`; an error waiting cannot fix (credentials, permissions)
/// ends that feed at once; a feed with no complete answer within `max_time` has failed.
/// The results are in the feeds' order.
pub async fn fetch_feeds(
    feeds: &[Feed],
    sel: &Selection,
    paging: &Paging,
    retries: u32,
    max_time: Duration,
    on_retry: impl FnMut(usize, &FetchError, Duration),
) -> Vec<Result<Arc<Snapshot>, FetchError>> {
    fetch_feeds_until(feeds, sel, paging, retries, Deadline::after(max_time), on_retry).await
}

/// [`fetch_feeds`], within a deadline the caller set (the command's one `--max-time`).
pub async fn fetch_feeds_until(
    feeds: &[Feed],
    sel: &Selection,
    paging: &Paging,
    retries: u32,
    until: Deadline,
    mut on_retry: impl FnMut(usize, &FetchError, Duration),
) -> Vec<Result<Arc<Snapshot>, FetchError>> {
    let deadline = until.at;
    let sources: Vec<Arc<dyn Source>> = feeds
        .iter()
        .map(|f| {
            Arc::new(Ec2Source { ec2: f.ec2.clone(), selection: sel.clone(), paging: paging.clone(), names: false })
                as _
        })
        .collect();
    let mut results: Vec<Option<Result<Arc<Snapshot>, FetchError>>> = vec![None; feeds.len()];
    let mut pollers = Pollers::spawn(sources, schedule());
    while results.iter().any(Option::is_none) {
        let next = tokio::select! {
            ev = pollers.recv() => ev,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some((idx, event)) = next else { break };
        if results[idx].is_some() {
            continue;
        }
        let done = match event {
            Some(PollEvent::Snapshot { snapshot, .. }) => Ok(snapshot),
            Some(PollEvent::Failed { error, retry_in, consecutive, .. }) => {
                if error.is_transient() && consecutive <= retries {
                    on_retry(idx, &error, retry_in);
                    continue;
                }
                Err(error)
            }
            Some(
                PollEvent::Polling
                | PollEvent::Names { .. }
                | PollEvent::NamesUnavailable { .. }
                | PollEvent::NamesIncomplete { .. },
            ) => continue,
            None => Err(FetchError::new(
                crate::ec2::ErrorKind::Other,
                format!("the poller stopped unexpectedly: {}", pollers.why_ended(idx)),
            )),
        };
        // A feed with its answer makes no further requests.
        pollers.stop(idx);
        results[idx] = Some(done);
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(until.passed()))).collect()
}

/// Each feed's AMI names (`DescribeImages`, 100 AMIs a request), side by side, within what is
/// left of the command's deadline. A feed whose names cannot be had is said on stderr, once,
/// and printed without them.
async fn names_of(
    feeds: &[Feed],
    results: &[Result<Arc<Snapshot>, FetchError>],
    deadline: Deadline,
) -> Vec<HashMap<String, Naming>> {
    let tasks: Vec<Vec<&crate::task::StoreTask>> =
        results.iter().map(|r| r.as_ref().map(|s| s.tasks.iter().collect()).unwrap_or_default()).collect();
    names_for(feeds, &tasks, deadline, " (--max-time)").await
}

/// The names of the AMIs of `tasks` (one list per feed), as `--once` and `--wait` print them,
/// looked up before `deadline`; `bound_by` names what set it, for the message when it passes.
pub async fn names_for(
    feeds: &[Feed],
    tasks: &[Vec<&crate::task::StoreTask>],
    deadline: Deadline,
    bound_by: &str,
) -> Vec<HashMap<String, Naming>> {
    let mut set = tokio::task::JoinSet::new();
    for (n, list) in tasks.iter().enumerate() {
        let Some(feed) = feeds.get(n).filter(|_| !list.is_empty()) else { continue };
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<String> =
            list.iter().filter_map(|t| t.ami_id.as_deref()).filter(|&a| seen.insert(a)).map(str::to_string).collect();
        let ec2 = feed.ec2.clone();
        set.spawn(async move {
            let res = tokio::time::timeout_at(deadline.at, crate::ec2::images::look_up(&ec2, &ids)).await;
            (n, ids, res)
        });
    }
    let mut out = vec![HashMap::new(); feeds.len()];
    for (n, ids, res) in set.join_all().await {
        let who = if feeds.len() > 1 { format!("{}: ", safe(&feeds[n].info.label())) } else { String::new() };
        let Ok(lookup) = res else {
            let within = crate::text::duration_short(deadline.max_time.as_secs() as i64);
            eprintln!("amiwatch: {who}names are not shown: DescribeImages did not answer within {within}{bound_by}");
            continue;
        };
        // The requests that answered are kept: a failed one loses only its own AMIs.
        let names: &mut HashMap<String, Naming> = &mut out[n];
        for info in lookup.found {
            names.insert(info.id.to_string(), Naming::of(Arc::new(info)));
        }
        let unanswered: std::collections::HashSet<&String> = lookup.unanswered.iter().collect();
        for id in ids.iter().filter(|i| !unanswered.contains(i)) {
            names.entry(id.clone()).or_insert(Naming::Deregistered);
        }
        match lookup.error {
            Some(e) if e.kind == crate::ec2::ErrorKind::Unauthorized => {
                eprintln!("amiwatch: {who}names are not shown: the caller may not call ec2:DescribeImages (optional)");
            }
            Some(e) if unanswered.len() < ids.len() => {
                eprintln!("amiwatch: {who}names of {} of {} AMIs are not shown: {e}", unanswered.len(), ids.len());
            }
            Some(e) => eprintln!("amiwatch: {who}names are not shown: {e}"),
            None => {}
        }
    }
    out
}

/// `--once`: fetch, print, and say which feeds failed. `deadline` is the whole command's,
/// set before the feeds were connected: fetching and names share what is left of it.
pub async fn run(
    feeds: &[Feed],
    sel: &Selection,
    paging: &Paging,
    format: Format,
    partial: bool,
    deadline: Deadline,
    with_names: bool,
) -> anyhow::Result<ExitCode> {
    let named = feeds.len() > 1;
    let label = |n: usize| safe(&feeds[n].info.label()).into_owned();
    let results = fetch_feeds_until(feeds, sel, paging, ONCE_RETRIES, deadline, |n, e, wait| {
        let who = if named { format!("{}: ", label(n)) } else { String::new() };
        eprintln!("amiwatch: {who}{e}; retrying in {}s", wait.as_secs().max(1));
    })
    .await;
    let failed: Vec<(usize, &FetchError)> =
        results.iter().enumerate().filter_map(|(n, r)| r.as_ref().err().map(|e| (n, e))).collect();
    for &(n, e) in &failed {
        tracing::warn!(feed = %feeds[n].info.label(), error = %e, detail = %e.detail, "fetch failed");
        match named {
            true => eprintln!("amiwatch: {}: {e}", label(n)),
            false => eprintln!("amiwatch: {e}"),
        }
    }
    if !failed.is_empty() && !partial {
        if named {
            eprintln!(
                "amiwatch: {} of {} feeds failed, so nothing was printed: a partial list is not the list. \
                 Pass --partial to print the feeds that answered.",
                failed.len(),
                feeds.len()
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    // Names for the table and CSV always; for JSON only when asked (its shape is the CLI's).
    let names = format != Format::Json || with_names;
    let named_amis = if names { names_of(feeds, &results, deadline).await } else { Vec::new() };
    let mut rows = Vec::new();
    let mut next_token = None;
    for (n, r) in results.iter().enumerate() {
        if let Ok(s) = r {
            let naming = |t: &crate::task::StoreTask| named_amis.get(n)?.get(t.ami_id.as_deref()?);
            rows.extend(s.tasks.iter().map(|t| output::Row { feed: &feeds[n].info, task: t, naming: naming(t) }));
            next_token = next_token.or(s.next_token.as_deref());
        }
    }
    let stdout = io::stdout();
    let width = stdout.is_terminal().then(|| crossterm::terminal::size().ok()).flatten().map(|(w, _)| usize::from(w));
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let extra = output::Extra { feed: named, name: names };
    let res = output::write(&mut out, format, &rows, next_token, width, extra).and_then(|()| out.flush());
    crate::run::quiet_on_broken_pipe(res)?;
    // The table ends with the token and JSON holds it; CSV rows have no place for it.
    if let (Format::Csv, Some(token)) = (format, next_token) {
        eprintln!("amiwatch: more tasks follow: resume with --starting-token {}", safe(token));
    }
    if !failed.is_empty() {
        eprintln!("amiwatch: the list above is partial: {} of {} feeds failed", failed.len(), feeds.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
