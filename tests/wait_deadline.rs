//! `--wait`'s last poll at the deadline: what it learns counts, a permanent error included.

mod common;
mod fake;

use std::time::Duration;

use common::amiwatch_at;

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_before_the_deadline_ends_the_wait_with_the_error_not_a_timeout() {
    // The first poll sees a task in progress; every later one is refused, as after the key
    // lost its permission. With a long interval the only later poll is the one at the deadline.
    let ep = fake::start(|a| match (a.action(), a.n) {
        ("DescribeStoreImageTasks", 1) => {
            fake::tasks_page(&fake::item("ami-0000000a", "2026-11-28T11:00:00.000Z", "InProgress", 10), None)
        }
        ("DescribeStoreImageTasks", _) => fake::error(
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation. User is not authorized to perform: ec2:DescribeStoreImageTasks",
        ),
        _ => fake::error(400, "InvalidAction", "no"),
    })
    .await;
    let (code, out, err, took) =
        amiwatch_at(&ep.url, &["--wait", "--timeout", "2s", "--interval", "1h", "--sweep-interval", "1h"]);
    assert_eq!(code, 1, "exit 1 with the error, not 124: {err}");
    assert!(err.contains("not authorized"), "the error is named: {err}");
    assert!(!err.contains("timed out"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(ep.count("DescribeStoreImageTasks"), 2, "the first poll and the last one");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_at_the_deadline_is_still_a_timeout() {
    let ep = fake::start(|a| match (a.action(), a.n) {
        ("DescribeStoreImageTasks", 1) => {
            fake::tasks_page(&fake::item("ami-0000000a", "2026-11-28T11:00:00.000Z", "InProgress", 10), None)
        }
        _ => fake::error(500, "InternalError", "An internal error has occurred."),
    })
    .await;
    let (code, _, err, _) = amiwatch_at(
        &ep.url,
        &["--wait", "--timeout", "2s", "--interval", "1h", "--sweep-interval", "1h", "--request-timeout", "1s"],
    );
    assert_eq!(code, 124, "{err}");
    assert!(err.contains("timed out"), "{err}");
}
