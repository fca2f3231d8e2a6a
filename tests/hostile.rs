//! A hostile or broken server, through the real binary and the real SDK: tokens that repeat
//! or cycle, escape sequences in errors and fields, huge and endless bodies, a server that
//! never answers, pages that overlap or overflow. Nothing hangs, crashes, leaks or reaches the
//! terminal raw.

mod common;

use std::time::Duration;

use amiwatch::sim::{self, FaultConfig, Hostile, SimConfig, SimHandle};
use common::amiwatch_at;

async fn server(tasks: usize, hostile: Hostile) -> SimHandle {
    let config = SimConfig { tasks, seed: 3, frozen: true, ..SimConfig::default() };
    let h = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    h.set_faults(FaultConfig { hostile, ..FaultConfig::default() });
    h
}

/// Whether text would do anything to a terminal beyond printing: an escape, a bell, an
/// 8-bit control (CSI, OSC, ST) or a direction override.
fn raw_controls(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '\u{1b}' | '\u{7}' | '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}'))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_or_cycling_token_is_an_error_not_an_endless_loop() {
    for hostile in [Hostile::RepeatToken, Hostile::CycleTokens] {
        let h = server(500, hostile).await;
        for args in [&["--once"][..], &["--once", "--image-id", "ami-12345678"][..], &["--wait"][..]] {
            let before = h.stats().describe_store_image_tasks;
            let (code, out, err, took) = amiwatch_at(h.url(), args);
            assert_eq!(code, 1, "{hostile:?} {args:?}: {err}");
            assert!(out.is_empty(), "nothing printed as if complete: {out}");
            assert!(err.contains("pages would never end") && err.contains("token it had sent before"), "{err}");
            let requests = h.stats().describe_store_image_tasks - before;
            assert!(requests <= 4, "{hostile:?} {args:?}: stopped at once, not after {requests} requests");
            assert!(took < Duration::from_secs(10), "{took:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_sequences_from_the_server_never_reach_the_terminal_or_the_log_raw() {
    let h = server(30, Hostile::EvilError).await;
    let log = std::env::temp_dir().join(format!("amiwatch-hostile-{}.log", std::process::id()));
    let log_arg = log.display().to_string();
    for args in [&["--once"][..], &["--dry-run"][..], &["--wait"][..]] {
        let mut args = args.to_vec();
        args.extend(["--log-file", &log_arg]);
        let (code, out, err, _) = amiwatch_at(h.url(), &args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(!raw_controls(&out) && !raw_controls(&err), "{args:?}: raw controls in {err:?}");
        assert!(err.contains("\\u{9d}0;pwned"), "the text is shown, escaped: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("pwned") && !raw_controls(&logged), "the log is escaped too");
    let _ = std::fs::remove_file(&log);

    let h = server(30, Hostile::EvilFields).await;
    for format in ["table", "csv"] {
        let (code, out, err, _) = amiwatch_at(h.url(), &["--once", "-o", format]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("pwned") && !raw_controls(&out), "{format}");
    }
    // JSON keeps the exact data, escaped as JSON must.
    let (_, out, _, _) = amiwatch_at(h.url(), &["--once", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["StoreImageTaskResults"][0]["Bucket"].as_str().unwrap().ends_with(sim::EVIL));
    assert!(!raw_controls(&out));
    // --wait's progress lines print states and buckets escaped (and name the unknown state).
    let (_, out, err, _) = amiwatch_at(h.url(), &["--wait", "--timeout", "2s", "--interval", "1s"]);
    assert!(!raw_controls(&out) && !raw_controls(&err), "{err}");
    assert!(err.contains("does not know"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_and_endless_answers_are_refused_before_they_are_read_whole() {
    for hostile in [Hostile::HugeBody(20 * 1024 * 1024), Hostile::EndlessBody] {
        let h = server(30, hostile).await;
        let (code, _, err, took) = amiwatch_at(h.url(), &["--once", "--max-time", "20s"]);
        assert_eq!(code, 1, "{hostile:?}");
        assert!(err.len() < 1_000, "{hostile:?}: {} bytes of stderr", err.len());
        assert!(err.contains("larger than 8 MiB"), "{err}");
        assert!(took < Duration::from_secs(20), "{hostile:?}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_costs_a_predictable_time() {
    let h = server(30, Hostile::Silent).await;
    for args in [&["--once"][..], &["--dry-run"][..]] {
        let mut args = args.to_vec();
        args.extend(["--max-time", "3s", "--request-timeout", "1s"]);
        let (code, _, err, took) = amiwatch_at(h.url(), &args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("--max-time") || err.contains("did not answer in time"), "{err}");
        assert!(took < Duration::from_secs(8), "{args:?} took {took:?}");
    }
    let (code, _, err, took) = amiwatch_at(h.url(), &["--wait", "--timeout", "2s", "--request-timeout", "1s"]);
    assert!(code == 124 || code == 1, "{code}: {err}");
    assert!(took < Duration::from_secs(12), "--wait overran its --timeout: {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_pages_show_each_task_once_and_max_items_is_a_ceiling() {
    let h = server(1000, Hostile::None).await;
    let (_, want, _, _) = amiwatch_at(h.url(), &["--once", "-o", "csv"]);
    let before = h.stats().describe_store_image_tasks;
    h.set_faults(FaultConfig { hostile: Hostile::OverlapPages, ..FaultConfig::default() });
    let (code, got, err, _) = amiwatch_at(h.url(), &["--once", "-o", "csv"]);
    assert_eq!(h.stats().describe_store_image_tasks - before, 6, "1,000 tasks at 199 new a page");
    assert_eq!(code, 0, "{err}");
    assert_eq!(got, want, "the repeated task of each page is shown once");

    let h = server(1000, Hostile::OverSend).await;
    let (code, out, err, _) = amiwatch_at(h.url(), &["--once", "-o", "csv", "--max-items", "7"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1 + 7, "never more than --max-items, whatever the server sends");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_named_twice_is_one_feed() {
    let h = server(40, Hostile::None).await;
    let (code, out, _, _) = amiwatch_at(h.url(), &["--once", "-o", "csv", "--region", "us-east-1,us-east-1"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 41);
}
