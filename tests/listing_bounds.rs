//! A listing is bounded as a whole, in tasks and in bytes, whatever the pages say: a server
//! whose fresh pages never end, or whose fields grow without end, meets a clear error, and
//! SIGTERM ends `--once` on the way. Through the real SDK against a scripted endpoint.

mod common;
mod fake;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amiwatch::ec2::fetch::{Limits, fetch_all_within};
use amiwatch::ec2::{self, ClientOptions, ErrorKind, Paging, Selection};

/// Page `n` of a listing that never ends: `per_page` new tasks, each with a failure reason of
/// `reason` bytes, and a fresh token.
fn endless(n: u64, per_page: usize, reason: usize) -> (u16, bytes::Bytes) {
    let why = "x".repeat(reason);
    let mut items = String::with_capacity(per_page * (60 + reason));
    for i in 0..per_page {
        items.push_str(&format!(
            "<item><amiId>ami-{n:05x}{i:05x}</amiId><storeTaskState>Failed</storeTaskState><storeTaskFailureReason>{why}</storeTaskFailureReason></item>"
        ));
    }
    fake::tasks_page(&items, Some(&format!("token-{n}")))
}

/// Page `n` of a listing that never ends: as many tasks of an AMI ID alone as fit in 8 MiB.
fn endless_tiny(n: u64) -> (u16, bytes::Bytes) {
    let mut items = String::with_capacity(8 * 1024 * 1024);
    for i in 0..190_000 {
        items.push_str(&format!("<item><amiId>ami-{n:05x}{i:05x}</amiId></item>"));
    }
    fake::tasks_page(&items, Some(&format!("token-{n}")))
}

fn client(url: &str) -> ec2::Ec2 {
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(30)), ..ClientOptions::default() };
    ec2::connect_embedded(url, &opts)
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_pages_that_never_end_stop_at_the_task_bound_with_a_clear_error() {
    let ep = fake::start(|q| endless(q.n, 1000, 0)).await;
    let limits = Limits { tasks: 20_000, ..Limits::default() };
    let err = fetch_all_within(&client(&ep.url), &Selection::default(), &Paging::default(), limits).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ListingTooLarge);
    let said = err.summary();
    assert!(said.contains("more than 20,000 tasks") && said.contains("31 days"), "{said}");
    assert_eq!(ep.count("DescribeStoreImageTasks"), 21, "stopped at the page that passed it");
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_that_grow_without_end_stop_at_the_byte_bound() {
    // One task a page, each with a 1 MiB failure reason: few tasks, many bytes.
    let ep = fake::start(|q| endless(q.n, 1, 1024 * 1024)).await;
    let limits = Limits { bytes: 16 * 1024 * 1024, ..Limits::default() };
    let err = fetch_all_within(&client(&ep.url), &Selection::default(), &Paging::default(), limits).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ListingTooLarge);
    assert!(err.summary().contains("more than 16 MiB of tasks"), "{}", err.summary());
    assert_eq!(ep.count("DescribeStoreImageTasks"), 16);
}

/// `amiwatch --once` against an endless listing, started (with `/usr/bin/time -v` when `timed`).
fn once_against(url: &str, timed: bool) -> std::process::Child {
    let bin = env!("CARGO_BIN_EXE_amiwatch");
    let mut c = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-v", bin]);
        c
    } else {
        Command::new(bin)
    };
    for k in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_SESSION_TOKEN"] {
        c.env_remove(k);
    }
    c.envs(common::static_env())
        .args(["--endpoint-url", url, "--once", "--max-time", "30m", "--request-timeout", "2m"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_once_while_an_endless_listing_is_read() {
    let ep = fake::start(|q| endless(q.n, 20_000, 0)).await;
    let mut child = once_against(&ep.url, false);
    let until = Instant::now() + Duration::from_secs(60);
    while ep.count("DescribeStoreImageTasks") < 3 {
        assert!(Instant::now() < until, "the listing started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: a plain kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < until, "--once did not end within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The measurement behind the README's figure (not a test of speed: run it on purpose, with
/// `cargo test --test listing_bounds -- --ignored --nocapture`). Pages of 8 MiB hold as many
/// tiny tasks as fit, with fresh tokens, until the million-task bound stops the listing.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: reads a million tasks, minutes in a debug build"]
async fn peak_memory_of_once_against_an_endless_listing() {
    let ep = fake::start(|q| endless_tiny(q.n)).await;
    let child = once_against(&ep.url, true);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("Maximum resident set size")).unwrap_or("?");
    let kib: u64 = line.rsplit(' ').next().and_then(|v| v.trim().parse().ok()).unwrap_or(u64::MAX);
    println!(
        "pages: {}, bytes sent: {}, {line}",
        ep.count("DescribeStoreImageTasks"),
        ep.bytes_sent.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("{}", err.lines().next().unwrap_or_default());
    assert!(err.contains("more than 1,000,000 tasks"), "{err}");
    assert!(kib < 1536 * 1024, "peak {kib} KiB");
}

/// As above, with pages of one task whose failure reason is 7 MiB: the byte bound (512 MiB)
/// stops the listing after 73 pages.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: reads half a gigabyte, minutes in a debug build"]
async fn peak_memory_of_once_against_fields_that_grow_without_end() {
    let ep = fake::start(|q| endless(q.n, 1, 7 * 1024 * 1024)).await;
    let child = once_against(&ep.url, true);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("Maximum resident set size")).unwrap_or("?");
    let kib: u64 = line.rsplit(' ').next().and_then(|v| v.trim().parse().ok()).unwrap_or(u64::MAX);
    println!("pages: {}, {line}", ep.count("DescribeStoreImageTasks"));
    println!("{}", err.lines().next().unwrap_or_default());
    assert!(err.contains("more than 512 MiB of tasks"), "{err}");
    assert!(kib < 1536 * 1024, "peak {kib} KiB");
}
