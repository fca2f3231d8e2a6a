//! Picks the mode the flags ask for and runs it: simulate, dry-run, one-shot, or the dashboard.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command, SimArgs};
use crate::ec2::{self, ClientOptions, Ec2, Paging, Permission, Selection};
use crate::output;
use crate::sim::{self, SimHandle};

/// Whole-fetch retries of `--once` after a transient failure, on top of the SDK's own retries.
const ONCE_RETRIES: u32 = 3;

/// Exit code for bad usage, as clap uses.
pub const EXIT_USAGE: u8 = 2;

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

/// Runs the mode the flags ask for.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Command::Simulate { addr, regions, sim }) => return simulate(*addr, regions, sim).await,
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "amiwatch", &mut out);
            quiet_on_broken_pipe(io::stdout().write_all(&out).and_then(|()| io::stdout().flush()))?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    if let Some(flag) = cli.sim.first_set().filter(|_| !cli.demo) {
        eprintln!("amiwatch: {flag} shapes the simulated account: use it with --demo or `amiwatch simulate`");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let interactive = !cli.once && !cli.dry_run && !cli.wait;
    if interactive && !io::stdout().is_terminal() {
        eprintln!(
            "amiwatch: standard output is not a terminal, so the dashboard cannot start.\n\
             For scripts use --once (with --output table|json|csv), or --dry-run."
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let opts = ClientOptions {
        profile: cli.aws.profile.clone(),
        region: cli.aws.regions.first().cloned(),
        endpoint_url: cli.aws.endpoint_url.clone(),
        attempt_timeout: Some(cli.aws.request_timeout),
        max_attempts: None,
    };
    // The demo's endpoint lives as long as this function: keep the handle.
    let sim = match cli.demo {
        true => Some(
            sim::start(([127, 0, 0, 1], 0).into(), cli.sim.to_config())
                .await
                .context("cannot start the embedded EC2 endpoint")?,
        ),
        false => None,
    };
    let connect = |region: Option<String>| {
        let opts = ClientOptions { region, ..opts.clone() };
        let sim_url = sim.as_ref().map(|s| s.url().to_string());
        async move {
            match (sim_url, &opts.region) {
                (Some(url), Some(r)) => ec2::client::connect_embedded_as(&url, &opts, "AKIDAMIWATCHDEMO", r),
                (Some(url), None) => ec2::connect_embedded(&url, &opts),
                (None, _) => ec2::connect(&opts).await,
            }
        }
    };
    let first = connect(opts.region.clone()).await;
    let regions = if cli.aws.all_regions {
        ec2::enabled_regions(&first)
            .await
            .map_err(|e| anyhow::anyhow!("cannot list the enabled regions: {}", e.summary()))?
    } else {
        cli.aws.regions.clone()
    };
    let mut clients = Vec::new();
    if regions.len() > 1 {
        for r in &regions {
            clients.push(connect(Some(r.clone())).await);
        }
    } else {
        clients.push(first);
    }
    let ec2 = clients[0].clone();
    let selection = Selection {
        image_ids: cli.select.image_ids.clone(),
        states: cli.select.states.clone(),
        buckets: cli.select.buckets.clone(),
    };
    if cli.dry_run {
        return dry_run(&ec2).await;
    }
    if cli.wait {
        let opts = crate::wait::WaitOptions {
            interval: cli.interval,
            timeout: cli.timeout,
            output: cli.output,
            page_size: cli.select.page_size,
        };
        return crate::wait::wait(&clients, &selection, &opts).await;
    }
    if cli.once {
        let paging = Paging {
            page_size: cli.select.page_size,
            max_items: cli.select.max_items.map(|n| n as usize),
            starting_token: cli.select.starting_token.clone(),
        };
        return once(&clients, &selection, &paging, cli.output).await;
    }
    crate::tui::run(&cli, clients, selection).await
}

async fn dry_run(ec2: &Ec2) -> anyhow::Result<ExitCode> {
    match ec2::check_permission(ec2).await {
        Ok(Permission::Allowed) => {
            println!("allowed: the caller may call ec2:DescribeStoreImageTasks ({})", ec2.source);
            Ok(ExitCode::SUCCESS)
        }
        Ok(Permission::Denied(why)) => {
            println!("denied: the caller may not call ec2:DescribeStoreImageTasks ({})", ec2.source);
            if !why.is_empty() {
                println!("  {}", crate::text::safe(&why));
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(anyhow::anyhow!(e.summary())),
    }
}

/// One fetch per region, side by side; a failing region is reported and the others printed.
async fn once(clients: &[Ec2], sel: &Selection, paging: &Paging, format: output::Format) -> anyhow::Result<ExitCode> {
    let mut set = tokio::task::JoinSet::new();
    for (idx, ec2) in clients.iter().cloned().enumerate() {
        let (sel, paging) = (sel.clone(), paging.clone());
        set.spawn(async move {
            let region = ec2.region.clone().unwrap_or_default();
            let res = ec2::fetch_all_retrying(&ec2, &sel, &paging, ONCE_RETRIES, |e, wait| {
                eprintln!("amiwatch: {region}: {}; retrying in {}s", e.summary(), wait.as_secs());
            })
            .await;
            (idx, region, res)
        });
    }
    // In the order the regions were given, whatever order they finish in.
    let mut results: Vec<_> = set.join_all().await;
    results.sort_by_key(|(idx, _, _)| *idx);
    let mut fetched = ec2::Fetched::default();
    let mut failed = false;
    for (_, region, res) in results {
        match res {
            Ok(f) => {
                tracing::info!(region, tasks = f.tasks.len(), requests = f.requests, took = ?f.took, "fetched");
                fetched.tasks.extend(f.tasks);
                fetched.next_token = fetched.next_token.or(f.next_token);
            }
            Err(e) if clients.len() > 1 => {
                eprintln!("amiwatch: {region}: {}", e.summary());
                failed = true;
            }
            Err(e) => anyhow::bail!(e.summary()),
        }
    }
    let with_region = clients.len() > 1;
    let stdout = io::stdout();
    let width = stdout.is_terminal().then(|| crossterm::terminal::size().ok()).flatten().map(|(w, _)| usize::from(w));
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let res = output::write(&mut out, format, &fetched.tasks, fetched.next_token.as_deref(), width, with_region)
        .and_then(|()| out.flush());
    quiet_on_broken_pipe(res)?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Output piped into `head` ends quietly: a closed pipe is not an error worth a word.
fn quiet_on_broken_pipe(res: io::Result<()>) -> anyhow::Result<()> {
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the output"),
    }
}

async fn simulate(addr: std::net::SocketAddr, regions: &[String], args: &SimArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.to_config();
    if !regions.is_empty() {
        config.regions = regions.to_vec();
    }
    let tasks = config.tasks;
    let region = config.regions.first().cloned().unwrap_or_default();
    let handle: SimHandle = sim::start(addr, config).await.with_context(|| format!("cannot listen on {addr}"))?;
    let url = handle.url().to_string();
    // The URL alone on the first line of stdout, for scripts; the rest on stderr, for people.
    quiet_on_broken_pipe(writeln!(io::stdout(), "{url}").and_then(|()| io::stdout().flush()))?;
    eprintln!(
        "amiwatch simulate: EC2 endpoint with {tasks} tasks per region (seed {}), Ctrl-C to stop.\n  \
         amiwatch --endpoint-url {url} --region {region}\n  \
         aws ec2 describe-store-image-tasks --endpoint-url {url} --region {region}   (any credentials)\n  \
         request counts: curl {url}/_sim/stats",
        args.seed
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
