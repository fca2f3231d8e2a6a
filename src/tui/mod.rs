//! The live dashboard's event loop: terminal events, poller events, a slow tick and signals,
//! merged into one stream; keys become actions; the screen is drawn only when something changed.

mod osc;
mod terminal;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{Local, Offset, Utc};
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::app::view::StateFilter;
use crate::app::{App, Effect, action};
use crate::cli::Cli;
use crate::ec2::poller::{Ec2Source, Schedule, Source};
use crate::ec2::{Feed, FeedInfo, Paging, PollEvent, Pollers, Selection};
use crate::image::Naming;
use crate::ui;
use terminal::{Term, TerminalGuard};

/// How often relative times ("3s ago") are redrawn when nothing else happens.
const TICK: Duration = Duration::from_secs(1);

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
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    app.local_offset = Local::now().offset().fix();

    let mut guard = TerminalGuard::new().context("cannot set up the terminal")?;
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
    let mut pollers = Pollers::spawn(sources, schedule);
    let result = event_loop(&mut guard, &mut app, &mut pollers, writers).await;
    drop(pollers);
    drop(guard);
    result.map(|()| ExitCode::SUCCESS)
}

/// One input to the loop.
enum Msg {
    Terminal(Event),
    Poll(usize, PollEvent),
    Tick,
    Signal(Sig),
    PollerDied(String),
    /// The answer to a retry the user confirmed.
    Retried(crate::app::RetryPlan, Result<String, String>),
}

async fn event_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    pollers: &mut Pollers,
    writers: Option<Vec<crate::ec2::Ec2>>,
) -> anyhow::Result<()> {
    let (retried_tx, mut retried) = mpsc::channel(4);
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut signals = Signals::new()?;
    let mut dirty = true;
    loop {
        if dirty {
            draw(&mut guard.terminal, app)?;
            dirty = false;
        }
        let msg = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(e)) => Msg::Terminal(e),
                Some(Err(e)) => return Err(e).context("cannot read from the terminal"),
                None => Msg::Signal(Sig::Quit),
            },
            Some((idx, p)) = pollers.recv() => match p {
                Some(p) => Msg::Poll(idx, p),
                None => Msg::PollerDied(pollers.why_ended(idx).await),
            },
            _ = tick.tick() => Msg::Tick,
            sig = signals.recv() => Msg::Signal(sig),
            Some((plan, res)) = retried.recv() => Msg::Retried(plan, res),
        };
        let mut pending = vec![msg];
        // Batch poller events already waiting, so a burst costs one frame. (Not terminal
        // events: polling crossterm's EventStream outside the select registers a waker that
        // nobody listens to, and keys would then wait for the next tick.)
        while let Some((idx, p)) = pollers.try_recv() {
            pending.push(match p {
                Some(p) => Msg::Poll(idx, p),
                None => Msg::PollerDied(pollers.why_ended(idx).await),
            });
        }
        for msg in pending {
            match msg {
                Msg::Terminal(Event::Resize(..)) => {
                    // A full repaint: some terminals keep stale cells after a resize.
                    guard.repaint_all().context("cannot clear the screen")?;
                    dirty = true;
                }
                Msg::Terminal(e) => {
                    let act = match e {
                        Event::Key(k) => action::for_key(app.mode, k),
                        Event::Mouse(m) => action::for_mouse(m),
                        _ => None,
                    };
                    if let Some(a) = act {
                        match app.handle(a) {
                            Some(Effect::Quit) => return Ok(()),
                            Some(Effect::Refresh) => pollers.refresh(),
                            Some(Effect::Suspend) => guard.suspend().context("cannot suspend")?,
                            Some(Effect::Retry(plan)) => match writers.as_ref().and_then(|w| w.get(plan.feed)) {
                                Some(ec2) => {
                                    let (ec2, tx) = (ec2.clone(), retried_tx.clone());
                                    tokio::spawn(async move {
                                        let res =
                                            crate::ec2::export::create_store_image_task(&ec2, &plan.ami, &plan.bucket)
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
                    dirty = true;
                }
                Msg::Poll(idx, p) => {
                    app.now = Utc::now();
                    app.apply(idx, p);
                    for alert in std::mem::take(&mut app.alerts) {
                        let _ = osc::notify(&mut std::io::stdout(), &alert.text);
                    }
                    dirty = true;
                }
                Msg::Tick => {
                    app.now = Utc::now();
                    dirty = true;
                }
                Msg::Signal(Sig::Quit) => return Ok(()),
                Msg::Signal(Sig::Suspend) => {
                    guard.suspend().context("cannot suspend")?;
                    dirty = true;
                }
                Msg::Signal(Sig::Continue) => {
                    // Stopped and resumed by someone else (kill -STOP, kill -CONT): repaint.
                    guard.repaint_all().context("cannot clear the screen")?;
                    dirty = true;
                }
                Msg::Retried(plan, res) => {
                    app.now = Utc::now();
                    // A poll right after the call, so the new attempt shows in progress at once.
                    if res.is_ok() {
                        pollers.refresh_feed(plan.feed);
                    }
                    app.retry_done(&plan, res);
                    dirty = true;
                }
                Msg::PollerDied(why) => {
                    anyhow::bail!("the background poller stopped unexpectedly: {why}")
                }
            }
        }
    }
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
