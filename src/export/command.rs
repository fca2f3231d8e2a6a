//! `amiwatch export`: makes the plan (or reads it back), shows it, asks, then runs it: on a
//! terminal in the dashboard, otherwise one line a change on standard error.

use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;

use super::plan::{self, Entry, Lock, Plan, Status};
use super::runner::{Ec2Service, Event, FileStore, Runner, StepError};
use crate::cli::{Cli, ExportArgs, Given};
use crate::ec2::{self, ErrorKind, Feed, FeedPlan};
use crate::image::{AmiInfo, StoreFacts};
use crate::text::safe;

/// EC2 stores AMIs of at most this many GB (the guide).
pub const MAX_STORE_GB: u64 = 5_000;

/// The rate the plan's time estimate assumes before anything has been measured: GB an
/// export stores a minute. The dashboard measures the real one.
pub const ASSUMED_GB_PER_MIN: f64 = 1.0;

/// Exit code when Ctrl-C (or SIGTERM) stopped the runner: 128 + SIGINT, as shells say.
pub const EXIT_STOPPED: u8 = 130;

/// The top-level flags `export` takes; any other one given is refused.
const FLAGS: &[&str] = &[
    "profiles",
    "regions",
    "endpoint_url",
    "request_timeout",
    "demo",
    "dry_run",
    "store_quota",
    "interval",
    "log_file",
    "config_file",
];

fn usage(why: &str) -> anyhow::Result<ExitCode> {
    eprintln!("amiwatch export: {why}");
    Ok(ExitCode::from(crate::run::EXIT_USAGE))
}

/// Runs `amiwatch export`.
pub async fn run(cli: &Cli, given: &Given, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(flag) = given.flags().filter(|f| !FLAGS.contains(f)).find_map(crate::cli::flag_of) {
        return usage(&format!("{flag} does not apply to amiwatch export: leave it out"));
    }
    if cli.aws.profiles.len() > 1 || cli.aws.regions.len() > 1 {
        return usage("a plan runs in one account and one region: name one --profile and one --region");
    }
    let new = !args.amis.is_empty() || args.from_file.is_some() || args.owned;
    // A plan to resume is locked before it is read: a runner on it may be writing it.
    let mut held = None;
    let (mut plan, path) = match (new, &args.plan) {
        (false, None) => {
            return usage(
                "name the AMIs to store (AMI IDs, --from-file or --owned) with --bucket, or a plan to resume with --plan FILE",
            );
        }
        (false, Some(path)) => {
            if std::fs::metadata(path).is_ok_and(|m| m.is_file()) && !cli.dry_run {
                match Lock::take(path) {
                    Ok(l) => held = Some(l),
                    Err(e) => {
                        eprintln!("amiwatch export: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            match Plan::load(path) {
                Ok(p) => (Some(p), path.clone()),
                Err(e) => return usage(&e.to_string()),
            }
        }
        (true, path) => {
            let Some(bucket) = &args.bucket else { return usage("--bucket names the S3 bucket the AMIs go to") };
            let path = path.clone().unwrap_or_else(|| plan::default_path(bucket));
            if std::fs::symlink_metadata(&path).is_ok() {
                return usage(&format!(
                    "a plan is there already: {}. Resume it with `amiwatch export --plan {}`, or name a new file with --plan",
                    path.display(),
                    path.display()
                ));
            }
            (None, path)
        }
    };
    if let Some(p) = &plan {
        if let Some(b) = args.bucket.as_ref().filter(|b| **b != p.bucket) {
            return usage(&format!("the plan stores to {}, not {b}: a plan's bucket does not change", p.bucket));
        }
        if !args.tags.is_empty() || args.retries.is_some() {
            return usage("--tag and --retries are part of the plan when it is made: they do not change on resume");
        }
        if let Some(r) = cli.aws.regions.first().filter(|r| **r != p.region) {
            return usage(&format!("the plan runs in {}, not {r}: leave --region out to resume it", p.region));
        }
        if let Some(pr) = cli.aws.profiles.first().filter(|pr| Some(*pr) != p.profile.as_ref()) {
            let theirs = p.profile.as_deref().unwrap_or("the default credentials");
            return usage(&format!("the plan runs as {theirs}, not {pr}: leave --profile out to resume it"));
        }
    }
    if let Err(why) = plan::check_tags(&args.tags) {
        return usage(&why);
    }
    // The AMIs a new plan is made of, read before anything is asked of AWS.
    let mut wanted: Vec<String> = args.amis.clone();
    if let Some(file) = &args.from_file {
        match read_ami_list(file) {
            Ok(list) => wanted.extend(list),
            Err(why) => return usage(&why),
        }
    }
    if new && !args.yes && !cli.dry_run && !io::stdin().is_terminal() {
        return usage("standard input is not a terminal, so it cannot ask: add --yes to start without asking");
    }
    let profile = plan.as_ref().map_or_else(|| cli.aws.profiles.first().cloned(), |p| p.profile.clone());
    let region = plan.as_ref().map_or_else(|| cli.aws.regions.first().cloned(), |p| Some(p.region.clone()));
    if !cli.demo {
        if let Some(r) = &region
            && cli.aws.endpoint_url.is_none()
            && let Err(why) = crate::regions::check(r)
        {
            return usage(&why);
        }
        if let Some(p) = &profile
            && let Err(why) = crate::run::checked_profiles(std::slice::from_ref(p)).await
        {
            return usage(&why);
        }
    }
    let sim = match cli.demo {
        true => Some(crate::sim::start(([127, 0, 0, 1], 0).into(), demo_config(cli)).await?),
        false => None,
    };
    let feed_plan = FeedPlan {
        profiles: profile.iter().cloned().collect(),
        regions: region.iter().cloned().collect(),
        options: ec2::ClientOptions {
            endpoint_url: cli.aws.endpoint_url.clone(),
            attempt_timeout: Some(cli.aws.request_timeout),
            ..ec2::ClientOptions::default()
        },
        embedded: sim.as_ref().map(|s| s.url().to_string()),
        ..FeedPlan::default()
    };
    let feeds = ec2::feed::connect(&feed_plan).await;
    let Some(feed) = feeds.into_iter().next() else { anyhow::bail!("no account and region to run the plan in") };
    let Some(region) = feed.info.region.clone() else {
        eprintln!("amiwatch export: {}", ec2::FetchError::new(ErrorKind::NoRegion, "").summary());
        return Ok(ExitCode::FAILURE);
    };
    let plan = match plan.take() {
        Some(mut p) => {
            // The quota is the account's, not the plan's: a new figure given now is kept.
            if given.has("store_quota") && p.store_quota_gb != cli.store_quota {
                eprintln!("amiwatch export: the store quota is now {} GB (was {})", cli.store_quota, p.store_quota_gb);
                p.store_quota_gb = cli.store_quota;
            }
            eprintln!("amiwatch export: resuming {}: {}", path.display(), p.counts().line());
            p
        }
        None => {
            let made = make(&feed, args, wanted, profile, region, cli.store_quota).await;
            let p = match made {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("amiwatch export: cannot look the AMIs up, so no plan is made: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if p.amis.len() > plan::MAX_AMIS {
                return usage(&format!(
                    "{} AMIs are more than one plan holds ({}): split them into several plans",
                    p.amis.len(),
                    plan::MAX_AMIS
                ));
            }
            let mut out = Vec::new();
            print_plan(&p, &path, cli.dry_run, &mut out)?;
            io::stdout().write_all(&out)?;
            p
        }
    };
    if cli.dry_run {
        return dry_run(&feed, &plan).await;
    }
    if plan.amis.iter().all(|e| matches!(e.status, Status::CannotStore { .. })) && new {
        eprintln!("amiwatch export: none of these AMIs can be stored, so nothing is started and no plan is written");
        return Ok(ExitCode::FAILURE);
    }
    if new && !args.yes {
        match confirm(&plan)? {
            Some(true) => {}
            Some(false) => {
                eprintln!("amiwatch export: nothing started");
                return Ok(ExitCode::FAILURE);
            }
            None => {
                return usage("standard input is not a terminal, so it cannot ask: add --yes to start without asking");
            }
        }
    }
    let lock = match held.take().map_or_else(|| Lock::take(&path), Ok) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("amiwatch export: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Another new plan may have been written here while this one waited for its answer.
    if new && std::fs::symlink_metadata(&path).is_ok() {
        return usage(&format!(
            "a plan was written at {} while this one waited: resume it with `amiwatch export --plan {}`",
            path.display(),
            path.display()
        ));
    }
    if let Err(e) = plan.save(&path) {
        eprintln!("amiwatch export: cannot write the plan, so nothing is started: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let runner = Runner::new(plan, Ec2Service { ec2: feed.ec2.clone() }, FileStore(path.clone()));
    let code = if io::stdout().is_terminal() && io::stdin().is_terminal() {
        crate::tui::run_export(cli, feed, runner, &path).await?
    } else {
        run_lines(runner, &path, cli.interval).await?
    };
    drop(lock);
    drop(sim);
    Ok(code)
}

/// The demo's endpoint for an export: AMIs never exported, a store rate and the quota.
fn demo_config(cli: &Cli) -> crate::sim::SimConfig {
    crate::sim::SimConfig { fresh: 12, gb_per_sec: Some(2.0), store_quota_gb: Some(600), ..cli.sim.to_config() }
}

/// AMI IDs one a line (`#` starts a comment; blank lines are skipped); `-` is standard input.
pub fn read_ami_list(file: &str) -> Result<Vec<String>, String> {
    let text = if file == "-" {
        let mut s = String::new();
        io::Read::read_to_string(&mut io::Read::take(io::stdin(), plan::MAX_FILE_BYTES), &mut s)
            .map_err(|e| format!("cannot read the AMI list from standard input: {e}"))?;
        s
    } else {
        let f = std::fs::File::open(file).map_err(|e| format!("cannot read the AMI list {file}: {e}"))?;
        let mut s = String::new();
        io::Read::read_to_string(&mut io::Read::take(f, plan::MAX_FILE_BYTES), &mut s)
            .map_err(|e| format!("cannot read the AMI list {file}: {e}"))?;
        s
    };
    parse_ami_list(&text).map_err(|(line, why)| format!("{file}, line {line}: {why}"))
}

/// The AMI IDs of a list's text; the first bad line and why.
pub fn parse_ami_list(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if !crate::task::is_ami_id(line) {
            let shown = crate::text::truncate(&safe(line), 40).into_owned();
            return Err((n + 1, format!("{shown:?} is not an AMI ID (ami- and 8 or 17 hex digits)")));
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// Whether EC2 can store this AMI at all; why not when it cannot.
pub fn cannot_store(info: &AmiInfo, facts: &StoreFacts) -> Option<String> {
    if !facts.product_codes.is_empty() {
        return Some("it is from AWS Marketplace (it has product codes)".into());
    }
    if facts.root_device_type.as_deref() == Some("instance-store") {
        return Some("its root device is an instance store volume".into());
    }
    if facts.virtualization_type.as_deref() == Some("paravirtual") {
        return Some("it is a paravirtual AMI".into());
    }
    match info.state.as_deref() {
        Some("available" | "disabled") | None => {}
        Some(other) => return Some(format!("it is {}", safe(other))),
    }
    match info.size_gib() {
        Some(gb) if gb > MAX_STORE_GB => Some(format!("it is {gb} GB, over the {MAX_STORE_GB} GB EC2 can store")),
        Some(_) => None,
        None => Some("its size is not known (it has no EBS volume with a size)".into()),
    }
}

/// Makes the plan: every AMI looked up, in the order given (`--owned` ones oldest first).
async fn make(
    feed: &Feed,
    args: &ExportArgs,
    mut wanted: Vec<String>,
    profile: Option<String>,
    region: String,
    quota: u64,
) -> Result<Plan, ec2::FetchError> {
    let mut known: Vec<(AmiInfo, StoreFacts)> = Vec::new();
    if args.owned {
        let mut owned = ec2::images::owned_images(&feed.ec2).await?;
        if let Some(age) = args.older_than {
            let cut = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
            owned.retain(|(i, _)| i.created.is_some_and(|c| c < cut));
        }
        owned.retain(|(i, _)| i.state.as_deref() != Some("deregistered"));
        owned.sort_by(|a, b| a.0.created.cmp(&b.0.created).then(a.0.id.cmp(&b.0.id)));
        wanted.extend(owned.iter().map(|(i, _)| i.id.to_string()));
        known = owned;
    }
    let mut seen = HashSet::new();
    wanted.retain(|a| seen.insert(a.clone()));
    let have: HashSet<&str> = known.iter().map(|(i, _)| &*i.id).collect();
    let ask: Vec<String> = wanted.iter().filter(|a| !have.contains(a.as_str())).cloned().collect();
    if !ask.is_empty() {
        known.extend(ec2::images::describe_for_export(&feed.ec2, &ask).await?);
    }
    let amis = wanted
        .iter()
        .map(|ami| {
            let found = known.iter().find(|(i, _)| *i.id == **ami);
            let status = match found {
                None => Status::CannotStore {
                    why: "it was not found (deregistered, or not visible to this account)".into(),
                },
                Some((i, f)) => cannot_store(i, f).map_or(Status::Queued, |why| Status::CannotStore { why }),
            };
            Entry {
                ami: ami.clone(),
                name: found.and_then(|(i, _)| i.name.clone()),
                size_gb: found.and_then(|(i, _)| i.size_gib()),
                status,
                attempts: Vec::new(),
            }
        })
        .collect();
    Ok(Plan {
        version: plan::VERSION,
        bucket: args.bucket.clone().unwrap_or_default(),
        profile,
        region,
        store_quota_gb: quota,
        retries: args.retries.unwrap_or(2),
        tags: args.tags.clone(),
        created: Utc::now(),
        amis,
    })
}

/// How long the plan takes under the quota at the assumed rate: minutes.
pub fn estimate_minutes(plan: &Plan, gb_per_min: f64) -> f64 {
    let jobs: Vec<crate::throughput::Job> = plan
        .amis
        .iter()
        .filter(|e| e.status == Status::Queued)
        .map(|e| {
            let gb = e.size_gb.unwrap_or(0) as f64;
            crate::throughput::Job { size_gb: gb, left_gb: gb, moving: false, start: None }
        })
        .collect();
    let plans = crate::throughput::schedule(&jobs, gb_per_min, Some(plan.store_quota_gb));
    plans.iter().map(|p| p.done_in_min).fold(0.0, f64::max)
}

fn print_plan(plan: &Plan, path: &Path, dry_run: bool, out: &mut impl Write) -> io::Result<()> {
    let storable: Vec<&Entry> = plan.amis.iter().filter(|e| e.status == Status::Queued).collect();
    let total: u64 = storable.iter().filter_map(|e| e.size_gb).sum();
    let who = plan.profile.as_deref().map(|p| format!(", profile {}", safe(p))).unwrap_or_default();
    let amis = if storable.len() == 1 { "AMI" } else { "AMIs" };
    writeln!(
        out,
        "Plan: {} {amis}, {total} GB, to s3://{} ({}{who})",
        storable.len(),
        plan.bucket,
        safe(&plan.region)
    )?;
    let name = |e: &Entry| safe(e.name.as_deref().unwrap_or("-")).into_owned();
    for e in &storable {
        let size = e.size_gb.map_or("?".to_string(), |g| g.to_string());
        writeln!(out, "  {:<21} {:>6} GB  {}", e.ami, size, crate::text::truncate(&name(e), 60))?;
    }
    let refused: Vec<&Entry> = plan.amis.iter().filter(|e| matches!(e.status, Status::CannotStore { .. })).collect();
    if !refused.is_empty() {
        writeln!(out, "Cannot be stored ({}, never sent):", refused.len())?;
        for e in refused {
            if let Status::CannotStore { why } = &e.status {
                writeln!(out, "  {:<21} {}: {why}", e.ami, crate::text::truncate(&name(e), 40))?;
            }
        }
    }
    if !storable.is_empty() {
        let minutes = estimate_minutes(plan, ASSUMED_GB_PER_MIN);
        writeln!(
            out,
            "Under the {} GB store quota: about {} at {ASSUMED_GB_PER_MIN} GB a minute an export (assumed; the dashboard measures the real rate).",
            plan.store_quota_gb,
            crate::text::duration_short((minutes * 60.0) as i64)
        )?;
    }
    match dry_run {
        true => writeln!(out, "Plan file: {} (not written: --dry-run)", path.display()),
        false => writeln!(out, "Plan file: {}", path.display()),
    }
}

/// Asks on the terminal; `None` when there is no terminal to ask on.
fn confirm(plan: &Plan) -> io::Result<Option<bool>> {
    if !io::stdin().is_terminal() {
        return Ok(None);
    }
    let n = plan.amis.iter().filter(|e| e.status == Status::Queued).count();
    eprint!("Start storing {n} AMIs in s3://{}? [y/N] ", plan.bucket);
    io::stderr().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(Some(matches!(line.trim(), "y" | "Y" | "yes" | "Yes")))
}

/// `--dry-run`: the plan was printed; may the caller start exports? Nothing is started.
async fn dry_run(feed: &Feed, plan: &Plan) -> anyhow::Result<ExitCode> {
    let ami = plan.amis.iter().find(|e| e.status == Status::Queued).map(|e| e.ami.as_str());
    let ami = ami.unwrap_or(ec2::export::PLACEHOLDER_AMI);
    match ec2::export::check_permission(&feed.ec2, ami).await {
        Ok(ec2::Permission::Allowed) => {
            println!(
                "allowed: the caller may call ec2:CreateStoreImageTask (checked with DryRun on {ami}; nothing started)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(ec2::Permission::Denied(_)) => {
            println!("denied: the caller may not call ec2:CreateStoreImageTask");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("amiwatch export: cannot check the permission: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One line for an event, or `None` for those a script does not need.
pub fn describe(plan: &Plan, ev: &Event) -> String {
    let named = |ami: &str| {
        let name = plan.amis.iter().find(|e| e.ami == ami).and_then(|e| e.name.as_deref());
        match name {
            Some(n) => format!("{ami} ({})", crate::text::truncate(&safe(n), 60)),
            None => ami.to_string(),
        }
    };
    match ev {
        Event::Started { ami } => format!("{} started", named(ami)),
        Event::Adopted { ami } => format!("{} has an export in progress: followed, not started again", named(ami)),
        Event::Stored { ami } => format!("{} stored", named(ami)),
        Event::AttemptFailed { ami, reason, again: true } => {
            format!("{} failed ({reason}): it will be started again", named(ami))
        }
        Event::AttemptFailed { ami, reason, again: false } => format!("{} failed ({reason})", named(ami)),
        Event::GaveUp { ami, why } => format!("{} cannot be stored: {why}", named(ami)),
        Event::QuotaFull { held_gb } => {
            format!("the store quota is full ({held_gb} GB in flight): the next start waits for an export to end")
        }
        Event::NotStarted { ami } => format!("{}: its start did not take; it will be started in turn", named(ami)),
        Event::Waiting { held_gb, quota_gb } => format!(
            "starts wait: the exports in progress (anyone's) hold {held_gb} GB of the {quota_gb} GB store quota"
        ),
        Event::Busy { ami, bucket } => {
            format!("{} waits: an export of it to another bucket ({bucket}) is in progress", named(ami))
        }
        Event::Halted { why } => format!("stopped starting exports: {why}"),
        Event::Unsure { ami, why } => {
            format!("{}: no answer to its start ({why}); asking the service next poll", named(ami))
        }
    }
}

/// Without a terminal: one line a change on standard error, until the plan ends.
async fn run_lines<S: super::runner::Service, W: super::runner::Store>(
    mut runner: Runner<S, W>,
    path: &Path,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    // The signal handlers are installed when `stop` is first polled: now, before the first
    // start, so a Ctrl-C during the first step stops as cleanly as one between steps (it would
    // otherwise end the process half way through saying what was started).
    tokio::select! {
        biased;
        _ = &mut stop => return Ok(after_run(&runner.plan, path)),
        _ = std::future::ready(()) => {}
    }
    let mut failures = 0u32;
    loop {
        let at = Utc::now();
        let stamp = at.format("%Y-%m-%dT%H:%M:%SZ");
        let result = runner.step(at).await;
        for ev in std::mem::take(&mut runner.events) {
            eprintln!("{stamp} {} · {}", describe(&runner.plan, &ev), status_line(&runner));
        }
        let wait = match result {
            Ok(()) => {
                failures = 0;
                interval
            }
            Err(StepError::Save(e)) => {
                eprintln!("amiwatch export: {e}; stopped, so nothing is started without the plan knowing");
                return Ok(ExitCode::FAILURE);
            }
            Err(StepError::Halted(why)) => {
                eprintln!(
                    "amiwatch export: stopped starting exports: {why}. The AMIs not started stay queued; \
                     fix this, then resume with `amiwatch export --plan {}`",
                    path.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            // What waiting cannot fix (no permission, credentials refused) ends a script's run.
            Err(StepError::Read(e)) if !e.is_transient() => {
                eprintln!(
                    "amiwatch export: {e}. The plan is saved: resume with `amiwatch export --plan {}`",
                    path.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(StepError::Read(e)) => {
                failures += 1;
                let back = interval.saturating_mul(1 << failures.min(6)).min(Duration::from_secs(300));
                eprintln!("{stamp} amiwatch export: {e} (the plan is saved; next try in {}s)", back.as_secs());
                back
            }
        };
        if runner.plan.is_done() {
            return Ok(finish(&runner.plan));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut stop => return Ok(after_run(&runner.plan, path)),
        }
    }
}

/// How a run that ended stands: the plan's end (0 or 1), or stopped before it (130), with
/// what goes on in AWS and how to resume.
pub fn after_run(plan: &Plan, path: &Path) -> ExitCode {
    if plan.is_done() {
        return finish(plan);
    }
    let n = plan.counts().in_flight;
    eprintln!(
        "amiwatch export: stopped; no new export is started. {n} exports in flight go on in AWS. \
         {}. Resume with `amiwatch export --plan {}`",
        plan.counts().line(),
        path.display()
    );
    ExitCode::from(EXIT_STOPPED)
}

/// `plan: 2 of 10 stored · 3 in flight · 5 queued · 420 of 600 GB in flight`.
pub fn status_line<S, W>(r: &Runner<S, W>) -> String {
    let plus = if r.in_flight_unknown { "+" } else { "" };
    format!("{} · {}{plus} of {} GB in flight", r.plan.counts().line(), r.in_flight_gb, r.plan.store_quota_gb)
}

/// The end: 0 when every AMI is stored, 1 naming each one that is not.
pub fn finish(plan: &Plan) -> ExitCode {
    let c = plan.counts();
    eprintln!("amiwatch export: {}", c.line());
    let mut all = true;
    for e in &plan.amis {
        let why = match &e.status {
            Status::Failed { why } | Status::CannotStore { why } => why,
            _ => continue,
        };
        all = false;
        eprintln!("amiwatch export: {} was not stored: {why}", e.ami);
    }
    if all { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_ami_list_takes_comments_and_blank_lines_and_names_a_bad_line() {
        let text = "# archive\nami-0123456789abcdef0\n\n  ami-00000001  # web\n";
        assert_eq!(parse_ami_list(text).unwrap(), vec!["ami-0123456789abcdef0", "ami-00000001"]);
        let (line, why) = parse_ami_list("ami-00000001\nimage-1\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(why.contains("not an AMI ID"), "{why}");
    }

    #[test]
    fn what_ec2_cannot_store_is_named() {
        let vol = |gb| crate::image::Volume { device: None, snapshot: None, size_gib: Some(gb) };
        let info = |gb| AmiInfo {
            id: "ami-00000001".into(),
            state: Some("available".into()),
            volumes: vec![vol(gb)],
            ..AmiInfo::default()
        };
        let facts = StoreFacts::default();
        assert_eq!(cannot_store(&info(100), &facts), None);
        assert!(cannot_store(&info(5001), &facts).unwrap().contains("5000 GB"));
        let market = StoreFacts { product_codes: vec!["abc".into()], ..StoreFacts::default() };
        assert!(cannot_store(&info(100), &market).unwrap().contains("Marketplace"));
        let store = StoreFacts { root_device_type: Some("instance-store".into()), ..StoreFacts::default() };
        assert!(cannot_store(&info(100), &store).unwrap().contains("instance store"));
    }

    proptest! {
        #[test]
        fn any_list_text_is_read_or_refused_never_a_panic(s in ".*") {
            let _ = parse_ami_list(&s);
        }
    }
}
