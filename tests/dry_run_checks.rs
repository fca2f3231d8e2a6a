//! `--dry-run` checks what amiwatch will call: DescribeImages as optional (one line, exit 0
//! when missing), and with `--allow-retry` CreateStoreImageTask on an AMI of the account's
//! own exports, named in the output. Through the binary and the real SDK.

mod common;
mod fake;

use std::sync::{Arc, Mutex};

use amiwatch::sim::{self, SimConfig};
use common::Accounts;

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_without_describe_images_passes_with_one_line_saying_names_are_missing() {
    let keys = sim::Keys::demo().with_demo_secret(["NOIMAGESKEY", "AKIDALL"]);
    let config = SimConfig { tasks: 20, seed: 4, frozen: true, keys, ..SimConfig::default() };
    let h = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    let run = |key: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_amiwatch"));
        for k in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_SESSION_TOKEN"] {
            c.env_remove(k);
        }
        c.envs(common::static_env()).env("AWS_ACCESS_KEY_ID", key).args(["--endpoint-url", h.url(), "--dry-run"]);
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let before = h.stats().describe_images;
    let (code, out, err) = run("NOIMAGESKEY");
    assert_eq!(code, Some(0), "optional: {out}{err}");
    assert!(out.contains("allowed: the caller may call ec2:DescribeStoreImageTasks"), "{out}");
    let missing: Vec<&str> = out.lines().filter(|l| l.contains("ec2:DescribeImages")).collect();
    assert_eq!(missing.len(), 1, "one line: {out}");
    assert!(missing[0].starts_with("optional, missing:") && missing[0].contains("names are not shown"), "{out}");
    assert_eq!(h.stats().describe_images - before, 1, "asked with DryRun");

    let (code, out, _) = run("AKIDALL");
    assert_eq!(code, Some(0));
    assert!(out.contains("allowed: the caller may call ec2:DescribeImages"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_retry_checks_the_write_on_an_ami_of_the_accounts_own_exports_and_says_which() {
    let acc = Accounts::start("dry-write").await;
    let own = acc.tasks_of("AKIDALPHA").await;
    let (code, out, err) = acc.amiwatch(&["--dry-run", "--allow-retry", "--profile", "alpha"]);
    assert_eq!(code, 0, "{out}{err}");
    let line = out.lines().find(|l| l.contains("ec2:CreateStoreImageTask")).unwrap_or_default();
    assert!(line.starts_with("allowed:") && line.contains("an AMI of its exports"), "{out}");
    assert!(!line.contains("ami-00000000"), "{line}");
    assert!(own.iter().any(|(ami, _)| line.contains(&format!("checked on {ami}"))), "an AMI of alpha's tasks: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_export_to_check_on_the_placeholder_is_named_as_such() {
    // An account with no tasks at all: the write is checked on the placeholder, and says so.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let ep = fake::start(move |q| match q.action() {
        "DescribeStoreImageTasks" if q.get("DryRun").is_some() => {
            fake::error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
        }
        "DescribeStoreImageTasks" => fake::tasks_page("", None),
        "CreateStoreImageTask" => {
            s.lock().unwrap().push(q.get("ImageId").unwrap_or_default().to_string());
            fake::error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
        }
        _ => fake::error(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
    })
    .await;
    let (code, out, err, _) = common::amiwatch_at(&ep.url, &["--dry-run", "--allow-retry"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("checked on ami-00000000, a placeholder: no export found to check on"), "{out}");
    assert_eq!(*seen.lock().unwrap(), ["ami-00000000"]);
}
