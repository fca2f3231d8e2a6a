//! `amiwatch man`: one manual page that holds everything `--help` does and what it cannot:
//! the dashboard's keys, the subcommands with their flags, the config file, the environment and
//! the exit status. The flags come from the same clap definition as `--help`, and the keys from
//! the list the `?` overlay shows, so the three cannot drift apart.

use std::io::{self, Write};

/// Roff text: backslashes and hyphens escaped, and no line that starts as a request.
fn esc(s: &str) -> String {
    let body = s.replace('\\', "\\e").replace('-', "\\-").replace('\'', "\\(aq");
    body.lines()
        .map(|l| if l.starts_with(['.', '\'']) { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--output <table|json|csv>` or `--interval <D>`: the flag with what it takes.
fn usage_of(arg: &clap::Arg) -> String {
    let mut s = match (arg.get_short(), arg.get_long()) {
        (Some(c), Some(l)) => format!("-{c}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(c), None) => format!("-{c}"),
        (None, None) => arg.get_id().to_string().to_uppercase(),
    };
    if arg.get_action().takes_values() && arg.get_long().is_some() {
        s.push(' ');
        s.push_str(&placeholder(arg));
    }
    s
}

fn placeholder(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
    if !values.is_empty() && values.len() <= 6 {
        return values.join("|");
    }
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "),
        _ => arg.get_id().to_string().to_uppercase(),
    }
}

/// One `.TP` entry per flag of `cmd`, with its default and help.
fn options(out: &mut String, args: &[&clap::Arg]) {
    for arg in args {
        let mut head = format!("\\fB{}\\fR", esc(&usage_of(arg)));
        let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            head.push_str(&format!(" [default: {}]", esc(&defaults.join(","))));
        }
        if let Some(env) = arg.get_env() {
            head.push_str(&format!(" [env: {}]", esc(&env.to_string_lossy())));
        }
        let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        out.push_str(&format!(".TP\n{head}\n{}\n", esc(&help)));
    }
}

/// The whole page, in roff.
pub fn render(w: &mut impl Write) -> io::Result<()> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut out = String::new();
    let version = crate::cli::VERSION.as_str();
    out.push_str(&format!(".TH AMIWATCH 1 \"\" \"amiwatch {}\" \"User Commands\"\n", esc(version)));
    out.push_str(".SH NAME\namiwatch \\- watch Amazon EC2 AMI\\-to\\-S3 store\\-image tasks live in the terminal\n");

    // Every flag with its placeholder, and each subcommand with its own.
    out.push_str(".SH SYNOPSIS\n");
    let top: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
    let flags: Vec<String> = top
        .iter()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .map(|a| format!("[{}]", usage_of(a).split(", ").last().unwrap_or_default()))
        .collect();
    out.push_str(&format!(".B amiwatch\n{}\n.br\n", esc(&flags.join(" "))));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let args: Vec<String> = sub
            .get_arguments()
            // The global flags are the top level's: listed there once.
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .map(|a| {
                let u = usage_of(a);
                let u = u.split(", ").last().unwrap_or_default().to_string();
                if a.is_positional() && a.is_required_set() { u } else { format!("[{u}]") }
            })
            .collect();
        out.push_str(&format!(".B amiwatch {}\n", esc(sub.get_name())));
        if !args.is_empty() {
            out.push_str(&format!("{}\n", esc(&args.join(" "))));
        }
        out.push_str(".br\n");
    }

    out.push_str(&format!(
        ".SH DESCRIPTION\n{}\n.PP\n{}\n.PP\n{}\n",
        esc("amiwatch shows every store-image task (CreateStoreImageTask, the export of an AMI to S3) of \
             one account or many with a live progress bar, time left, filters by state and bucket, and \
             AMI names; it serves scripts with --once (one fetch: table, JSON or CSV), --wait (until the \
             selected tasks end) and --dry-run (a permission check)."),
        esc("Each profile x region pair is a feed, with its own credentials, poller and errors. \
             Credentials and region come from the standard AWS chain, as the AWS CLI finds them. \
             amiwatch only reads, unless --allow-retry lets key x export a failed task's AMI again."),
        esc("Nothing here needs an AWS account to try: --demo runs the dashboard on a built-in EC2 \
             endpoint with simulated exports, and amiwatch simulate serves that endpoint to any EC2 client.")
    ));

    // The flags, under the headings of --help.
    let headings: Vec<&str> = top.iter().filter_map(|a| a.get_help_heading()).fold(Vec::new(), |mut acc, h| {
        if !acc.contains(&h) {
            acc.push(h);
        }
        acc
    });
    out.push_str(".SH OPTIONS\n");
    let plain: Vec<&clap::Arg> = top.iter().copied().filter(|a| a.get_help_heading().is_none()).collect();
    options(&mut out, &plain);
    for h in headings {
        out.push_str(&format!(".SS {}\n", esc(h)));
        let these: Vec<&clap::Arg> = top.iter().copied().filter(|a| a.get_help_heading() == Some(h)).collect();
        options(&mut out, &these);
    }

    out.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push_str(&format!(".SS amiwatch {}\n", esc(sub.get_name())));
        out.push_str(&format!("{}\n", esc(&sub.get_about().map(|a| a.to_string()).unwrap_or_default())));
        let args: Vec<&clap::Arg> = sub
            .get_arguments()
            // The global flags are the top level's: listed there once.
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        options(&mut out, &args);
    }

    out.push_str(".SH KEYS\nIn the dashboard (also shown by ?):\n");
    for (key, what) in crate::app::action::KEY_HELP {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(key), esc(what)));
    }

    out.push_str(&format!(
        ".SH CONFIGURATION\n{}\n.PP\n{}\n.PP\nAn organisation's file:\n.PP\n.nf\n.RS 4\n{}\n.RE\n.fi\n",
        esc("Settings are read from $XDG_CONFIG_HOME/amiwatch/config.toml, or ~/.config/amiwatch/config.toml \
             when XDG_CONFIG_HOME is not set, or from the file --config or AMIWATCH_CONFIG names. The keys \
             are the long flags' names, and each value is checked as the flag's is; a flag on the command \
             line (or its environment variable) wins over the file. An unknown key, a wrong type or a bad \
             value is exit 2 with the file, the line and the key. Flags that choose a mode (--once, --wait, \
             --dry-run, --demo), --max-items, --starting-token and the simulation flags are not settings."),
        esc("amiwatch config prints the settings in effect, as a config file, each with where it came from \
             (default, file, environment or command line)."),
        esc(ORG_EXAMPLE)
    ));

    out.push_str(".SH ENVIRONMENT\n");
    for (var, what) in ENVIRONMENT {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(var), esc(what)));
    }

    out.push_str(".SH \"EXIT STATUS\"\n");
    for (code, what) in EXIT_STATUS {
        out.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", esc(what)));
    }

    out.push_str(".SH EXAMPLES\n.nf\n");
    out.push_str(&esc(crate::cli::AFTER_HELP
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim_start_matches("Examples:\n")));
    out.push_str("\n.fi\n");
    out.push_str(
        ".SH \"SEE ALSO\"\n\\fBaws\\fR(1): aws ec2 describe\\-store\\-image\\-tasks; the README of amiwatch.\n",
    );
    w.write_all(out.as_bytes())
}

/// The config example of the README and the man page.
pub const ORG_EXAMPLE: &str = "\
# ~/.config/amiwatch/config.toml
profile = [\"acme-*\"]          # every acme-* profile of ~/.aws/config
all-regions = true
exclude-region = [\"ap-east-1\", \"me-south-1\"]
interval = \"10s\"
idle-interval = \"1m\"
notify = \"all\"";

/// The environment amiwatch reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("AMIWATCH_CONFIG", "the config file, as --config"),
    ("XDG_CONFIG_HOME", "where the default config file is (amiwatch/config.toml under it)"),
    ("AMIWATCH_LOG", "the debug log file, as --log-file"),
    ("AMIWATCH_LOG_LEVEL", "the log's filter (tracing's EnvFilter syntax, e.g. amiwatch=trace)"),
    ("AWS_PROFILE", "the profile when --profile is not given; checked against the files as --profile is"),
    ("AWS_REGION, AWS_DEFAULT_REGION", "the region when --region is not given and the profile names none"),
    ("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN", "credentials, as for the AWS CLI"),
    (
        "AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE",
        "the AWS config and credentials files (~/.aws/config, ~/.aws/credentials)",
    ),
    ("AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL", "another EC2 endpoint, as --endpoint-url"),
    ("AWS_EC2_METADATA_DISABLED", "true: never ask the instance metadata service"),
    ("NO_COLOR", "any value: the dashboard draws without colours"),
];

/// Exit codes, for the man page and the README.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "success; with --wait every task completed; with --dry-run every permission asked about is granted"),
    (1, "an error (the message is on stderr); --dry-run denied; with --wait a task failed (listed with its reason)"),
    (2, "bad usage: a bad flag, value, profile, region or config file, refused before any request"),
    (3, "--wait found nothing to wait for"),
    (124, "--wait --timeout ran out"),
];
