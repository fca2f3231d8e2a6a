//! A newcomer's first hour, through the real binary: what is wrong is said plainly and before
//! any request, and the manual holds what `--help` and the `?` overlay do.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with no AWS set-up of this machine: no profile files, no instance metadata.
fn amiwatch(env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    for k in common::MACHINE_ENV {
        c.env_remove(k);
    }
    c.env("AWS_CONFIG_FILE", "/nonexistent/amiwatch-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amiwatch-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_CONFIG_HOME", "/nonexistent/xdg")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c
}

fn run(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = amiwatch(env).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn an_unknown_profile_is_called_unknown_with_the_closest_first() {
    let dir = std::env::temp_dir().join(format!("amiwatch-newcomer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config");
    std::fs::write(&cfg, "[profile prod]\nregion = eu-west-1\n[profile staging]\n[profile dev]\n").unwrap();
    let cfg = cfg.display().to_string();
    let env = [("AWS_CONFIG_FILE", cfg.as_str())];
    let (code, out, err) = run(&env, &["--once", "--profile", "prd"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("the profile 'prd' is not in") && err.contains("(did you mean 'prod'?)"), "{err}");
    assert!(err.contains("closest first: prod, dev, staging"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // The dashboard too: before any terminal is touched.
    let (code, _, err) = run(&env, &["--profile", "nosuch"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the profile 'nosuch' is not in"), "{err}");
    // AWS_PROFILE is the same name by another road.
    let (code, _, err) = run(&[("AWS_CONFIG_FILE", cfg.as_str()), ("AWS_PROFILE", "stagin")], &["--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AWS_PROFILE: the profile 'stagin' is not in") && err.contains("'staging'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_region_typo_is_caught_at_once_with_the_closest_region() {
    let t0 = Instant::now();
    let keys = [("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "secret")];
    let (code, out, err) = run(&keys, &["--once", "--region", "us-east1"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("'us-east1' is not an AWS region: did you mean us-east-1?"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "no retries before the answer");
    let (code, _, err) = run(&keys, &["--dry-run", "--all-regions", "--exclude-region", "eu-wset-1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean eu-west-1?"), "{err}");
    let env = [keys[0], keys[1], ("AWS_REGION", "eu-west1")];
    let (code, _, err) = run(&env, &["--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AWS_REGION: 'eu-west1' is not an AWS region: did you mean eu-west-1?"), "{err}");
    // A custom endpoint takes any name: the simulator's regions are its own.
    let (code, out, err) = run(&[], &["--demo", "--frozen", "--once", "--region", "moon-1", "-o", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() > 1);
}

#[test]
fn csv_prints_the_resume_token_on_stderr() {
    let (code, out, err) = run(&[], &["--demo", "--frozen", "--once", "-o", "csv", "--max-items", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "a header and three rows: {out}");
    let token = err.split("--starting-token ").nth(1).expect(&err).trim().to_string();
    let (code, out, err) =
        run(&[], &["--demo", "--frozen", "--once", "-o", "csv", "--max-items", "3", "--starting-token", &token]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "the next three: {out}");
}

#[test]
fn wait_output_names_each_ami_in_table_and_csv() {
    let args = ["--demo", "--frozen", "--wait", "--state", "failed"];
    let (code, out, err) = run(&[], &[&args[..], &["-o", "csv"]].concat());
    assert_eq!(code, 1, "failed tasks end a wait with 1: {err}");
    let header = out.lines().next().unwrap_or_default();
    assert!(header.ends_with(",failure_reason,name,size_gib"), "{out}");
    let (_, table, _) = run(&[], &args);
    assert!(table.lines().next().unwrap_or_default().contains("NAME"), "{table}");
    let (_, once, _) = run(&[], &["--demo", "--frozen", "--once", "--state", "failed", "-o", "csv"]);
    let names = |csv: &str| csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().to_string()).collect::<Vec<_>>();
    let mut a = names(&out);
    let mut b = names(&once);
    a.sort();
    b.sort();
    b.dedup();
    a.dedup();
    assert!(!a.is_empty() && a.iter().all(|n| b.contains(n)), "the same names as --once: {a:?} {b:?}");
}

#[test]
fn flags_documented_as_not_applying_are_refused_and_parser_errors_are_one_line() {
    for (args, want) in [
        (&["--demo", "--once", "--partial"][..], "--partial applies to several feeds"),
        (&["--demo", "--once", "--with-names"][..], "--with-names adds names to --output json"),
        (&["--demo", "--once", "-o", "csv", "--with-names"][..], "the table and CSV always have them"),
        (&["--profle", "x"][..], "unexpected argument '--profle' found; tip: a similar argument exists: '--profile'"),
        (&["--once", "--max-items", "0"][..], "'0' is not a number of tasks: a whole number, at least 1"),
        (
            &["--once", "--output", "xml"][..],
            "invalid value 'xml' for '--output <OUTPUT>' [possible values: table, json, csv]",
        ),
        (&["completions"][..], "the following required arguments were not provided: <SHELL>"),
    ] {
        let (code, out, err) = run(&[], args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let (code, _, err) = run(&[], &["--demo", "--once", "--partial", "--region", "us-east-1,eu-west-1", "-o", "csv"]);
    assert_eq!(code, 0, "several feeds: --partial applies: {err}");
}

#[test]
fn the_manual_holds_keys_exit_status_environment_and_every_command() {
    let (code, man, _) = run(&[], &["man"]);
    assert_eq!(code, 0);
    for section in
        [".SH SYNOPSIS", ".SH KEYS", ".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH CONFIGURATION", ".SH COMMANDS"]
    {
        assert!(man.contains(section), "{section} missing");
    }
    for (key, what) in amiwatch::app::action::KEY_HELP {
        assert!(man.contains(&what.replace('-', "\\-")), "{key}: {what}");
    }
    assert!(man.contains("Home End"), "the overlay's Home and End");
    for var in ["AMIWATCH_LOG", "AMIWATCH_CONFIG", "AWS_PROFILE", "AWS_REGION", "NO_COLOR"] {
        assert!(man.contains(&var.replace('-', "\\-")), "{var}");
    }
    for code in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR", "\\fB3\\fR", "\\fB124\\fR"] {
        assert!(man.contains(code), "exit {code}");
    }
    // simulate's own flags, and placeholders in the synopsis.
    for flag in [
        "\\-\\-accounts\\-by\\-key",
        "\\-\\-moving N",
        "\\-\\-addr ADDR",
        "\\-\\-interval DURATION",
        "\\-\\-profile NAME",
    ] {
        assert!(man.contains(flag), "{flag}");
    }
    // No page that `amiwatch man` cannot write is referred to.
    assert!(!man.contains("amiwatch\\-simulate(1)") && !man.contains("amiwatch\\-man(1)"), "SEE ALSO");
    let config_example = amiwatch::manual::ORG_EXAMPLE;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains(config_example), "the README and the man page show one example");
    assert!(config_example.lines().filter(|l| !l.starts_with('#')).all(|l| !l.is_empty()));
}

/// The dashboard in a pseudo-terminal with `env`: its exit code and everything it wrote.
fn dashboard_in_a_pty(env: &[(&str, &str)]) -> (u32, String) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pty = native_pty_system().openpty(PtySize { rows: 24, cols: 100, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_amiwatch"));
    for k in common::MACHINE_ENV {
        cmd.env_remove(k);
    }
    for (k, v) in [
        ("AWS_CONFIG_FILE", "/nonexistent/amiwatch-config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amiwatch-credentials"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("XDG_CONFIG_HOME", "/nonexistent/xdg"),
        ("TERM", "xterm-256color"),
    ]
    .iter()
    .chain(env)
    {
        cmd.env(k, v);
    }
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let reading = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = reader.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the dashboard started and kept retrying");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(pty.master);
    (status.exit_code(), reading.join().unwrap())
}

#[test]
fn a_set_up_error_no_wait_can_fix_ends_the_dashboard_before_it_starts() {
    // Keys, but no region.
    let (code, text) = dashboard_in_a_pty(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "secret")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no AWS region set: pass --region"), "{text}");
    assert!(text.contains("amiwatch --demo"), "{text}");
    assert!(!text.contains("\x1b[?1049h"), "the alternate screen was never entered: {text}");
    // A region, but no credentials anywhere.
    let (code, text) = dashboard_in_a_pty(&[("AWS_REGION", "us-east-1")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no AWS credentials found"), "{text}");
    assert!(text.contains("amiwatch --demo") && !text.contains("\x1b[?1049h"), "{text}");
}

#[test]
fn the_readme_names_every_flag_of_help() {
    let (_, help, _) = run(&[], &["--help"]);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut flags: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 3 && !matches!(*w, "--help" | "--version"))
        .collect();
    flags.sort();
    flags.dedup();
    assert!(flags.len() > 30, "{flags:?}");
    for flag in flags {
        assert!(readme.contains(&format!("`{flag}")), "{flag} is in --help but not in the README");
    }
}
