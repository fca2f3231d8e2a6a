//! The real client and the poller against a faulty embedded endpoint: throttling, server
//! errors, slow answers, dropped connections, malformed XML and an outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amiwatch::app::App;
use amiwatch::ec2::poller::{Ec2Source, Schedule};
use amiwatch::ec2::{self, ClientOptions, Ec2, ErrorKind, Feed, FeedInfo, Paging, PollEvent, Pollers, Selection};
use amiwatch::once;
use amiwatch::sim::{self, FaultConfig, SimConfig, SimHandle};
use amiwatch::task::StoreTask;
use chrono::Utc;

async fn endpoint(tasks: usize) -> SimHandle {
    let config = SimConfig { tasks, seed: 11, frozen: true, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn client(h: &SimHandle, attempt_timeout: Duration, attempts: u32) -> Ec2 {
    let opts = ClientOptions {
        attempt_timeout: Some(attempt_timeout),
        max_attempts: Some(attempts),
        ..ClientOptions::default()
    };
    ec2::connect_embedded(h.url(), &opts)
}

fn keys<'a>(tasks: impl IntoIterator<Item = &'a StoreTask>) -> Vec<(Option<String>, Option<i64>)> {
    tasks.into_iter().map(|t| (t.ami_id.as_deref().map(str::to_string), t.start_time.map(|s| s.timestamp()))).collect()
}

async fn complete_set(h: &SimHandle) -> Vec<StoreTask> {
    ec2::fetch_all(&client(h, Duration::from_secs(5), 1), &Selection::default(), &Paging::default())
        .await
        .unwrap()
        .tasks
}

/// A fetch as `--once` makes it: on the poller, with its retries and backoff.
async fn fetch_retrying(ec2: &Ec2) -> Result<Arc<ec2::Snapshot>, ec2::FetchError> {
    let feed = Feed { info: Arc::new(FeedInfo::default()), ec2: ec2.clone() };
    let max_time = Duration::from_secs(120);
    let mut r = once::fetch_feeds(&[feed], &Selection::default(), &Paging::default(), 3, max_time, |_, _, _| {}).await;
    r.remove(0)
}

#[tokio::test]
async fn throttling_at_30_percent_still_yields_complete_correct_data() {
    let h = endpoint(2000).await;
    let want = complete_set(&h).await;
    h.set_faults(FaultConfig { throttle: 30.0, ..FaultConfig::default() });
    let ec2 = client(&h, Duration::from_secs(5), 4);
    for _ in 0..3 {
        let got = fetch_retrying(&ec2).await.expect("retries ride out throttling");
        assert_eq!(keys(&got.tasks), keys(&want), "every task, once, in order");
    }
    assert!(h.stats().faults_injected > 3, "{:?}", h.stats());
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried() {
    let h = endpoint(1000).await;
    let want = complete_set(&h).await;
    h.set_faults(FaultConfig { internal_error: 15.0, drop: 15.0, ..FaultConfig::default() });
    let got = fetch_retrying(&client(&h, Duration::from_secs(5), 4)).await.unwrap();
    assert_eq!(keys(&got.tasks), keys(&want));
    assert!(h.stats().faults_injected > 0);
}

#[tokio::test]
async fn slow_answers_hit_the_attempt_timeout_and_are_retried() {
    let h = endpoint(600).await;
    let want = complete_set(&h).await;
    h.set_faults(FaultConfig { slow: 40.0, slow_delay: Duration::from_secs(3), ..FaultConfig::default() });
    let started = Instant::now();
    let got = fetch_retrying(&client(&h, Duration::from_millis(300), 4)).await.unwrap();
    assert_eq!(keys(&got.tasks), keys(&want));
    assert!(h.stats().faults_injected > 0);
    assert!(started.elapsed() < Duration::from_secs(20), "no attempt waited for the slow answers");

    // Every answer slow: a timeout, reported as one, never a hang.
    h.set_faults(FaultConfig { slow: 100.0, slow_delay: Duration::from_secs(3), ..FaultConfig::default() });
    let err = ec2::fetch_all(&client(&h, Duration::from_millis(200), 2), &Selection::default(), &Paging::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err:?}");
}

#[tokio::test]
async fn malformed_xml_is_a_reported_error_not_a_crash() {
    let h = endpoint(50).await;
    h.set_faults(FaultConfig { malformed: 100.0, ..FaultConfig::default() });
    let err = ec2::fetch_all(&client(&h, Duration::from_secs(2), 2), &Selection::default(), &Paging::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse, "{err:?}");
    assert!(err.summary().contains("could not be read"));
}

async fn next_event(pollers: &mut Pollers) -> PollEvent {
    let (_, event) =
        tokio::time::timeout(Duration::from_secs(20), pollers.recv()).await.expect("an event in time").unwrap();
    event.expect("the poller runs")
}

#[tokio::test]
async fn an_outage_shows_stale_data_and_recovers_by_itself() {
    let h = endpoint(300).await;
    let source = Arc::new(Ec2Source {
        ec2: client(&h, Duration::from_secs(2), 2),
        selection: Selection::default(),
        paging: Paging::default(),
        names: false,
    });
    let schedule = Schedule {
        interval: Duration::from_millis(100),
        idle_interval: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        ..Schedule::default()
    };
    let mut pollers = Pollers::spawn(vec![source as _], schedule);
    let mut app = App::new(Vec::new(), Duration::from_millis(100), Utc::now());
    let apply = |app: &mut App, e: PollEvent| {
        app.now = Utc::now();
        app.apply(0, e);
    };

    while !app.has_data() {
        let e = next_event(&mut pollers).await;
        apply(&mut app, e);
    }
    assert_eq!(app.task_count(), 300);

    h.set_outage(true);
    loop {
        let e = next_event(&mut pollers).await;
        let failed = matches!(e, PollEvent::Failed { .. });
        apply(&mut app, e);
        if failed {
            break;
        }
    }
    assert_eq!(app.task_count(), 300, "a failed poll never wipes good data");
    assert!(app.is_stale());
    assert!(app.poll.failure.as_ref().unwrap().summary.contains("Unavailable"));

    h.set_outage(false);
    loop {
        let e = next_event(&mut pollers).await;
        let ok = matches!(e, PollEvent::Snapshot { .. });
        apply(&mut app, e);
        if ok {
            break;
        }
    }
    assert!(app.poll.failure.is_none());
    assert!(!app.is_stale());
    assert_eq!(app.task_count(), 300);
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A bounded soak: polls as fast as the poller will against an endpoint that throttles,
/// fails and drops, checking that every snapshot is whole and that memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_faults_loses_nothing_and_memory_stays_flat() {
    let h = endpoint(1000).await;
    let want = keys(&complete_set(&h).await);
    h.set_faults(FaultConfig { throttle: 20.0, internal_error: 5.0, drop: 5.0, ..FaultConfig::default() });
    let source = Arc::new(Ec2Source {
        ec2: client(&h, Duration::from_secs(2), 3),
        selection: Selection::default(),
        paging: Paging::default(),
        names: false,
    });
    let schedule = Schedule {
        interval: Duration::from_millis(10),
        idle_interval: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..Schedule::default()
    };
    let mut pollers = Pollers::spawn(vec![source as _], schedule);

    let soak = Duration::from_secs(8);
    let started = Instant::now();
    let (mut snapshots, mut failures, mut baseline) = (0, 0, None);
    while started.elapsed() < soak {
        match next_event(&mut pollers).await {
            PollEvent::Snapshot { snapshot, .. } => {
                snapshots += 1;
                assert_eq!(keys(&snapshot.tasks), want, "snapshot {snapshots} is whole");
            }
            PollEvent::Failed { .. } => failures += 1,
            PollEvent::Polling
            | PollEvent::Names { .. }
            | PollEvent::NamesUnavailable { .. }
            | PollEvent::NamesIncomplete { .. } => {}
        }
        if baseline.is_none() && started.elapsed() > Duration::from_secs(2) {
            baseline = Some(rss_kib());
        }
    }
    let grown = rss_kib().saturating_sub(baseline.unwrap_or(0));
    eprintln!("soak: {snapshots} snapshots, {failures} failed polls, {:?}, RSS grew {grown} KiB", h.stats());
    assert!(snapshots >= 10, "the poller kept polling: {snapshots}");
    assert!(h.stats().faults_injected > 20);
    assert!(grown < 32 * 1024, "memory grew by {grown} KiB");
}
