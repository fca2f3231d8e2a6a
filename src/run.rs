//! Turns the flags into one [`Mode`] and runs it on the feeds: the dashboard, one fetch, a
//! wait, a permission check; and the subcommands (simulate, completions, man page).

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command, Given};
use crate::ec2::{self, Feed, FeedPlan, Paging, Permission, Selection};
use crate::sim::{self, SimHandle};

/// Exit code for bad usage, as clap uses.
pub const EXIT_USAGE: u8 = 2;

/// What the flags ask for. Each has its own function below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The live dashboard (the default).
    Dashboard,
    /// `--once`: fetch every feed once, print, exit.
    Once { paging: Paging, partial: bool },
    /// `--wait`: poll until the selected tasks end.
    Wait,
    /// `--dry-run`: may the caller read the tasks?
    DryRun,
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Self::Dashboard => "the dashboard",
            Self::Once { .. } => "--once",
            Self::Wait => "--wait",
            Self::DryRun => "--dry-run",
        }
    }

    /// The mode the flags ask for, or the one line that says why they do not fit together.
    pub fn from_cli(cli: &Cli, given: &Given) -> Result<Self, String> {
        let mode = if cli.once {
            let paging = Paging {
                page_size: cli.select.page_size,
                max_items: cli.select.max_items.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                starting_token: cli.select.starting_token.clone(),
            };
            Self::Once { paging, partial: cli.partial }
        } else if cli.wait {
            Self::Wait
        } else if cli.dry_run {
            Self::DryRun
        } else {
            Self::Dashboard
        };
        // Every flag that applies to some modes only, and the modes it applies to.
        const DASH: &str = "the dashboard";
        let rules: &[(&str, &str, &[&str])] = &[
            ("max_items", "--max-items", &["--once"]),
            ("starting_token", "--starting-token", &["--once"]),
            ("partial", "--partial", &["--once"]),
            ("with_names", "--with-names", &["--once"]),
            ("timeout", "--timeout", &["--wait"]),
            ("output", "--output", &["--once", "--wait"]),
            ("interval", "--interval", &[DASH, "--wait"]),
            ("idle_interval", "--idle-interval", &[DASH]),
            ("sweep_interval", "--sweep-interval", &[DASH, "--wait"]),
            ("notify", "--notify", &[DASH]),
            ("allow_retry", "--allow-retry", &[DASH, "--dry-run"]),
            ("image_ids", "--image-id", &[DASH, "--once", "--wait"]),
            ("states", "--state", &[DASH, "--once", "--wait"]),
            ("buckets", "--bucket", &[DASH, "--once", "--wait"]),
            ("page_size", "--page-size", &[DASH, "--once", "--wait"]),
            ("max_time", "--max-time", &["--once", "--dry-run"]),
        ];
        for (id, flag, modes) in rules {
            if given.has(id) && !modes.contains(&mode.name()) {
                return Err(format!("{flag} does not apply to {}: leave it out", mode.name()));
            }
        }
        if cli.demo {
            for (id, flag) in [("endpoint_url", "--endpoint-url"), ("profiles", "--profile")] {
                if given.has(id) {
                    return Err(format!("{flag} does not apply to --demo, which runs on its own built-in endpoint"));
                }
            }
        }
        let many_feeds = cli.aws.all_regions || cli.aws.profiles.len().max(1) * cli.aws.regions.len().max(1) > 1;
        if many_feeds && (given.has("max_items") || given.has("starting_token")) {
            return Err(
                "--max-items and --starting-token page one feed's listing: name one profile and one region".into()
            );
        }
        if mode == Mode::Dashboard {
            if cli.select.states.len() > 1 {
                return Err("the dashboard shows one state at a time: pass one --state (keys 1-4 switch it)".into());
            }
            if cli.select.buckets.len() > 1 {
                return Err("the dashboard shows one bucket at a time: pass one --bucket (key b picks another)".into());
            }
        }
        Ok(mode)
    }
}

/// Logs go to a file when one is named, and nowhere otherwise: never to the screen.
pub fn init_logging(path: Option<&Path>) -> io::Result<()> {
    let Some(path) = path else { return Ok(()) };
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("AMIWATCH_LOG_LEVEL").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("amiwatch=debug,aws_smithy_runtime=warn,aws_config=warn,hyper=warn,info")
    });
    tracing_subscriber::fmt().with_writer(std::sync::Mutex::new(file)).with_ansi(false).with_env_filter(filter).init();
    Ok(())
}

/// Runs what the flags ask for.
pub async fn run(cli: Cli, given: Given) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Command::Simulate { addr, regions, accounts_by_key, moving, upcoming, sim }) => {
            let mut config = sim.to_config();
            config.accounts_by_key = *accounts_by_key;
            config.moving = *moving;
            config.upcoming = *upcoming;
            if !regions.is_empty() {
                config.regions = regions.to_vec();
            }
            return simulate(*addr, config, sim.seed).await;
        }
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut crate::cli::command(), "amiwatch", &mut out);
            quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(crate::cli::command()).render(&mut out)?;
            quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if let Some(flag) = cli.sim.first_set().filter(|_| !cli.demo) {
        return usage(&format!("{flag} shapes the simulated account: use it with --demo or `amiwatch simulate`"));
    }
    let mode = match Mode::from_cli(&cli, &given) {
        Ok(m) => m,
        Err(why) => return usage(&why),
    };
    if mode == Mode::Dashboard && !io::stdout().is_terminal() {
        eprintln!(
            "amiwatch: standard output is not a terminal, so the dashboard cannot start.\n\
             For scripts use --once (with --output table|json|csv), or --dry-run."
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // The demo's endpoint lives as long as this function: keep the handle.
    let sim = match cli.demo {
        true => Some(
            sim::start(([127, 0, 0, 1], 0).into(), cli.sim.to_config())
                .await
                .context("cannot start the embedded EC2 endpoint")?,
        ),
        false => None,
    };
    // One deadline for the whole of --once and --dry-run, connecting included (--max-time).
    let deadline = ec2::feed::Deadline::after(cli.aws.max_time);
    let plan = FeedPlan {
        profiles: dedup(&cli.aws.profiles),
        regions: dedup(&cli.aws.regions),
        all_regions: cli.aws.all_regions,
        options: ec2::ClientOptions {
            endpoint_url: cli.aws.endpoint_url.clone(),
            attempt_timeout: Some(cli.aws.request_timeout),
            ..ec2::ClientOptions::default()
        },
        embedded: sim.as_ref().map(|s| s.url().to_string()),
        deadline: matches!(mode, Mode::Once { .. } | Mode::DryRun).then_some(deadline),
    };
    let feeds = ec2::feed::connect(&plan).await;
    let selection = Selection {
        image_ids: cli.select.image_ids.clone(),
        states: cli.select.states.clone(),
        buckets: cli.select.buckets.clone(),
    };
    match mode {
        Mode::Dashboard => crate::tui::run(&cli, feeds, selection).await,
        Mode::Once { paging, partial } => {
            crate::once::run(&feeds, &selection, &paging, cli.output, partial, deadline, cli.with_names).await
        }
        Mode::Wait => {
            let opts = crate::wait::WaitOptions {
                interval: cli.interval,
                sweep_interval: cli.sweep_interval,
                timeout: cli.timeout,
                output: cli.output,
                page_size: cli.select.page_size,
            };
            crate::wait::wait(&feeds, &selection, &opts).await
        }
        Mode::DryRun => dry_run(&feeds, deadline, cli.allow_retry, cli.aws.all_regions).await,
    }
}

/// One line on stderr and exit code 2: the flags do not fit.
fn usage(why: &str) -> anyhow::Result<ExitCode> {
    eprintln!("amiwatch: {why}");
    Ok(ExitCode::from(EXIT_USAGE))
}

/// The same profile or region named twice is one feed, not two.
fn dedup(items: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.iter().filter(|i| seen.insert(i.as_str())).cloned().collect()
}

/// Every feed's permissions, checked side by side (DryRun: nothing is read or written):
/// `ec2:DescribeStoreImageTasks`, and with `--allow-retry` `ec2:CreateStoreImageTask` too;
/// with `--all-regions`, `ec2:DescribeRegions` (asked for real when the feeds were connected:
/// it reads no data). Exit 0 only when every feed has every permission asked about, within
/// the one `--max-time` of the whole command.
async fn dry_run(
    feeds: &[Feed],
    deadline: ec2::feed::Deadline,
    retry: bool,
    all_regions: bool,
) -> anyhow::Result<ExitCode> {
    const READ: &str = "ec2:DescribeStoreImageTasks";
    const WRITE: &str = "ec2:CreateStoreImageTask";
    const REGIONS: &str = "ec2:DescribeRegions";
    let actions: &[&'static str] = if retry { &[READ, WRITE] } else { &[READ] };
    let mut all_allowed = true;
    let mut set = tokio::task::JoinSet::new();
    for (n, feed) in feeds.iter().enumerate() {
        if all_regions && (n == 0 || feeds[n - 1].info.profile != feed.info.profile) {
            let label = crate::text::safe(&feed.info.profile_label()).into_owned();
            match feed.ec2.set_up_error() {
                None => println!("allowed: the caller may call {REGIONS} ({label})"),
                Some(e) if matches!(&e.kind, ec2::ErrorKind::NoRegionList(k) if **k == ec2::ErrorKind::Unauthorized) => {
                    all_allowed = false;
                    println!("denied: the caller may not call {REGIONS} ({label})");
                    continue;
                }
                Some(e) => {
                    all_allowed = false;
                    eprintln!("amiwatch: {label}: cannot check {REGIONS}: {e}");
                    continue;
                }
            }
        }
        for (a, &action) in actions.iter().enumerate() {
            let ec2 = feed.ec2.clone();
            set.spawn(async move {
                let res = match action {
                    WRITE => deadline.run(ec2::export::check_permission(&ec2)).await,
                    _ => deadline.run(ec2::check_permission(&ec2)).await,
                };
                ((n, a), action, res.unwrap_or_else(|| Err(deadline.passed())))
            });
        }
    }
    let mut results = set.join_all().await;
    results.sort_by_key(|(at, _, _)| *at);
    for ((n, _), action, res) in results {
        let label = crate::text::safe(&feeds[n].info.long_label()).into_owned();
        match res {
            Ok(Permission::Allowed) => {
                println!("allowed: the caller may call {action} ({label})");
            }
            Ok(Permission::Denied(why)) => {
                all_allowed = false;
                println!("denied: the caller may not call {action} ({label})");
                if !why.is_empty() {
                    println!("  {}", crate::text::safe(&why));
                }
            }
            Err(e) => {
                all_allowed = false;
                eprintln!("amiwatch: {label}: cannot check {action}: {e}");
            }
        }
    }
    Ok(if all_allowed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Output piped into `head` ends quietly: a closed pipe is not an error worth a word.
pub fn quiet_on_broken_pipe(res: io::Result<()>) -> anyhow::Result<()> {
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the output"),
    }
}

async fn simulate(addr: std::net::SocketAddr, config: sim::SimConfig, seed: u64) -> anyhow::Result<ExitCode> {
    let tasks = config.tasks;
    let region = config.regions.first().cloned().unwrap_or_default();
    let handle: SimHandle = sim::start(addr, config).await.with_context(|| format!("cannot listen on {addr}"))?;
    let url = handle.url().to_string();
    // The URL alone on the first line of stdout, for scripts; the rest on stderr, for people.
    quiet_on_broken_pipe(writeln!(io::stdout(), "{url}").and_then(|()| io::stdout().flush()))?;
    eprintln!(
        "amiwatch simulate: EC2 endpoint with {tasks} tasks per account and region (seed {seed}), Ctrl-C to stop.\n  \
         amiwatch --endpoint-url {url} --region {region}\n  \
         aws ec2 describe-store-image-tasks --endpoint-url {url} --region {region}   (any credentials)\n  \
         request counts: curl {url}/_sim/stats",
    );
    shutdown_signal().await;
    let s = handle.stats();
    eprintln!(
        "amiwatch simulate: stopped after {} requests ({} DescribeStoreImageTasks).",
        s.requests, s.describe_store_image_tasks
    );
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, SIGTERM or SIGHUP.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        if let (Ok(mut term), Ok(mut hup)) = (term, hup) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, String> {
        let (cli, given) = Cli::try_parse_with_given(std::iter::once("amiwatch").chain(args.iter().copied())).unwrap();
        Mode::from_cli(&cli, &given)
    }

    #[test]
    fn flags_pick_one_mode() {
        assert_eq!(mode(&[]), Ok(Mode::Dashboard));
        assert_eq!(mode(&["--wait"]), Ok(Mode::Wait));
        assert_eq!(mode(&["--dry-run"]), Ok(Mode::DryRun));
        assert!(
            matches!(mode(&["--once", "--max-items", "3"]), Ok(Mode::Once { paging, .. }) if paging.max_items == Some(3))
        );
    }

    #[test]
    fn a_flag_that_does_not_apply_is_refused_not_ignored() {
        for (args, needle) in [
            (&["--wait", "--max-items", "3"][..], "--max-items does not apply to --wait"),
            (&["--once", "--timeout", "1h"][..], "--timeout does not apply to --once"),
            (&["--timeout", "1h"][..], "--timeout does not apply to the dashboard"),
            (&["--dry-run", "--state", "failed"][..], "--state does not apply to --dry-run"),
            (&["--once", "--notify", "off"][..], "--notify does not apply to --once"),
            (&["-o", "json"][..], "--output does not apply to the dashboard"),
            (&["--demo", "--endpoint-url", "http://127.0.0.1:1"][..], "--endpoint-url does not apply to --demo"),
            (&["--demo", "--profile", "prod"][..], "--profile does not apply to --demo"),
            (&["--once", "--max-items", "3", "--region", "a-1,b-2"][..], "one profile and one region"),
            (&["--once", "--starting-token", "x", "--profile", "a,b"][..], "one profile and one region"),
            (&["--state", "failed,completed"][..], "one state at a time"),
            (&["--bucket", "aaa,bbb"][..], "one bucket at a time"),
        ] {
            let err = mode(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        // Defaults are not "given": the dashboard's own defaults never trip the check.
        assert!(mode(&["--once", "--state", "failed,completed", "--bucket", "aaa,bbb"]).is_ok());
    }
}
