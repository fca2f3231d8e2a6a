//! `--wait` as a script uses it: the real binary on the embedded endpoint, exit codes checked.

use std::process::{Command, Stdio};

fn amiwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amiwatch")).args(args).stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The demo's tasks as JSON, frozen at the start.
fn demo_tasks() -> Vec<serde_json::Value> {
    let (_, out, _) = amiwatch(&["--demo", "--frozen", "--once", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["StoreImageTaskResults"].as_array().unwrap().clone()
}

#[test]
fn waits_until_all_end_and_exits_1_listing_failures() {
    // 3000x speed: an hour of export in about a second. Every task in progress ends.
    let (code, out, err) =
        amiwatch(&["--demo", "--speed", "3000", "--interval", "1s", "--wait", "--state", "in-progress", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("the final set as JSON on stdout");
    let tasks = v["StoreImageTaskResults"].as_array().unwrap();
    assert!(tasks.len() > 5);
    assert!(tasks.iter().all(|t| t["StoreTaskState"] != "InProgress"), "nothing left running: {out}");
    let failed = tasks.iter().filter(|t| t["StoreTaskState"] == "Failed").count();
    if failed > 0 {
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&format!("{failed} of {} tasks failed", tasks.len())), "{err}");
    } else {
        assert_eq!(code, 0, "{err}");
    }
    // stderr is not a terminal: one line per change, fit for CI logs.
    assert!(err.lines().any(|l| l.contains("T") && l.contains(" InProgress ")), "{err}");
}

#[test]
fn completed_tasks_exit_0_at_once() {
    let ids: Vec<String> = demo_tasks()
        .iter()
        .filter(|t| t["StoreTaskState"] == "Completed")
        .map(|t| t["AmiId"].as_str().unwrap().to_string())
        .take(3)
        .collect();
    let (code, _, err) = amiwatch(&["--demo", "--wait", "--image-id", &ids.join(","), "-o", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("all 3 tasks completed"), "{err}");
}

#[test]
fn nothing_to_wait_for_exits_3() {
    let (code, _, err) = amiwatch(&["--demo", "--wait", "--image-id", "ami-12345678"]);
    assert_eq!(code, 3);
    assert!(err.contains("nothing to wait for"), "{err}");
}

#[test]
fn timeout_exits_124() {
    let (code, _, err) =
        amiwatch(&["--demo", "--frozen", "--wait", "--state", "in-progress", "--interval", "1s", "--timeout", "2s"]);
    assert_eq!(code, 124, "{err}");
    assert!(err.contains("timed out after 2s"), "{err}");
}

#[test]
fn waits_across_regions() {
    let (_, out, _) = amiwatch(&["--demo", "--frozen", "--once", "-o", "csv", "--all-regions", "--state", "completed"]);
    let completed = out.lines().count() - 1;
    let (code, _, err) =
        amiwatch(&["--demo", "--frozen", "--wait", "--all-regions", "--state", "completed", "-o", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("all {completed} tasks completed")), "{err}");
}
