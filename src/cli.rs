//! Command-line flags and their validation. Every bad value is refused here, with one clear
//! line and exit code 2, before any request is sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::BTreeSet;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::output::Format;
use crate::task::TaskState;

pub const AFTER_HELP: &str = "\
Examples:
  amiwatch --demo                          the dashboard on the built-in EC2 endpoint
  amiwatch --profile prod --region eu-west-1
  amiwatch --profile prod,dev --region us-east-1,eu-west-1
                                           4 feeds: every profile in every region
  amiwatch --all-regions                   every enabled region, side by side
  amiwatch --profile 'acme-*' --all-regions --exclude-region me-south-1
                                           every acme-* profile of ~/.aws/config
  amiwatch profiles 'acme-*'               which profiles that pattern selects
  amiwatch config                          the settings in effect, and where each came from
  amiwatch --once --output json            one fetch, AWS CLI-shaped JSON
  amiwatch --once --state failed --bucket my-archive
  amiwatch --dry-run                       may I call ec2:DescribeStoreImageTasks?
  amiwatch --wait --image-id ami-0123456789abcdef0 --timeout 6h
  amiwatch --demo --allow-retry            x exports a failed task's AMI again (asks first)
  amiwatch export --bucket my-archive --owned --older-than 180d
                                           store old AMIs in S3 under the quota, from a plan
  amiwatch simulate --tasks 10000          a local endpoint for any EC2 client

Reading tasks needs one IAM permission: ec2:DescribeStoreImageTasks (ec2:DescribeImages adds
AMI names; ec2:CreateStoreImageTask is needed only with --allow-retry and amiwatch export).
The service keeps tasks of the last 31 days.";

/// Watch Amazon EC2 AMI-to-S3 store-image tasks (CreateStoreImageTask) live in the terminal.
#[derive(Debug, Parser)]
#[command(name = "amiwatch", version, about, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Run against the built-in EC2 endpoint with simulated tasks (no AWS account needed). The
    /// dashboard shows two demo accounts in two regions, whose exports fill and free the store
    /// quota (--store-quota); --once, --wait and --dry-run read the first account in us-east-1.
    #[arg(global = true, long, help_heading = "Mode")]
    pub demo: bool,

    /// Fetch once, print, and exit (for scripts). If any feed fails, nothing is printed and
    /// the exit code is 1, unless --partial.
    #[arg(long, help_heading = "Mode", conflicts_with = "dry_run")]
    pub once: bool,

    /// With --once and several feeds: print the feeds that answered even when others failed
    /// (the failed ones are named on stderr, and the exit code is still 1).
    #[arg(long, help_heading = "Mode")]
    pub partial: bool,

    /// With --once --output json: add each AMI's Name and SizeGiB (ec2:DescribeImages). The
    /// table and CSV always have name and size columns; without this the JSON is exactly the
    /// AWS CLI's.
    #[arg(long, help_heading = "Mode")]
    pub with_names: bool,

    /// Check whether the caller may call DescribeStoreImageTasks (DryRun), then exit 0 or 1;
    /// DescribeImages (names) is checked too, as optional (one line when missing, exit 0).
    #[arg(global = true, long, help_heading = "Mode")]
    pub dry_run: bool,

    /// Poll until the latest task of each selected AMI has ended (with no selection: of every
    /// AMI with a task in the last 31 days): exit 0 all completed, 1 any failed, 3 none
    /// matched, 124 timed out.
    #[arg(long, help_heading = "Mode", conflicts_with_all = ["once", "dry_run"])]
    pub wait: bool,

    /// With --wait: give up after this long (e.g. 2h), exit 124. One last poll is made at the
    /// deadline, so a task that ended in the last interval counts as ended.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Mode")]
    pub timeout: Option<Duration>,

    /// Output format of --once and --wait.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table, help_heading = "Mode")]
    pub output: Format,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Time between polls while tasks are in progress (e.g. 5s, 1m; at least 1s).
    #[arg(global = true, long, value_name = "DURATION", default_value = "5s", value_parser = parse_interval, allow_hyphen_values = true, help_heading = "Polling")]
    pub interval: Duration,

    /// Time between sweeps, which read every task; the polls between them ask only for the
    /// tasks in progress (and those that just ended). Equal to --interval: every poll sweeps.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_interval, allow_hyphen_values = true, help_heading = "Polling")]
    pub sweep_interval: Duration,

    /// Time between polls while nothing is in progress (fewer API calls).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_interval, allow_hyphen_values = true, help_heading = "Polling")]
    pub idle_interval: Duration,

    /// Allow key x to export a failed task's AMI again (CreateStoreImageTask, after a
    /// confirmation). Without it amiwatch only ever reads. With --dry-run, also check the
    /// permission for it, on an AMI of the account's own exports (named in the output).
    #[arg(long, help_heading = "Mode")]
    pub allow_retry: bool,

    /// Which task endings ring the bell and raise a desktop notification (key n cycles).
    #[arg(long, value_enum, default_value_t = crate::app::NotifyMode::Failures, help_heading = "Polling")]
    pub notify: crate::app::NotifyMode,

    /// The account's store quota in GB: the AMIs being stored may hold this much before EC2
    /// refuses new exports (600 GB in the current guide). The header shows how full it is.
    #[arg(global = true, long, value_name = "GB", default_value_t = 600, value_parser = parse_store_quota, help_heading = "Polling")]
    pub store_quota: u64,

    /// Write a debug log to this file (the screen never gets log lines).
    #[arg(global = true, long, value_name = "PATH", env = "AMIWATCH_LOG")]
    pub log_file: Option<PathBuf>,

    /// Read settings from this TOML file instead of $XDG_CONFIG_HOME/amiwatch/config.toml
    /// (~/.config/amiwatch/config.toml); its keys are the long flags' names, and a flag on the
    /// command line wins. `amiwatch config` shows what is in effect.
    #[arg(global = true, long = "config", value_name = "FILE", env = "AMIWATCH_CONFIG")]
    pub config_file: Option<PathBuf>,

    /// Options of the simulated account, used with --demo.
    #[command(flatten)]
    pub sim: SimArgs,
}

/// Which tasks to read.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// AMI to watch (repeatable, or comma-separated): its latest task. Any number; sent 20 per request.
    #[arg(long = "image-id", value_name = "AMI_ID", value_delimiter = ',', value_parser = parse_ami_id, help_heading = "Selection")]
    pub image_ids: Vec<String>,

    /// Task state (repeatable): InProgress, Completed or Failed (any case, in-progress too).
    #[arg(long = "state", value_name = "STATE", value_delimiter = ',', value_parser = parse_state, help_heading = "Selection")]
    pub states: Vec<TaskState>,

    /// S3 bucket (repeatable).
    #[arg(long = "bucket", value_name = "BUCKET", value_delimiter = ',', value_parser = parse_bucket, help_heading = "Selection")]
    pub buckets: Vec<String>,

    /// Tasks per request, 1..=200.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(i32).range(1..=200), allow_negative_numbers = true, help_heading = "Selection")]
    pub page_size: i32,

    /// Stop after N tasks (with --once) and print the token to resume from.
    #[arg(long, value_name = "N", value_parser = parse_max_items, allow_negative_numbers = true, help_heading = "Selection", conflicts_with = "image_ids")]
    pub max_items: Option<u64>,

    /// Resume where a --max-items run stopped.
    #[arg(long, value_name = "TOKEN", help_heading = "Selection", conflicts_with = "image_ids")]
    pub starting_token: Option<String>,
}

/// Where to read from.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// Named profile from ~/.aws/config or ~/.aws/credentials (otherwise AWS_PROFILE or the
    /// default chain); it signs with its own credentials even when AWS_ACCESS_KEY_ID is set, as
    /// the AWS CLI does. Several (repeatable or comma-separated) are watched side by side, each
    /// in its own account. A pattern with * or ? ('acme-*') takes every profile it matches.
    #[arg(global = true, long = "profile", value_name = "NAME", value_delimiter = ',', value_parser = parse_profile, help_heading = "AWS")]
    pub profiles: Vec<String>,

    /// AWS region (otherwise AWS_REGION or each profile's own region); several (repeatable or
    /// comma-separated) are watched side by side. Each profile x region pair is one feed.
    #[arg(global = true, long = "region", value_name = "REGION", value_delimiter = ',', value_parser = parse_region, help_heading = "AWS")]
    pub regions: Vec<String>,

    /// Watch every region the account has enabled (asks EC2 DescribeRegions; a profile whose
    /// regions cannot be listed fails with the cause, never falls back to one region).
    #[arg(global = true, long, help_heading = "AWS", conflicts_with = "regions")]
    pub all_regions: bool,

    /// With --all-regions: leave this region out (repeatable or comma-separated).
    #[arg(global = true, long = "exclude-region", value_name = "REGION", value_delimiter = ',', value_parser = parse_region, help_heading = "AWS")]
    pub exclude_regions: Vec<String>,

    /// A custom EC2 endpoint (http or https), such as `amiwatch simulate`'s (otherwise
    /// AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, or the profile's endpoint_url).
    #[arg(global = true, long, value_name = "URL", value_parser = parse_endpoint, help_heading = "AWS")]
    pub endpoint_url: Option<String>,

    /// Time one HTTP attempt may take before it is retried (1s to 1h).
    #[arg(global = true, long, value_name = "DURATION", default_value = "10s", value_parser = parse_request_timeout, allow_hyphen_values = true, help_heading = "AWS")]
    pub request_timeout: Duration,

    /// The most --once and --dry-run may take in all, connecting, retries and names included;
    /// a feed with no complete answer by then has failed.
    #[arg(global = true, long, value_name = "DURATION", default_value = "1m", value_parser = parse_request_timeout, allow_hyphen_values = true, help_heading = "AWS")]
    pub max_time: Duration,
}

/// The simulated account (for `simulate`, and for `--demo`).
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Number of simulated tasks (default: the scenario's few dozen).
    #[arg(long, value_name = "N", help_heading = "Simulation")]
    pub tasks: Option<usize>,

    /// Seed of the simulated account: the same seed, the same tasks.
    #[arg(long, value_name = "N", default_value_t = 42, help_heading = "Simulation")]
    pub seed: u64,

    /// Freeze the simulated clock: tasks stay where they are.
    #[arg(long, help_heading = "Simulation")]
    pub frozen: bool,

    /// Run the simulated clock this many times faster than real time.
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed, help_heading = "Simulation")]
    pub speed: f64,

    /// Percent of requests throttled (RequestLimitExceeded, HTTP 503).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent, help_heading = "Simulation faults")]
    pub fault_throttle: f64,

    /// Percent of requests that fail with InternalError (HTTP 500).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent, help_heading = "Simulation faults")]
    pub fault_internal: f64,

    /// Percent of requests answered only after --fault-slow-delay.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent, help_heading = "Simulation faults")]
    pub fault_slow: f64,

    /// How late a slow answer comes.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Simulation faults")]
    pub fault_slow_delay: Duration,

    /// Percent of connections dropped without an answer.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent, help_heading = "Simulation faults")]
    pub fault_drop: f64,

    /// Percent of answers with malformed XML.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent, help_heading = "Simulation faults")]
    pub fault_malformed: f64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print shell completions: amiwatch completions bash > /etc/bash_completion.d/amiwatch
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), made from these flags: amiwatch man > amiwatch.1
    Man,
    /// List the AWS profiles a --profile pattern selects (all without one), with region and account.
    Profiles {
        /// A profile name or pattern ('acme-*', shell-style * and ?).
        #[arg(value_parser = parse_profile)]
        pattern: Option<String>,
    },
    /// Print the settings in effect (as a config file) and where each came from: default,
    /// config file, environment or command line.
    Config,
    /// Store many AMIs in S3 under the store quota, from a plan file that survives anything:
    /// the plan is shown first, then (after you confirm) each AMI is started once, in order,
    /// while the exports in progress hold less than --store-quota, and followed to its end.
    /// Exit 0 when every AMI is stored, 1 when any is not (each named with why), 130 when
    /// stopped (resume with --plan).
    #[command(after_help = EXPORT_HELP)]
    Export(ExportArgs),
    /// Run the embedded EC2 endpoint alone and print its URL, for any EC2 client (the AWS CLI too).
    Simulate {
        /// Loopback address to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = parse_loopback)]
        addr: SocketAddr,

        /// Regions DescribeRegions lists (comma-separated).
        #[arg(long = "regions", id = "sim_regions", value_name = "REGION", value_delimiter = ',', value_parser = parse_region)]
        regions: Vec<String>,

        /// Each access key is an account of its own, with its own tasks (to try several
        /// profiles); any key is taken, as with --any-key.
        #[arg(long)]
        accounts_by_key: bool,

        /// Exactly this many tasks in progress (of --tasks), the rest completed or failed.
        #[arg(long, value_name = "N")]
        moving: Option<usize>,

        /// Exports more that start within the first hour, as if someone started them.
        #[arg(long, value_name = "N", default_value_t = 0)]
        upcoming: usize,

        /// GB a second each moving export stores: a task takes its AMI's size over this rate
        /// (else the scenario's own durations).
        #[arg(long, value_name = "GB", value_parser = parse_gb_per_sec)]
        gb_per_sec: Option<f64>,

        /// Refuse CreateStoreImageTask (ResourceLimitExceeded, a code assumed: the guide names
        /// none) while the exports in progress hold this many GB or more; with --gb-per-sec the
        /// service's queue holds a task at 0% while the moving ones do.
        #[arg(long, value_name = "GB", value_parser = parse_store_quota)]
        store_quota: Option<u64>,

        /// Percent of AMIs from AWS Marketplace (product codes): exporting one is refused for
        /// good (UnsupportedOperation, a code assumed).
        #[arg(long, value_name = "PERCENT", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        marketplace: u32,

        /// AMIs per account and region that were never exported, for `amiwatch export`: 50-500
        /// GB, created over the last two years; about 1 in 10 from AWS Marketplace and 1 in 10
        /// failing half way the first time (from 5 AMIs on, at least one of each).
        #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
        fresh: usize,

        /// Accept any access key without checking its signature (else only the demo's key,
        /// AKIDAMIWATCHDEMO with secret amiwatch-demo-secret, signed as AWS checks it).
        #[arg(long)]
        any_key: bool,

        #[command(flatten)]
        sim: SimArgs,
    },
}

pub const EXPORT_HELP: &str = "\
Examples:
  amiwatch export --bucket my-archive ami-0123456789abcdef0 ami-0fedcba9876543210
  amiwatch export --bucket my-archive --from-file amis.txt     one AMI a line, # comments, - for stdin
  amiwatch export --bucket my-archive --owned --older-than 180d
  amiwatch export --plan amiwatch-export-my-archive.json       resume where it stopped
  amiwatch export --demo --bucket amiwatch-demo --owned         on the built-in endpoint

--dry-run prints the plan and checks ec2:CreateStoreImageTask (DryRun): nothing is written or
started. --demo runs it on the built-in endpoint, whose AMIs include some never exported.

The plan file (./amiwatch-export-BUCKET.json unless --plan names one) is written after every
change. Stopped or killed, a run resumes from it: an AMI whose start was not written down is
looked up in EC2 first, never started twice. Needs ec2:DescribeImages, ec2:DescribeStoreImageTasks
and ec2:CreateStoreImageTask, and EC2 needs write access to the bucket.";

/// `amiwatch export`'s own flags (the AWS flags, --store-quota, --interval, --dry-run and
/// --demo work after it too).
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// AMIs to store, in this order.
    #[arg(value_name = "AMI_ID", value_parser = parse_ami_id)]
    pub amis: Vec<String>,

    /// The S3 bucket to store them in.
    #[arg(long = "bucket", id = "export_bucket", value_name = "BUCKET", value_parser = parse_bucket)]
    pub bucket: Option<String>,

    /// The plan file (default ./amiwatch-export-BUCKET.json). Alone: resume it.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,

    /// Start without asking (for scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// A tag for each S3 object (repeatable; at most 10).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = crate::export::plan::parse_tag)]
    pub tags: Vec<crate::export::plan::Tag>,

    /// Read AMI IDs from this file, one a line (# comments); - reads standard input.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<String>,

    /// Every AMI the account owns in the region (ec2:DescribeImages, Owner=self), oldest first.
    #[arg(long)]
    pub owned: bool,

    /// With --owned: only AMIs created longer ago than this (e.g. 180d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "owned")]
    pub older_than: Option<Duration>,

    /// How many times a failed export is started again (default 2); refusals that cannot
    /// change (not found, marketplace, unauthorized) are final at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: Option<u32>,
}

/// The flags given on the command line (or in the environment), by their clap id: what
/// the mode check refuses when a flag does not apply to the chosen mode. Settings from the
/// config file are not "given": a preference in the file never makes a mode refuse to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    flags: BTreeSet<String>,
    /// The config file read, if any.
    pub config: Option<crate::config::ConfigFile>,
    /// The default config file's path, looked for when none was named.
    pub config_searched: Option<PathBuf>,
    /// Every setting in effect and where it came from (`amiwatch config`).
    pub settings: Vec<crate::config::Setting>,
}

/// A flag's clap id as a person types it (`endpoint_url` is `--endpoint-url`); `None` for an
/// id that is not a flag (a group of them).
pub fn flag_of(id: &str) -> Option<String> {
    let cmd = command();
    let arg = cmd.get_arguments().find(|a| a.get_id() == id)?;
    Some(format!("--{}", arg.get_long().map_or_else(|| id.replace('_', "-"), str::to_string)))
}

impl Given {
    /// The clap ids of the flags given.
    pub fn flags(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(String::as_str)
    }

    pub fn has(&self, id: &str) -> bool {
        self.flags.contains(id)
    }
}

/// Why the arguments cannot be parsed.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (and `--help`, `--version`).
    Clap(clap::Error),
    /// The config file, with the file, line and key.
    Config(String),
}

/// `0.1.0 (aws-sdk-ec2 1.274.0)`: what `--version` says.
pub static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{} (aws-sdk-ec2 {})", env!("CARGO_PKG_VERSION"), aws_sdk_ec2::meta::PKG_VERSION)
});

/// The command as every user of it sees it: parsing, completions, the man page.
pub fn command() -> clap::Command {
    Cli::command().version(VERSION.as_str())
}

impl Cli {
    /// Parses the process's arguments and config file; exits with one line and code 2 on bad
    /// input (clap's help and version as clap prints them).
    pub fn parse_with_given() -> (Self, Given) {
        let env = |k: &str| std::env::var(k).ok();
        match parse_args(std::env::args_os().collect(), &env) {
            Ok(parsed) => parsed,
            Err(ParseError::Clap(e)) => exit_clap(e),
            Err(ParseError::Config(msg)) => {
                eprintln!("amiwatch: {msg}");
                std::process::exit(2)
            }
        }
    }

    /// Parses `args` as [`Cli::parse_with_given`] does, without a default config file, for tests.
    pub fn try_parse_with_given<I, T>(args: I) -> Result<(Self, Given), clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        Ok((Self::from_arg_matches(&matches)?, Given { flags: given(&matches), ..Given::default() }))
    }
}

/// clap's error as one line on stderr (its tip included), exit 2; help and version as clap
/// prints them.
fn exit_clap(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    eprintln!("amiwatch: {}; see --help", crate::config::clap_reason(&e));
    std::process::exit(2)
}

/// Parses the command line and the config file. `env` gives the variables that locate the
/// default config file (`XDG_CONFIG_HOME`, `HOME`); `AMIWATCH_CONFIG` is `--config`'s own.
pub fn parse_args(
    args: Vec<std::ffi::OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Cli, Given), ParseError> {
    let mut cmd = command();
    cmd.build();
    let first = cmd.clone().try_get_matches_from(&args).map_err(ParseError::Clap)?;
    let flags = given(&first);
    // The subcommands that are not about AWS read no config file.
    if matches!(first.subcommand_name(), Some("simulate" | "completions" | "man")) {
        let cli = Cli::from_arg_matches(&first).map_err(ParseError::Clap)?;
        return Ok((cli, Given { flags, ..Given::default() }));
    }
    let named = first.get_one::<PathBuf>("config_file").cloned();
    let searched = if named.is_none() { crate::config::default_path(env) } else { None };
    let file = match named.as_ref().or(searched.as_ref()) {
        Some(path) => crate::config::load(path, named.is_some(), &cmd).map_err(|e| ParseError::Config(e.0))?,
        None => None,
    };
    // Two settings of the file that clap refuses together: named with their lines.
    if let Some(f) = &file {
        for (i, a) in f.entries.iter().enumerate() {
            // A flag set to false sets nothing, and so clashes with nothing.
            let sets = |e: &&crate::config::Entry| !e.args.is_empty();
            if let Some(b) = f.entries[..i].iter().filter(sets).find(|b| sets(&a) && conflict(&cmd, &a.id, &b.id)) {
                return Err(ParseError::Config(format!(
                    "{} line {}: key '{}' cannot be used with key '{}' (line {}): keep one",
                    crate::profiles::show(&f.path),
                    a.line,
                    a.key,
                    b.key,
                    b.line
                )));
            }
        }
    }
    let demo = first.get_flag("demo");
    let mut extra: Vec<std::ffi::OsString> = Vec::new();
    let mut applied: Vec<String> = Vec::new();
    for e in file.iter().flat_map(|f| &f.entries) {
        // A flag given wins over the file, and so does a flag the setting would clash with.
        let clashes = flags.iter().any(|g| conflict(&cmd, g, &e.id));
        let not_for_demo = demo && matches!(e.id.as_str(), "profiles" | "endpoint_url");
        if flags.contains(&e.id) || clashes || not_for_demo {
            continue;
        }
        extra.extend(e.args.iter().cloned());
        applied.push(e.id.clone());
    }
    let matches = if extra.is_empty() {
        first
    } else {
        let mut all = args.clone();
        let at = 1.min(all.len());
        all.splice(at..at, extra);
        cmd.clone().try_get_matches_from(all).map_err(|e| {
            let path = file.as_ref().map_or(String::new(), |f| crate::profiles::show(&f.path));
            ParseError::Config(format!("with the settings of {path}: {}", crate::config::clap_reason(&e)))
        })?
    };
    let cli = Cli::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    let settings = crate::config::settings(&cmd, &matches, file.as_ref(), &applied);
    Ok((cli, Given { flags, config: file, config_searched: searched, settings }))
}

/// Whether clap refuses flags `a` and `b` together.
fn conflict(cmd: &clap::Command, a: &str, b: &str) -> bool {
    let find = |id: &str| cmd.get_arguments().find(|x| x.get_id() == id);
    let (Some(x), Some(y)) = (find(a), find(b)) else { return false };
    cmd.get_arg_conflicts_with(x).iter().any(|c| c.get_id() == b)
        || cmd.get_arg_conflicts_with(y).iter().any(|c| c.get_id() == a)
}

fn given(m: &clap::ArgMatches) -> BTreeSet<String> {
    m.ids()
        .filter(|id| matches!(m.value_source(id.as_str()), Some(ValueSource::CommandLine | ValueSource::EnvVariable)))
        .map(|id| id.as_str().to_string())
        .collect()
}

impl SimArgs {
    /// The first simulation flag that was set, for refusing it without `--demo`.
    pub fn first_set(&self) -> Option<&'static str> {
        let faults = [
            (self.fault_throttle, "--fault-throttle"),
            (self.fault_internal, "--fault-internal"),
            (self.fault_slow, "--fault-slow"),
            (self.fault_drop, "--fault-drop"),
            (self.fault_malformed, "--fault-malformed"),
        ];
        if self.tasks.is_some() {
            Some("--tasks")
        } else if self.seed != 42 {
            Some("--seed")
        } else if self.frozen {
            Some("--frozen")
        } else if self.speed != 1.0 {
            Some("--speed")
        } else {
            faults.iter().find(|(v, _)| *v > 0.0).map(|(_, name)| *name)
        }
    }

    pub fn to_config(&self) -> crate::sim::SimConfig {
        let mut c = crate::sim::SimConfig::default();
        if let Some(n) = self.tasks {
            c.tasks = n;
        }
        c.seed = self.seed;
        c.frozen = self.frozen;
        c.speed = self.speed;
        c.faults = crate::sim::FaultConfig {
            throttle: self.fault_throttle,
            internal_error: self.fault_internal,
            slow: self.fault_slow,
            slow_delay: self.fault_slow_delay,
            drop: self.fault_drop,
            malformed: self.fault_malformed,
            ..crate::sim::FaultConfig::default()
        };
        c
    }
}

/// The longest duration any flag takes: a year. Past it the clock arithmetic of the
/// dashboard (and of anyone's patience) stops making sense.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// `5s`, `1m`, `1m30s`, `500ms`, `2h`, `1d`; a bare number is seconds. Total: any string gives
/// a duration up to [`MAX_DURATION`] or a message, never a panic.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let shown = crate::text::safe(s);
    let err = || format!("'{shown}' is not a duration: use forms like 5s, 1m, 1m30s or 500ms");
    let s = s.trim();
    if s.is_empty() {
        return Err(err());
    }
    if s.starts_with('-') {
        return Err(format!("'{shown}' is negative: a duration counts forward, like 5s or 1m"));
    }
    let too_long = || format!("'{shown}' is too long: at most 365 days");
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| err())?;
        let scale = match unit.trim() {
            "" if next.is_empty() && rest.len() == s.len() => 1.0,
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(err()),
        };
        let part = Duration::try_from_secs_f64(n * scale).map_err(|_| too_long())?;
        total = total.checked_add(part).filter(|t| *t <= MAX_DURATION).ok_or_else(too_long)?;
        rest = next;
    }
    Ok(total)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(format!("'{}' is too short: the interval must be at least 1s", crate::text::safe(s)));
    }
    Ok(d)
}

/// One HTTP attempt: at least a second (less fails every request), at most an hour.
fn parse_request_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    match d {
        d if d < Duration::from_secs(1) => {
            Err(format!("'{}' is too short: a request needs at least 1s", crate::text::safe(s)))
        }
        d if d > Duration::from_secs(3600) => Err(format!("'{}' is too long: at most 1h", crate::text::safe(s))),
        d => Ok(d),
    }
}

fn parse_ami_id(s: &str) -> Result<String, String> {
    let s = s.trim();
    if crate::task::is_ami_id(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{}' is not an AMI ID: expected ami- and 8 or 17 lowercase hex digits, like ami-0123456789abcdef0",
            crate::text::safe(s)
        ))
    }
}

fn parse_max_items(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{}' is not a number of tasks: a whole number, at least 1", crate::text::safe(s))),
    }
}

fn parse_state(s: &str) -> Result<TaskState, String> {
    TaskState::from_user(s.trim())
        .ok_or_else(|| format!("'{}' is not a task state: use InProgress, Completed or Failed", crate::text::safe(s)))
}

/// S3 bucket naming rules: 3-63 characters of lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit.
fn parse_bucket(s: &str) -> Result<String, String> {
    let s = s.trim();
    if crate::task::is_bucket_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{}' is not a valid S3 bucket name: 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit",
            crate::text::safe(s)
        ))
    }
}

fn parse_profile(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok { Ok(s.to_string()) } else { Err(format!("'{}' is not a profile name", crate::text::safe(s))) }
}

fn parse_region(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok =
        !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{}' is not a region name: expected something like us-east-1", crate::text::safe(s)))
    }
}

/// An http or https URL with a host and, at most, a port and a `/` path: parsed by the same
/// URI parser the HTTP client uses, so what passes here is what the client can reach.
fn parse_endpoint(s: &str) -> Result<String, String> {
    let shown = crate::text::safe(s);
    let bad = |why: &str| {
        format!("'{shown}' is not an endpoint URL: {why} (expected http://HOST[:PORT] or https://HOST[:PORT])")
    };
    let uri: hyper::Uri = s.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    let Some(authority) = uri.authority() else { return Err(bad("no host")) };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(bad("no host"));
    }
    // What follows the host is nothing, or a port from 1 to 65535.
    let after_host = authority.as_str().get(authority.host().len()..).unwrap_or(":");
    if let Some(port) = after_host.strip_prefix(':') {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
    } else if !after_host.is_empty() {
        return Err(bad("no host"));
    }
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
        return Err(bad("a path or query has no place in an endpoint"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s.parse().map_err(|_| format!("'{s}' is not an address: expected 127.0.0.1:PORT"))?;
    if a.ip().is_loopback() {
        Ok(a)
    } else {
        Err(format!("'{s}': the embedded endpoint listens on loopback only (127.0.0.1)"))
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a percentage from 0 to 100")),
    }
}

/// A store quota in GB: a whole number from 1 to 1,000,000.
pub fn parse_store_quota(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{}' is not a store quota: a whole number of GB from 1 to 1000000, like 600",
            crate::text::safe(s)
        )),
    }
}

/// A store rate in GB a second: above 0, at most 1000.
fn parse_gb_per_sec(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err(format!(
            "'{}' is not a store rate: GB a second, above 0 and at most 1000, like 0.5",
            crate::text::safe(s)
        )),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100_000.0 => Ok(p),
        _ => Err(format!("'{s}' is not a speed: a number above 0, 1 is real time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_quotas_are_whole_gb_in_range_and_total() {
        assert_eq!(parse_store_quota("600"), Ok(600));
        assert_eq!(parse_store_quota(" 1200 "), Ok(1200));
        for bad in ["0", "-5", "1.5", "", "1000001", "600GB", "\u{1b}[2J"] {
            let e = parse_store_quota(bad).unwrap_err();
            assert!(e.contains("not a store quota") && !e.contains('\u{1b}'), "{bad:?}: {e}");
        }
        assert!(parse_gb_per_sec("0").is_err() && parse_gb_per_sec("NaN").is_err() && parse_gb_per_sec("inf").is_err());
        assert_eq!(parse_gb_per_sec("0.5"), Ok(0.5));
    }

    proptest::proptest! {
        #[test]
        fn store_quota_parsing_is_total(s in ".*") {
            let _ = parse_store_quota(&s);
            let _ = parse_gb_per_sec(&s);
        }
    }

    #[test]
    fn durations_are_total_and_bounded() {
        for bad in ["4000000000000000h4000000000000000h", "3000000000h", "18446744073709551615", "366d", "1e400s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("too long") || e.contains("not a duration"), "{bad}: {e}");
        }
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_request_timeout("0s").unwrap_err().contains("at least 1s"));
        assert!(parse_request_timeout("18446744073709551615").is_err());
        let c = Cli::try_parse_from(["amiwatch", "--interval", "-1s"]).unwrap_err().to_string();
        assert!(c.contains("negative"), "{c}");
    }

    #[test]
    fn endpoints_are_parsed_as_urls() {
        for ok in
            ["http://127.0.0.1:4566", "https://ec2.eu-west-1.amazonaws.com", "http://[::1]:4566/", "http://localhost"]
        {
            assert!(parse_endpoint(ok).is_ok(), "{ok}: {:?}", parse_endpoint(ok));
        }
        for bad in [
            "http://[::1",
            "http://:abc",
            "http://127.0.0.1:99999",
            "http://h:abc",
            "ftp://x",
            "http://",
            "http://h/p?q=1",
            "h:1",
            "http://u@h",
            "http://h:",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_interval("500ms").unwrap_err().contains("at least 1s"));
    }

    #[test]
    fn buckets_regions_endpoints() {
        assert!(parse_bucket("my-bucket.v2").is_ok());
        for bad in ["ab", "My-Bucket", "-x-", "a..b", "bucket_name"] {
            assert!(parse_bucket(bad).is_err(), "{bad}");
        }
        assert!(parse_region("eu-west-1").is_ok());
        assert!(parse_region("EU WEST").is_err());
        assert!(parse_loopback("0.0.0.0:80").is_err());
    }

    #[test]
    fn flags_parse_and_conflicts_are_refused() {
        let c = Cli::try_parse_from([
            "amiwatch",
            "--once",
            "--image-id",
            "ami-12345678,ami-0123456789abcdef0",
            "--state",
            "in-progress",
        ])
        .unwrap();
        assert_eq!(c.select.image_ids.len(), 2);
        assert_eq!(c.select.states, vec![TaskState::InProgress]);
        assert!(Cli::try_parse_from(["amiwatch", "--page-size", "201"]).is_err());
        assert!(Cli::try_parse_from(["amiwatch", "--image-id", "ami-12345678", "--max-items", "3"]).is_err());
        assert!(Cli::try_parse_from(["amiwatch", "--image-id", "ami-XYZ"]).is_err());
        assert!(Cli::try_parse_from(["amiwatch", "--interval", "0s"]).is_err());
    }

    /// `parse_args` with a config file of `text` found where XDG_CONFIG_HOME points.
    fn with_file(text: &str, args: &[&str]) -> Result<(Cli, Given), ParseError> {
        let dir = std::env::temp_dir().join(format!(
            "amiwatch-cli-{}-{}",
            std::process::id(),
            crate::text::stable_hash(text)
        ));
        std::fs::create_dir_all(dir.join("amiwatch")).unwrap();
        std::fs::write(dir.join("amiwatch/config.toml"), text).unwrap();
        let xdg = dir.display().to_string();
        let env = move |k: &str| (k == "XDG_CONFIG_HOME").then(|| xdg.clone());
        let argv = std::iter::once("amiwatch").chain(args.iter().copied()).map(Into::into).collect();
        let res = parse_args(argv, &env);
        let _ = std::fs::remove_dir_all(&dir);
        res
    }

    #[test]
    fn the_file_fills_in_and_the_command_line_wins() {
        let file = "profile = [\"a\", \"b\"]\nall-regions = true\ninterval = \"10s\"\n";
        let (cli, given) = with_file(file, &["--once"]).unwrap();
        assert_eq!(cli.aws.profiles, ["a", "b"]);
        assert!(cli.aws.all_regions);
        assert_eq!(cli.interval, Duration::from_secs(10));
        assert!(!given.has("interval"), "a setting of the file is no flag: it trips no mode check");
        // A flag replaces the file's value; one that clashes with a setting drops the setting.
        let (cli, _) = with_file(file, &["--profile", "c", "--region", "eu-west-1"]).unwrap();
        assert_eq!(cli.aws.profiles, ["c"]);
        assert!(!cli.aws.all_regions && cli.aws.regions == ["eu-west-1"]);
        // --demo runs on its own endpoint: the file's profiles do not apply to it.
        let (cli, _) = with_file(file, &["--demo"]).unwrap();
        assert!(cli.aws.profiles.is_empty());
        // The subcommands that are not about AWS never read the file.
        assert!(with_file("nonsense = 1", &["man"]).is_ok());
        assert!(
            matches!(with_file("nonsense = 1", &["--once"]), Err(ParseError::Config(m)) if m.contains("line 1: key 'nonsense'"))
        );
        let clash = with_file("region = \"eu-west-1\"\n\nall-regions = true\n", &["--once"]);
        assert!(
            matches!(&clash, Err(ParseError::Config(m)) if m.ends_with("line 3: key 'all-regions' cannot be used with key 'region' (line 1): keep one")),
            "{clash:?}"
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
