//! Feeds end to end: two profiles whose credentials see different accounts, and a third whose
//! key the endpoint refuses, through the real binary, the real SDK and the standard credential
//! chain (a config file of profiles), against the embedded endpoint in its account-per-key mode.

mod common;

use common::{Accounts, rows_of};

#[tokio::test(flavor = "multi_thread")]
async fn once_shows_each_account_exactly_and_never_passes_off_a_partial_list() {
    let acc = Accounts::start("once").await;
    let (alpha, beta) = (acc.tasks_of("AKIDALPHA").await, acc.tasks_of("AKIDBETA").await);
    assert_ne!(alpha, beta, "two accounts, two task sets");

    let (code, out, err) = acc.amiwatch(&["--once", "-o", "json", "--profile", "alpha,beta"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows_of(&out, "111111111111"), alpha);
    assert_eq!(rows_of(&out, "222222222222"), beta);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["StoreImageTaskResults"].as_array().unwrap().len(), alpha.len() + beta.len());
    assert!(v["StoreImageTaskResults"][0]["Profile"] == "alpha");

    // A third profile whose key is refused: nothing printed, exit 1, the feed named.
    let (code, out, err) = acc.amiwatch(&["--once", "-o", "json", "--profile", "alpha,beta,gamma"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "a partial list is not printed as the list: {out}");
    assert!(err.contains("gamma (333333333333) · us-east-1: not authorized"), "{err}");
    assert!(err.contains("1 of 3 feeds failed") && err.contains("--partial"), "{err}");

    // --partial: the feeds that answered, exactly, and still exit 1.
    let (code, out, err) = acc.amiwatch(&["--once", "-o", "json", "--profile", "alpha,beta,gamma", "--partial"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(rows_of(&out, "111111111111"), alpha);
    assert_eq!(rows_of(&out, "222222222222"), beta);
    assert!(rows_of(&out, "333333333333").is_empty());
    assert!(err.contains("partial: 1 of 3 feeds failed"), "{err}");

    // The table names the feed of each row.
    let (code, out, _) = acc.amiwatch(&["--once", "--profile", "alpha,beta"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().contains("FEED"));
    assert!(out.contains("alpha (111111111111) · us-east-1") && out.contains("beta (222222222222) · us-east-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_runs_on_every_feed_and_names_the_one_that_fails() {
    let acc = Accounts::start("wait").await;
    let (_, out, _) = acc.amiwatch(&["--once", "-o", "json", "--profile", "alpha,beta", "--state", "completed"]);
    let want_alpha = rows_of(&out, "111111111111");
    let want_beta = rows_of(&out, "222222222222");
    assert!(!want_alpha.is_empty() && !want_beta.is_empty());

    let (code, out, err) =
        acc.amiwatch(&["--wait", "-o", "json", "--profile", "alpha,beta", "--state", "completed", "--interval", "1s"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows_of(&out, "111111111111"), want_alpha);
    assert_eq!(rows_of(&out, "222222222222"), want_beta);
    assert!(err.contains(&format!("all {} tasks completed", want_alpha.len() + want_beta.len())), "{err}");

    let (code, out, err) = acc.amiwatch(&["--wait", "--profile", "alpha,beta,gamma", "--state", "completed"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("gamma (333333333333) · us-east-1: not authorized"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_answers_per_feed() {
    let acc = Accounts::start("dry").await;
    let (code, out, err) = acc.amiwatch(&["--dry-run", "--profile", "alpha,gamma"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("allowed: the caller may call ec2:DescribeStoreImageTasks (alpha (111111111111)"), "{out}");
    assert!(out.contains("denied: the caller may not call ec2:DescribeStoreImageTasks (gamma (333333333333)"), "{out}");
}
