//! The real binary as scripts use it: one-shot output, exit codes, bad input, pipes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn amiwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    // The user's AWS settings must not leak into the tests.
    for k in ["AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"] {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = amiwatch().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn once_json_is_the_aws_cli_shape() {
    let (code, out, err) = run(&["--demo", "--frozen", "--once", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tasks = v["StoreImageTaskResults"].as_array().unwrap();
    assert_eq!(tasks.len(), 40, "the demo scenario's default size");
    for t in tasks {
        assert!(t["AmiId"].as_str().unwrap().starts_with("ami-"));
        assert!(chrono::DateTime::parse_from_rfc3339(t["TaskStartTime"].as_str().unwrap()).is_ok());
        let state = t["StoreTaskState"].as_str().unwrap();
        assert!(["InProgress", "Completed", "Failed"].contains(&state));
        assert_eq!(t.get("StoreTaskFailureReason").is_some(), state == "Failed");
    }
    assert!(v.get("NextToken").is_none());
}

#[test]
fn once_filters_and_max_items_print_a_resume_token() {
    let (code, out, _) = run(&["--demo", "--frozen", "--once", "-o", "csv", "--state", "failed"]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains(",Failed,")), "{out}");

    let (code, out, _) = run(&["--demo", "--frozen", "--once", "-o", "json", "--max-items", "7", "--page-size", "5"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["StoreImageTaskResults"].as_array().unwrap().len(), 7);
    assert!(v["NextToken"].is_string());

    let (code, out, _) = run(&["--demo", "--frozen", "--once", "--max-items", "3"]);
    assert_eq!(code, 0);
    assert!(out.contains("--starting-token"), "{out}");
}

#[test]
fn table_is_aligned_and_has_every_task() {
    let (code, out, _) = run(&["--demo", "--frozen", "--once"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("AMI ID"));
    assert_eq!(lines.len(), 41);
    let col = lines[0].find("STATE").unwrap();
    assert!(lines[1..].iter().all(|l| l[col..].starts_with(['I', 'C', 'F'])));
}

#[test]
fn bad_input_exits_2_with_one_clear_line_before_any_request() {
    let cases: &[(&[&str], &str)] = &[
        (&["--once", "--image-id", "ami-123"], "not an AMI ID"),
        (&["--once", "--image-id", "ami-12345678,i-12345678"], "not an AMI ID"),
        (&["--once", "--page-size", "0"], "0"),
        (&["--once", "--page-size", "201"], "201"),
        (&["--interval", "500ms"], "at least 1s"),
        (&["--interval", "soon"], "not a duration"),
        (&["--once", "--state", "pending"], "not a task state"),
        (&["--once", "--bucket", "Bad_Bucket"], "not a valid S3 bucket name"),
        (&["--once", "--endpoint-url", "ftp://example"], "not an endpoint URL"),
        (&["--once", "--max-items", "0"], "0"),
        (&["--once", "--image-id", "ami-12345678", "--max-items", "3"], "cannot be used with"),
        (&["--no-such-flag"], "unexpected argument"),
        (&["--once", "--frozen"], "use it with --demo"),
        (&["--once", "--fault-throttle", "30"], "use it with --demo"),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}");
    }
}

#[test]
fn dashboard_refuses_a_pipe_and_points_at_once() {
    let (code, out, err) = run(&["--demo"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "no escape codes into the pipe");
    assert!(err.contains("--once"), "{err}");
}

#[test]
fn dry_run_answers_allowed() {
    let (code, out, _) = run(&["--demo", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("allowed"), "{out}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let mut child = amiwatch()
        .args(["--demo", "--frozen", "--tasks", "20000", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here, as `head -1` would close the pipe.
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(first.starts_with("AMI ID"));
    assert!(status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn simulate_serves_any_client_through_the_standard_chain() {
    let mut sim = amiwatch()
        .args(["simulate", "--tasks", "25", "--frozen", "--any-key"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let out = amiwatch()
        .args(["--once", "-o", "json", "--endpoint-url", &url, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    sim.kill().unwrap();
    let _ = sim.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["StoreImageTaskResults"].as_array().unwrap().len(), 25);
}

#[test]
fn help_explains_every_flag() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--demo",
        "--once",
        "--dry-run",
        "--output",
        "--image-id",
        "--state",
        "--bucket",
        "--page-size",
        "--max-items",
        "--starting-token",
        "--profile",
        "--region",
        "--endpoint-url",
        "--interval",
        "--idle-interval",
        "ec2:DescribeStoreImageTasks",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("image-id") && out.contains("amiwatch"), "{shell}");
    }
    let (code, _, _) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
}

#[test]
fn several_regions_side_by_side_carry_the_region() {
    let (code, out, err) = run(&["--demo", "--frozen", "--once", "-o", "json", "--region", "us-east-1,eu-west-1"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tasks = v["StoreImageTaskResults"].as_array().unwrap();
    assert_eq!(tasks.len(), 80);
    let east = tasks.iter().filter(|t| t["Region"] == "us-east-1").count();
    let west = tasks.iter().filter(|t| t["Region"] == "eu-west-1").count();
    assert_eq!((east, west), (40, 40));
    assert!(tasks.iter().all(|t| t["Profile"] == "demo" && t["AccountId"] == "123456789012"), "{out}");

    // --all-regions asks DescribeRegions: the demo account has three.
    let (code, out, _) = run(&["--demo", "--frozen", "--once", "-o", "csv", "--all-regions"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().ends_with(",profile,region,account_id"));
    let mut regions: Vec<&str> = out.lines().skip(1).map(|l| l.rsplit(',').nth(1).unwrap()).collect();
    regions.sort();
    regions.dedup();
    assert_eq!(regions, ["ap-southeast-2", "eu-west-1", "us-east-1"]);

    // One region alone: the CLI's exact shape, no Region key.
    let (_, out, _) = run(&["--demo", "--frozen", "--once", "-o", "json"]);
    assert!(!out.contains("\"Region\""));
}

/// The binary with no credentials or region anywhere: no profile file, no instance metadata.
fn bare(args: &[&str], keys: bool) -> (i32, String) {
    let mut c = amiwatch();
    c.env("AWS_CONFIG_FILE", "/nonexistent/amiwatch-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amiwatch-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"] {
        c.env_remove(k);
    }
    if keys {
        c.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "secret");
    }
    let out = c.args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn missing_credentials_and_region_are_told_apart_by_their_type() {
    // An address nothing listens on: neither case may get as far as a connection.
    let (code, err) = bare(&["--once", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"], false);
    assert_eq!(code, 1);
    assert!(err.contains("no AWS credentials found"), "{err}");
    let (code, err) = bare(&["--once"], true);
    assert_eq!(code, 1);
    assert!(err.contains("no AWS region set: pass --region"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no Debug chain: {err}");
}

#[test]
fn version_names_the_sdk_and_the_man_page_matches_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("amiwatch ") && out.contains("(aws-sdk-ec2 1."), "{out}");
    let (code, man, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(man.starts_with(".TH") && man.contains(".SH NAME"), "roff");
    let (_, help, _) = run(&["--help"]);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches([',', '.', ')', ':']))
        .collect();
    assert!(flags.len() > 20, "{help}");
    for flag in flags {
        // roff escapes every dash.
        assert!(man.contains(&flag.replace('-', "\\-")), "{flag} is in --help but not in the man page");
    }
}
