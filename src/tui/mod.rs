//! The live dashboard's event loop: terminal events, poller events, a slow tick and signals,
//! merged into one stream; keys become actions; the screen is drawn only when something changed.

mod osc;
mod terminal;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{Local, Utc};
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::app::view::StateFilter;
use crate::app::{App, Deriver, Effect, FeedEvent, action};
use crate::cli::Cli;
use crate::ec2::poller::{Ec2Source, Schedule, Source};
use crate::ec2::{Feed, FeedInfo, Paging, PollEvent, Pollers, Selection};
use crate::image::Naming;
use crate::ui;
use terminal::{Term, TerminalGuard};

/// How often relative times ("3s ago") are redrawn when nothing else happens.
const TICK: Duration = Duration::from_secs(1);
/// The shortest time between two frames: a burst of keys costs one frame per this.
const FRAME: Duration = Duration::from_millis(33);
/// The shortest time between two frames that only new data asked for, for `feeds` feeds: 250 ms
/// up to 20 feeds, a quarter second more for every 20 more, and a second (the clock's tick)
/// from 61. With hundreds of feeds data arrives all the time, and at 340 feeds a 200x50 frame
/// every 250 ms was a tenth of the dashboard's CPU; with a few, new data shows as soon as ever.
fn data_frame(feeds: usize) -> Duration {
    let quarters = feeds.div_ceil(20).clamp(1, 4) as u32;
    (Duration::from_millis(250) * quarters).min(TICK)
}
/// The most feed events applied before input is looked at again.
const BATCH: usize = 4096;

/// Runs the dashboard until the user quits.
pub async fn run(cli: &Cli, feeds: Vec<Feed>, selection: Selection) -> anyhow::Result<ExitCode> {
    let schedule = Schedule {
        interval: cli.interval,
        idle_interval: cli.idle_interval,
        sweep_interval: cli.sweep_interval,
        ..Schedule::default()
    };
    let state = match selection.states.as_slice() {
        [one] => StateFilter::from_state(one),
        _ => StateFilter::All,
    };
    let infos = feeds.iter().map(|f| f.info.clone()).collect();
    let mut app = App::new(infos, cli.interval, Utc::now()).with_filters(state, selection.buckets.first().cloned());
    app.notify = cli.notify;
    app.allow_retry = cli.allow_retry;
    // Only with --allow-retry does the loop hold the clients it would write with: without
    // it, no code path can send anything but Describe calls.
    let writers: Option<Vec<crate::ec2::Ec2>> = cli.allow_retry.then(|| feeds.iter().map(|f| f.ec2.clone()).collect());
    // One poller per feed. The dashboard fetches every task (of the chosen AMIs) so that
    // filters switch at once; --state and --bucket only set the starting filters.
    let sources: Vec<Arc<dyn Source>> = feeds
        .into_iter()
        .map(|f| {
            let selection = Selection { image_ids: selection.image_ids.clone(), ..Selection::default() };
            let paging = Paging { page_size: cli.select.page_size, ..Paging::default() };
            Arc::new(Ec2Source { ec2: f.ec2, selection, paging, names: true }) as _
        })
        .collect();
    dashboard(cli, app, sources, schedule, writers, None).await.map(|()| ExitCode::SUCCESS)
}

/// `amiwatch export` on a terminal: the dashboard of the plan's one feed, whose polls are
/// the runner's steps ([`crate::export::source::PlanSource`]), with the plan's line in the
/// header. Quitting stops starting exports; the exit code says how the plan stands.
pub async fn run_export(
    cli: &Cli,
    feed: Feed,
    runner: crate::export::source::PlanRunner,
    path: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let mut app = App::new(vec![feed.info.clone()], cli.interval, Utc::now());
    app.notify = cli.notify;
    let (source, status) = crate::export::source::PlanSource::new(runner);
    app.plan = Some(status.borrow().clone());
    // Every poll is a step: the plan's rows are read whole each time, at the one interval.
    let schedule = Schedule {
        interval: cli.interval,
        idle_interval: cli.interval,
        sweep_interval: cli.interval,
        ..Schedule::default()
    };
    let sources: Vec<Arc<dyn Source>> = vec![source.clone()];
    dashboard(cli, app, sources, schedule, None, Some(status)).await?;
    let plan = source.plan().await;
    Ok(crate::export::command::after_run(&plan, path))
}

/// The dashboard over these sources until the user quits.
async fn dashboard(
    cli: &Cli,
    mut app: App,
    sources: Vec<Arc<dyn Source>>,
    schedule: Schedule,
    writers: Option<Vec<crate::ec2::Ec2>>,
    plan: Option<tokio::sync::watch::Receiver<crate::export::source::PlanStatus>>,
) -> anyhow::Result<()> {
    app.set_store_quota(cli.store_quota);
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut guard = TerminalGuard::new().context("cannot set up the terminal")?;
    let n = sources.len();
    let mut pollers = Pollers::spawn(sources, schedule);
    let (feed_tx, feed_rx) = mpsc::channel(16 + 4 * n);
    let deriving = tokio::spawn(derive(pollers.take_events(), feed_tx, n, cli.store_quota));
    let result = event_loop(&mut guard, &mut app, &mut pollers, feed_rx, writers, plan).await;
    deriving.abort();
    drop(pollers);
    drop(guard);
    // The process ends next: freeing every feed's data one task at a time would only delay it.
    std::mem::forget(app);
    result
}

/// Derives every feed's events beside the pollers, off the event loop: the loop then only
/// swaps each feed's data for the new one. `(feed, None)`: that feed's poller ended.
///
/// Bursts are taken in whole before anything is derived, and a feed whose names alone changed
/// is derived again at most every [`NAMES_EVERY`]: at start-up a feed of 100,000 tasks gets its
/// names in hundreds of answers, and each must not cost a derivation of the whole feed.
async fn derive(
    mut events: mpsc::Receiver<(usize, Option<PollEvent>)>,
    out: mpsc::Sender<(usize, Option<FeedEvent>)>,
    feeds: usize,
    quota_gb: u64,
) {
    let mut derivers: Vec<Deriver> = (0..feeds).map(|_| Deriver::with_quota(quota_gb)).collect();
    // When each feed's waiting names are due to be derived.
    let mut due: Vec<Option<tokio::time::Instant>> = vec![None; feeds];
    loop {
        let next_due = due.iter().flatten().min().copied();
        let first = tokio::select! {
            e = events.recv() => match e {
                Some(e) => Some(e),
                None => return,
            },
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(tokio::time::Instant::now)), if next_due.is_some() => None,
        };
        let mut batch: Vec<(usize, Option<PollEvent>)> = first.into_iter().collect();
        while batch.len() < BATCH {
            match events.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut sends: Vec<(usize, Option<FeedEvent>)> = Vec::new();
        for (idx, event) in batch {
            let Some(d) = derivers.get_mut(idx) else { continue };
            let Some(event) = event else {
                sends.push((idx, None));
                continue;
            };
            // A feed's news keeps its order: data taken in goes out before a later status.
            if !matches!(event, PollEvent::Snapshot { .. } | PollEvent::Names { .. }) && d.has_snapshot() {
                sends.extend(d.flush().map(|e| (idx, Some(e))));
                due[idx] = None;
            }
            sends.extend(d.take(event).map(|e| (idx, Some(e))));
        }
        let now = tokio::time::Instant::now();
        for (idx, d) in derivers.iter_mut().enumerate() {
            if !d.is_pending() {
                continue;
            }
            match (d.has_snapshot(), due[idx]) {
                (false, None) => due[idx] = Some(now + NAMES_EVERY),
                (false, Some(at)) if at > now => {}
                _ => {
                    sends.extend(d.flush().map(|e| (idx, Some(e))));
                    due[idx] = None;
                }
            }
        }
        for s in sends {
            if out.send(s).await.is_err() {
                return;
            }
        }
    }
}

/// How often a feed whose names alone changed is derived again.
const NAMES_EVERY: Duration = Duration::from_secs(1);

/// One input to the loop.
enum Msg {
    Terminal(Event),
    Feed(usize, Option<FeedEvent>),
    Tick,
    /// A frame that was held back is due.
    Frame,
    Signal(Sig),
    /// The answer to a retry the user confirmed.
    Retried(crate::app::RetryPlan, Result<String, String>),
    /// An export plan's runner took a step.
    Plan(crate::export::source::PlanStatus),
}

/// What asks for a frame: a person (drawn within a frame) or only data (drawn less often).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dirty {
    Clean,
    Data,
    Input,
}

async fn event_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    pollers: &mut Pollers,
    mut feeds: mpsc::Receiver<(usize, Option<FeedEvent>)>,
    writers: Option<Vec<crate::ec2::Ec2>>,
    mut plan: Option<tokio::sync::watch::Receiver<crate::export::source::PlanStatus>>,
) -> anyhow::Result<()> {
    let (retried_tx, mut retried) = mpsc::channel(4);
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut signals = Signals::new()?;
    let mut dirty = Dirty::Input;
    let data_frame = data_frame(app.feeds.len());
    let mut drawn_at = tokio::time::Instant::now() - data_frame;
    loop {
        // Draw when something changed and its frame is due; otherwise wake up when it is.
        let due = drawn_at + if dirty == Dirty::Input { FRAME } else { data_frame };
        if dirty != Dirty::Clean && tokio::time::Instant::now() >= due {
            // What arrived since the frame was asked for, applied with it.
            apply_feeds(app, pollers, None, &mut feeds).await?;
            app.now = Utc::now();
            app.sync();
            draw(&mut guard.terminal, app)?;
            dirty = Dirty::Clean;
            drawn_at = tokio::time::Instant::now();
        }
        let waiting = dirty != Dirty::Clean;
        // Once a frame is asked for, data waits in its channel until the frame takes it all:
        // with hundreds of feeds an event arrives every few milliseconds, and waking up for
        // each one cost more than applying it.
        let listening = !waiting;
        // Signals and keys first: quit never waits behind data.
        let msg = tokio::select! {
            biased;
            sig = signals.recv() => Msg::Signal(sig),
            ev = input.next() => match ev {
                Some(Ok(e)) => Msg::Terminal(e),
                Some(Err(e)) => return Err(e).context("cannot read from the terminal"),
                None => Msg::Signal(Sig::Quit),
            },
            Some((plan, res)) = retried.recv() => Msg::Retried(plan, res),
            Some((idx, e)) = feeds.recv(), if listening => Msg::Feed(idx, e),
            Some(status) = plan_changed(&mut plan) => Msg::Plan(status),
            _ = tokio::time::sleep_until(due), if waiting => Msg::Frame,
            _ = tick.tick() => Msg::Tick,
        };
        match msg {
            Msg::Terminal(Event::Resize(..)) => {
                // A full repaint: some terminals keep stale cells after a resize.
                guard.repaint_all().context("cannot clear the screen")?;
                dirty = Dirty::Input;
            }
            Msg::Terminal(e) => {
                let act = match e {
                    Event::Key(k) => action::for_key(app.mode, k),
                    Event::Mouse(m) => action::for_mouse(m),
                    _ => None,
                };
                if let Some(a) = act {
                    app.now = Utc::now();
                    match app.handle(a) {
                        Some(Effect::Quit) => return Ok(()),
                        Some(Effect::Refresh) => pollers.refresh(),
                        Some(Effect::Suspend) => guard.suspend().context("cannot suspend")?,
                        Some(Effect::Retry(plan)) => match writers.as_ref().and_then(|w| w.get(plan.feed)) {
                            Some(ec2) => {
                                let (ec2, tx) = (ec2.clone(), retried_tx.clone());
                                tokio::spawn(async move {
                                    let res =
                                        crate::ec2::export::create_store_image_task(&ec2, &plan.ami, &plan.bucket, &[])
                                            .await
                                            .map_err(|e| crate::ec2::export::explain(&e, &plan.ami));
                                    let _ = tx.send((plan, res)).await;
                                });
                            }
                            None => app.show_toast("retries are off: start amiwatch with --allow-retry"),
                        },
                        Some(Effect::Copy(text)) => {
                            let _ = osc::copy(&mut std::io::stdout(), &text);
                        }
                        Some(Effect::Export(format, rows)) => export(app, format, &rows),
                        None => {}
                    }
                }
                dirty = Dirty::Input;
            }
            Msg::Feed(idx, first) => {
                apply_feeds(app, pollers, Some((idx, first)), &mut feeds).await?;
                dirty = dirty.max(Dirty::Data);
            }
            Msg::Tick | Msg::Frame => dirty = dirty.max(Dirty::Data),
            Msg::Signal(Sig::Quit) => return Ok(()),
            Msg::Signal(Sig::Suspend) => {
                guard.suspend().context("cannot suspend")?;
                dirty = Dirty::Input;
            }
            Msg::Signal(Sig::Continue) => {
                // Stopped and resumed by someone else (kill -STOP, kill -CONT): repaint.
                guard.repaint_all().context("cannot clear the screen")?;
                dirty = Dirty::Input;
            }
            Msg::Plan(status) => {
                app.set_plan(status);
                dirty = dirty.max(Dirty::Data);
            }
            Msg::Retried(plan, res) => {
                app.now = Utc::now();
                // A poll right after the call, so the new attempt shows in progress at once.
                if res.is_ok() {
                    pollers.refresh_feed(plan.feed);
                }
                app.retry_done(&plan, res);
                dirty = Dirty::Input;
            }
        }
    }
}

/// The plan's next status; never when there is no plan (or its runner is gone).
async fn plan_changed(
    plan: &mut Option<tokio::sync::watch::Receiver<crate::export::source::PlanStatus>>,
) -> Option<crate::export::source::PlanStatus> {
    let rx = plan.as_mut()?;
    match rx.changed().await {
        Ok(()) => Some(rx.borrow_and_update().clone()),
        Err(_) => {
            *plan = None;
            None
        }
    }
}

/// Applies `first` and every feed event already waiting (at most [`BATCH`]), at once: a burst
/// costs one frame. Then rings and notifies for tasks that ended.
async fn apply_feeds(
    app: &mut App,
    pollers: &mut Pollers,
    first: Option<(usize, Option<FeedEvent>)>,
    feeds: &mut mpsc::Receiver<(usize, Option<FeedEvent>)>,
) -> anyhow::Result<()> {
    let mut next = first.or_else(|| feeds.try_recv().ok());
    let mut applied = 0;
    while let Some((idx, e)) = next.take() {
        match e {
            Some(e) => app.apply_feed(idx, e),
            None => anyhow::bail!("the background poller stopped unexpectedly: {}", pollers.why_ended(idx)),
        }
        applied += 1;
        if applied < BATCH {
            next = feeds.try_recv().ok();
        }
    }
    for alert in std::mem::take(&mut app.alerts) {
        let _ = osc::notify(&mut std::io::stdout(), &alert.text);
    }
    Ok(())
}

/// Writes the current view to a timestamped file in the working folder and says where.
fn export(
    app: &mut App,
    format: crate::output::Format,
    rows: &[(Arc<FeedInfo>, crate::task::StoreTask, Option<Naming>)],
) {
    let rows: Vec<crate::output::Row<'_>> =
        rows.iter().map(|(f, t, n)| crate::output::Row { feed: f, task: t, naming: n.as_ref() }).collect();
    match crate::output::export(std::path::Path::new("."), Local::now(), format, &rows) {
        Ok(path) => {
            let full = std::fs::canonicalize(&path).unwrap_or(path);
            app.show_toast(format!(
                "exported {} tasks to {}",
                rows.len(),
                crate::text::safe(&full.display().to_string())
            ));
        }
        Err(e) => app.show_toast(format!("export failed: {}", crate::text::safe(&e.to_string()))),
    }
}

fn draw(terminal: &mut Term, app: &mut App) -> anyhow::Result<()> {
    let size = terminal.size().context("cannot read the terminal size")?;
    let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
    app.set_table_body(ui::layout(area, app).table_body());
    terminal.draw(|f| ui::render(app, f)).context("cannot draw")?;
    Ok(())
}

/// What a signal asks of the dashboard.
enum Sig {
    Quit,
    Suspend,
    Continue,
}

/// Signals from outside, turned into the normal paths: SIGTERM, SIGHUP, SIGINT and SIGQUIT
/// quit (the terminal is given back); SIGTSTP suspends as Ctrl-Z does; SIGCONT repaints.
/// (In raw mode Ctrl-C and Ctrl-Z arrive as keys, not signals.)
struct Signals {
    #[cfg(unix)]
    quit: [tokio::signal::unix::Signal; 4],
    #[cfg(unix)]
    tstp: tokio::signal::unix::Signal,
    #[cfg(unix)]
    cont: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |k: SignalKind, name: &str| signal(k).with_context(|| format!("cannot listen for {name}"));
            Ok(Self {
                quit: [
                    listen(SignalKind::terminate(), "SIGTERM")?,
                    listen(SignalKind::hangup(), "SIGHUP")?,
                    listen(SignalKind::interrupt(), "SIGINT")?,
                    listen(SignalKind::quit(), "SIGQUIT")?,
                ],
                tstp: listen(SignalKind::from_raw(libc::SIGTSTP), "SIGTSTP")?,
                cont: listen(SignalKind::from_raw(libc::SIGCONT), "SIGCONT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) -> Sig {
        #[cfg(unix)]
        {
            let [term, hup, int, quit] = &mut self.quit;
            tokio::select! {
                _ = term.recv() => Sig::Quit,
                _ = hup.recv() => Sig::Quit,
                _ = int.recv() => Sig::Quit,
                _ = quit.recv() => Sig::Quit,
                _ = self.tstp.recv() => Sig::Suspend,
                _ = self.cont.recv() => Sig::Continue,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Sig::Quit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_frames_come_less_often_only_with_many_feeds() {
        let ms = |n| data_frame(n).as_millis();
        assert_eq!([ms(0), ms(1), ms(20)], [250, 250, 250], "a few feeds: as before");
        assert_eq!([ms(21), ms(40), ms(60)], [500, 500, 750]);
        assert_eq!([ms(61), ms(340), ms(100_000)], [1000, 1000, 1000], "many: once a second, the tick");
    }
}
