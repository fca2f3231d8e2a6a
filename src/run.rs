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
        if given.has("with_names") && cli.output != crate::output::Format::Json {
            return Err("--with-names adds names to --output json: the table and CSV always have them".into());
        }
        if given.has("exclude_regions") && !cli.aws.all_regions {
            return Err("--exclude-region narrows --all-regions: add --all-regions, or leave it out".into());
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
        Some(Command::Simulate {
            addr,
            regions,
            accounts_by_key,
            moving,
            upcoming,
            gb_per_sec,
            store_quota,
            marketplace,
            fresh,
            any_key,
            sim,
        }) => {
            let mut config = sim.to_config();
            config.gb_per_sec = *gb_per_sec;
            config.store_quota_gb = *store_quota;
            config.marketplace_percent = *marketplace;
            config.fresh = *fresh;
            // An account for each key means keys the endpoint cannot know: it takes any (the
            // demo's keys still checked).
            config.keys.any_key = *any_key || *accounts_by_key;
            config.accounts_by_key = *accounts_by_key;
            config.moving = *moving;
            config.upcoming = *upcoming;
            if !regions.is_empty() {
                config.regions = regions.to_vec();
            }
            return simulate(*addr, config, sim.seed).await;
        }
        Some(Command::Export(args)) => return crate::export::command::run(&cli, &given, args).await,
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut crate::cli::command(), "amiwatch", &mut out);
            quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            crate::manual::render(&mut out)?;
            quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Profiles { pattern }) => return profiles_command(pattern.as_deref()).await,
        Some(Command::Config) => {
            let mut out = Vec::new();
            let file = given.config.as_ref().map(|c| c.path.as_path());
            crate::config::print(&given.settings, file, given.config_searched.as_deref(), &mut out)?;
            // What the profile patterns select today, from the AWS files.
            if cli.aws.profiles.iter().any(|p| crate::profiles::is_pattern(p)) {
                let selected = match crate::profiles::Profiles::load().await {
                    Ok(files) => files.expand(&cli.aws.profiles).map(|p| p.join(", ")),
                    Err(e) => Err(e),
                };
                match selected {
                    Ok(list) => writeln!(out, "# the profiles selected: {}", crate::text::safe(&list))?,
                    Err(e) => writeln!(out, "# the profiles selected: none: {e}")?,
                }
            }
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
    let custom_endpoint = cli.aws.endpoint_url.is_some()
        || ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !cli.demo && !custom_endpoint {
        for r in cli.aws.regions.iter().chain(&cli.aws.exclude_regions) {
            if let Err(why) = crate::regions::check(r) {
                return usage(&why);
            }
        }
        // The environment's region is used when no --region is given: a typo there is the same.
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            let value = std::env::var(var).ok().filter(|v| !v.is_empty());
            if let (true, Some(r)) = (cli.aws.regions.is_empty(), value)
                && let Err(why) = crate::regions::check(&r)
            {
                return usage(&format!("{var}: {why}"));
            }
        }
    }
    let profiles = match cli.demo {
        true => Vec::new(),
        false => match checked_profiles(&cli.aws.profiles).await {
            Ok(p) => p,
            Err(why) => return usage(&why),
        },
    };
    let many_feeds = cli.aws.all_regions || profiles.len().max(1) * cli.aws.regions.len().max(1) > 1;
    if many_feeds && (given.has("max_items") || given.has("starting_token")) {
        return usage("--max-items and --starting-token page one feed's listing: name one profile and one region");
    }
    if given.has("partial") && !many_feeds {
        return usage("--partial applies to several feeds: with one, --once prints its list whole or nothing");
    }
    if mode == Mode::Dashboard && !io::stdout().is_terminal() {
        eprintln!(
            "amiwatch: standard output is not a terminal, so the dashboard cannot start.\n\
             For scripts use --once (with --output table|json|csv), or --dry-run."
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // The demo's dashboard shows a small organisation whose exports fill and free the store
    // quota; scripts read its first account, in the shape one account gives (the AWS CLI's),
    // with the scenario's own durations (many exports in progress to list and wait for).
    let org = cli.demo && mode == Mode::Dashboard;
    // The demo's endpoint lives as long as this function: keep the handle.
    let sim = match cli.demo {
        true => {
            let config = match org {
                true => ec2::feed::demo_config(cli.sim.to_config(), cli.store_quota),
                // Each demo account sees its own tasks.
                false => sim::SimConfig { accounts_by_key: true, ..cli.sim.to_config() },
            };
            Some(
                sim::start(([127, 0, 0, 1], 0).into(), config)
                    .await
                    .context("cannot start the embedded EC2 endpoint")?,
            )
        }
        false => None,
    };
    let (profiles, regions) = match org {
        true if cli.aws.regions.is_empty() && !cli.aws.all_regions => (
            ec2::feed::DEMO_ORG.map(|(p, _, _)| p.to_string()).to_vec(),
            ec2::feed::DEMO_ORG_REGIONS.map(str::to_string).to_vec(),
        ),
        true => (ec2::feed::DEMO_ORG.map(|(p, _, _)| p.to_string()).to_vec(), dedup(&cli.aws.regions)),
        false => (profiles, dedup(&cli.aws.regions)),
    };
    // One deadline for the whole of --once and --dry-run, connecting included (--max-time).
    let deadline = ec2::feed::Deadline::after(cli.aws.max_time);
    let plan = FeedPlan {
        profiles,
        regions,
        all_regions: cli.aws.all_regions,
        exclude_regions: cli.aws.exclude_regions.clone(),
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
        Mode::Dashboard => {
            if sim.is_none()
                && let Some(why) = unfixable(&feeds)
            {
                eprintln!(
                    "amiwatch: {why}\n  Waiting cannot fix this, so the dashboard does not start. \
                     To try amiwatch without AWS: amiwatch --demo"
                );
                return Ok(ExitCode::FAILURE);
            }
            crate::tui::run(&cli, feeds, selection).await
        }
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

/// A set-up error the dashboard would retry forever although no retry can fix it: a feed
/// with no region, or a default credential chain that finds nothing (a named profile was
/// checked against the files already). `--once` reports the same errors at its first fetch.
fn unfixable(feeds: &[Feed]) -> Option<String> {
    if feeds.iter().any(|f| f.info.region.is_none()) {
        return Some(ec2::FetchError::new(ec2::ErrorKind::NoRegion, "").summary());
    }
    let missing = feeds.iter().any(|f| f.info.profile.is_none() && f.ec2.credentials_missing);
    missing.then(|| ec2::FetchError::new(ec2::ErrorKind::NoCredentials, "").summary())
}

/// One line on stderr and exit code 2: the flags do not fit.
fn usage(why: &str) -> anyhow::Result<ExitCode> {
    eprintln!("amiwatch: {why}");
    Ok(ExitCode::from(EXIT_USAGE))
}

/// The `--profile` values with their patterns expanded over the AWS config and credentials
/// files, every name checked against them; or the one line that says what is wrong. Without
/// `--profile`, `AWS_PROFILE` is checked the same way.
pub(crate) async fn checked_profiles(wanted: &[String]) -> Result<Vec<String>, String> {
    let from_env = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty() && p != "default");
    if wanted.is_empty() && from_env.is_none() {
        return Ok(Vec::new());
    }
    let files = crate::profiles::Profiles::load().await.map_err(|e| e.to_string())?;
    match (wanted.is_empty(), from_env) {
        (true, Some(p)) => {
            files.expand(std::slice::from_ref(&p)).map(|_| Vec::new()).map_err(|e| format!("AWS_PROFILE: {e}"))
        }
        _ => files.expand(wanted).map_err(|e| e.to_string()),
    }
}

/// `amiwatch profiles [PATTERN]`: the profiles it selects, with region and account.
async fn profiles_command(pattern: Option<&str>) -> anyhow::Result<ExitCode> {
    let files = match crate::profiles::Profiles::load().await {
        Ok(f) => f,
        Err(e) => return usage(&e.to_string()),
    };
    if let Some(p) = pattern
        && let Err(e) = files.expand(&[p.to_string()])
    {
        return usage(&e.to_string());
    }
    if files.entries.is_empty() {
        eprintln!("amiwatch: there are no profiles in {}", files.location());
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Vec::new();
    crate::profiles::print_listing(&files, pattern, &mut out)?;
    quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
    Ok(ExitCode::SUCCESS)
}

/// The same profile or region named twice is one feed, not two.
fn dedup(items: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.iter().filter(|i| seen.insert(i.as_str())).cloned().collect()
}

/// Every feed's permissions, checked side by side (DryRun: nothing is read or written):
/// `ec2:DescribeStoreImageTasks`, `ec2:DescribeImages` (optional: names), and with
/// `--allow-retry` `ec2:CreateStoreImageTask` too, on an AMI of the feed's own exports when
/// there is one (one read of at most 5 tasks finds it); with `--all-regions`,
/// `ec2:DescribeRegions` (asked for real when the feeds were connected: it reads no data).
/// Exit 0 only when every feed has every required permission, within the one `--max-time` of
/// the whole command; a missing optional one is one line, exit 0.
async fn dry_run(
    feeds: &[Feed],
    deadline: ec2::feed::Deadline,
    retry: bool,
    all_regions: bool,
) -> anyhow::Result<ExitCode> {
    const READ: &str = "ec2:DescribeStoreImageTasks";
    const NAMES: &str = "ec2:DescribeImages";
    const WRITE: &str = "ec2:CreateStoreImageTask";
    const REGIONS: &str = "ec2:DescribeRegions";
    let actions: &[&'static str] = if retry { &[READ, NAMES, WRITE] } else { &[READ, NAMES] };
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
                let placeholder = ec2::export::PLACEHOLDER_AMI.to_string();
                let res = deadline
                    .run(async {
                        match action {
                            WRITE => {
                                let ami = ec2::fetch::sample_ami(&ec2).await;
                                let own = ami.is_some();
                                let ami = ami.unwrap_or(placeholder);
                                ec2::export::check_permission(&ec2, &ami).await.map(|p| (p, Some((ami, own))))
                            }
                            NAMES => ec2::images::check_permission(&ec2, &placeholder).await.map(|p| (p, None)),
                            _ => ec2::check_permission(&ec2).await.map(|p| (p, None)),
                        }
                    })
                    .await;
                ((n, a), action, res.unwrap_or_else(|| Err(deadline.passed())))
            });
        }
    }
    let mut results = set.join_all().await;
    results.sort_by_key(|(at, _, _)| *at);
    // A feed whose required check could not be made says why once: the optional one's error
    // would repeat it.
    let failed: std::collections::HashSet<usize> =
        results.iter().filter(|(_, a, r)| *a != NAMES && r.is_err()).map(|((n, _), _, _)| *n).collect();
    for ((n, _), action, res) in results {
        let label = crate::text::safe(&feeds[n].info.long_label()).into_owned();
        // Which AMI a write was checked on: EC2 may look at it before it answers DryRun.
        let on = |checked: &Option<(String, bool)>| match checked {
            Some((ami, true)) => format!("; checked on {}, an AMI of its exports", crate::text::safe(ami)),
            Some((ami, false)) => format!("; checked on {ami}, a placeholder: no export found to check on"),
            None => String::new(),
        };
        match res {
            Ok((Permission::Allowed, checked)) => {
                println!("allowed: the caller may call {action} ({label}{})", on(&checked));
            }
            Ok((Permission::Denied(_), _)) if action == NAMES => {
                println!("optional, missing: the caller may not call {action}, so AMI names are not shown ({label})");
            }
            Ok((Permission::Denied(why), checked)) => {
                all_allowed = false;
                println!("denied: the caller may not call {action} ({label}{})", on(&checked));
                if !why.is_empty() {
                    println!("  {}", crate::text::safe(&why));
                }
            }
            Err(_) if action == NAMES && failed.contains(&n) => {}
            Err(e) => {
                // An optional check that could not be made does not fail the dry run.
                all_allowed &= action == NAMES;
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
    let fresh = match config.fresh {
        0 => String::new(),
        n => format!(" and {n} AMIs never exported"),
    };
    let region = config.regions.first().cloned().unwrap_or_default();
    let creds = if config.keys.any_key {
        "any credentials".to_string()
    } else {
        format!("AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}", sim::DEMO_KEY, sim::DEMO_SECRET)
    };
    let handle: SimHandle = sim::start(addr, config).await.with_context(|| format!("cannot listen on {addr}"))?;
    let url = handle.url().to_string();
    // The URL alone on the first line of stdout, for scripts; the rest on stderr, for people.
    quiet_on_broken_pipe(writeln!(io::stdout(), "{url}").and_then(|()| io::stdout().flush()))?;
    eprintln!(
        "amiwatch simulate: EC2 endpoint with {tasks} tasks{fresh} per account and region (seed {seed}), Ctrl-C to stop.\n  \
         amiwatch --endpoint-url {url} --region {region}\n  \
         aws ec2 describe-store-image-tasks --endpoint-url {url} --region {region}   ({creds})\n  \
         request counts: curl {url}/_sim/stats   every CreateStoreImageTask: curl {url}/_sim/creates",
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
            (&["--once", "--with-names"][..], "--with-names adds names to --output json"),
            (&["--once", "-o", "csv", "--with-names"][..], "the table and CSV always have them"),
            (&["--exclude-region", "eu-west-1"][..], "--exclude-region narrows --all-regions"),
        ] {
            let err = mode(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        // Defaults are not "given": the dashboard's own defaults never trip the check.
        assert!(mode(&["--once", "--state", "failed,completed", "--bucket", "aaa,bbb"]).is_ok());
        assert!(mode(&["--once", "-o", "json", "--with-names"]).is_ok());
        assert!(mode(&["--all-regions", "--exclude-region", "eu-west-1"]).is_ok());
    }
}
