//! Names when `DescribeImages` fails or is slow, through the real SDK against a scripted
//! endpoint: a failed chunk keeps the others and alone is asked again later, the dashboard is
//! told that names are incomplete and why, and slow lookups never hold up a poll.

mod common;
mod fake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amiwatch::app::App;
use amiwatch::ec2::namer::PER_FEED;
use amiwatch::ec2::poller::{Ec2Source, Schedule, Source};
use amiwatch::ec2::{self, ClientOptions, Paging, PollEvent, Pollers, Selection};
use amiwatch::image::Naming;

fn ami(n: usize) -> String {
    format!("ami-{n:08x}")
}

/// `n` completed tasks, one per AMI, in one page.
fn tasks(n: usize) -> (u16, bytes::Bytes) {
    let items: String = (1..=n).map(|i| fake::item(&ami(i), "2026-11-28T11:00:00.000Z", "Completed", 100)).collect();
    fake::tasks_page(&items, None)
}

fn source(url: &str, attempt_timeout: Duration) -> Arc<dyn Source> {
    let opts =
        ClientOptions { attempt_timeout: Some(attempt_timeout), max_attempts: Some(1), ..ClientOptions::default() };
    let ec2 = ec2::connect_embedded(url, &opts);
    Arc::new(Ec2Source { ec2, selection: Selection::default(), paging: Paging::default(), names: true })
}

fn schedule() -> Schedule {
    Schedule {
        interval: Duration::from_millis(200),
        idle_interval: Duration::from_millis(200),
        sweep_interval: Duration::from_millis(200),
        max_backoff: Duration::from_secs(1),
    }
}

fn named(app: &App) -> usize {
    app.feeds[0].data.as_ref().unwrap().names.values().filter(|n| matches!(n, Naming::Known(_))).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_failed_chunk_keeps_the_names_that_came_and_alone_is_asked_again_later() {
    // 250 AMIs: chunks of 100, 100 and 50. The second fails (a 500) until the test mends it.
    let broken = Arc::new(AtomicBool::new(true));
    let asked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (b, a) = (broken.clone(), asked.clone());
    let ep = fake::start(move |q| match q.action() {
        "DescribeStoreImageTasks" => tasks(250),
        "DescribeImages" => {
            let ids = q.list("Filter.1.Value");
            *a.lock().unwrap().entry(ids[0].clone()).or_default() += 1;
            if ids.contains(&ami(101)) && b.load(Ordering::SeqCst) {
                return fake::error(500, "InternalError", "An internal error has occurred.");
            }
            fake::images_page(&ids)
        }
        _ => fake::error(400, "InvalidAction", "no"),
    })
    .await;
    let mut pollers = Pollers::spawn(vec![source(&ep.url, Duration::from_secs(5))], schedule());
    let mut app = App::new(Vec::new(), Duration::from_secs(5), chrono::Utc::now());
    let mut next = async || {
        let (_, ev) = tokio::time::timeout(Duration::from_secs(20), pollers.recv()).await.unwrap().unwrap();
        ev.unwrap()
    };

    // Until names are said to be incomplete.
    let gap = loop {
        let ev = next().await;
        app.apply(0, ev.clone());
        if let PollEvent::NamesIncomplete { gap } = ev {
            break gap.expect("a gap, not its end");
        }
    };
    assert_eq!(gap.amis, 100, "only the failed chunk is missing: {gap:?}");
    assert!(gap.why.contains("EC2 failed on its side") && gap.why.contains("InternalError"), "{}", gap.why);
    assert_eq!(named(&app), 150, "the chunks that answered are kept");
    assert!(
        !app.feeds[0].data.as_ref().unwrap().names.contains_key(ami(101).as_str()),
        "a failed AMI is not marked deregistered"
    );
    let note = app.names_gap_note().expect("the dashboard has a note to show");
    assert!(note.contains("100 AMIs") && note.contains("EC2 failed on its side"), "{note}");

    // Mended: the failed chunk comes in at a later poll, and the gap closes.
    broken.store(false, Ordering::SeqCst);
    loop {
        let ev = next().await;
        app.apply(0, ev.clone());
        if let PollEvent::NamesIncomplete { gap: None } = ev {
            break;
        }
    }
    assert_eq!(named(&app), 250, "every name in");
    assert!(app.names_gap_note().is_none());
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.get(&ami(1)), Some(&1), "a chunk that answered is not asked again: {asked:?}");
    assert_eq!(asked.get(&ami(201)), Some(&1), "{asked:?}");
    assert!(asked.get(&ami(101)).is_some_and(|n| *n >= 2), "the failed chunk is asked again: {asked:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_name_lookups_never_hold_up_a_poll_and_run_a_few_at_a_time() {
    // 2,700 AMIs (27 chunks) whose names take 30 s each: polls go on every 200 ms meanwhile.
    let ep = fake::start_slow(
        |q| match q.action() {
            "DescribeStoreImageTasks" => tasks(2700),
            _ => fake::images_page(&q.list("Filter.1.Value")),
        },
        |q| if q.action() == "DescribeImages" { Duration::from_secs(30) } else { Duration::ZERO },
    )
    .await;
    let mut pollers = Pollers::spawn(vec![source(&ep.url, Duration::from_secs(60))], schedule());
    let mut snapshots = 0;
    while snapshots < 4 || ep.most_at_once("DescribeImages") < PER_FEED as u64 {
        let (_, ev) = tokio::time::timeout(Duration::from_secs(20), pollers.recv())
            .await
            .expect("a poll within 20 s while names are looked up")
            .unwrap();
        match ev.unwrap() {
            PollEvent::Snapshot { .. } => snapshots += 1,
            PollEvent::Names { .. } => panic!("no names answer within 30 s"),
            _ => {}
        }
    }
    assert_eq!(ep.most_at_once("DescribeImages"), PER_FEED as u64, "bounded: a few chunks at a time");
    assert!(ep.count("DescribeStoreImageTasks") >= 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn once_keeps_the_names_of_the_requests_that_answered() {
    let ep = fake::start(|q| match q.action() {
        "DescribeStoreImageTasks" => tasks(250),
        "DescribeImages" if q.list("Filter.1.Value").contains(&ami(101)) => {
            fake::error(500, "InternalError", "An internal error has occurred.")
        }
        "DescribeImages" => fake::images_page(&q.list("Filter.1.Value")),
        _ => fake::error(400, "InvalidAction", "no"),
    })
    .await;
    let (code, out, err, _) = common::amiwatch_at(&ep.url, &["--once", "-o", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("names of 100 of 250 AMIs are not shown"), "{err}");
    let named = out.lines().filter(|l| l.contains("name-of-ami-")).count();
    assert_eq!(named, 150, "the two requests that answered are kept");
    let row = out.lines().find(|l| l.contains(&ami(150))).unwrap();
    assert!(!row.contains("deregistered"), "an AMI whose request failed is not called deregistered: {row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denial_met_by_several_requests_at_once_is_said_once_and_never_asked_again() {
    let ep = fake::start(|q| match q.action() {
        "DescribeStoreImageTasks" => tasks(1000),
        _ => fake::error(403, "UnauthorizedOperation", "You are not authorized to perform this operation."),
    })
    .await;
    let mut pollers = Pollers::spawn(vec![source(&ep.url, Duration::from_secs(5))], schedule());
    let (mut snapshots, mut denied) = (0, 0);
    while snapshots < 8 || denied == 0 {
        let (_, ev) = tokio::time::timeout(Duration::from_secs(20), pollers.recv()).await.unwrap().unwrap();
        match ev.unwrap() {
            PollEvent::Snapshot { .. } => snapshots += 1,
            PollEvent::NamesUnavailable { .. } => denied += 1,
            PollEvent::NamesIncomplete { gap } => panic!("a denial is not a gap: {gap:?}"),
            _ => {}
        }
    }
    assert_eq!(denied, 1);
    assert!(ep.count("DescribeImages") <= PER_FEED as u64, "the requests in flight at most, never again");
}
