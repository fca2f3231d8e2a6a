//! AMI names beside the tasks: DescribeImages through the real SDK against the embedded
//! endpoint, in the poller, the dashboard's state and the one-shot outputs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::{Action, App};
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::poller::{Ec2Source, Schedule, Source};
use amiwatch::ec2::{self, ClientOptions, Paging, PollEvent, Pollers, Selection};
use amiwatch::sim::{self, SimConfig, SimHandle};
use common::amiwatch_at;

async fn endpoint(tasks: usize) -> SimHandle {
    // The keys these tests sign with, known to the endpoint (it checks signatures).
    let keys = sim::Keys::demo().with_demo_secret(["AKIDNAMES", "NOIMAGESKEY"]);
    let config = SimConfig { tasks, seed: 21, frozen: true, keys, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn source(h: &SimHandle, key: &str) -> Ec2Source {
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    let ec2 = connect_embedded_as(h.url(), &opts, key, "us-east-1");
    Ec2Source { ec2, selection: Selection::default(), paging: Paging::default(), names: true }
}

fn amis(tasks: &[amiwatch::task::StoreTask]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).filter(|a| seen.insert(a.clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn names_come_in_batches_of_100_and_deregistered_amis_are_simply_absent() {
    let h = endpoint(400).await;
    let src = source(&h, "AKIDNAMES");
    let all = ec2::fetch_all(&src.ec2, &Selection::default(), &Paging::default()).await.unwrap();
    let ids = amis(&all.tasks);
    let found = ec2::images::describe_images(&src.ec2, &ids).await.unwrap();
    assert_eq!(h.stats().describe_images, ids.len().div_ceil(100) as u64, "{} AMIs", ids.len());
    assert!(
        found.len() < ids.len() && found.len() > ids.len() / 2,
        "some deregistered: {} of {}",
        found.len(),
        ids.len()
    );
    assert!(found.iter().all(|i| i.name.is_some() && !i.volumes.is_empty() && i.created.is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poller_names_new_amis_once_after_the_snapshot_and_a_denial_is_said_once() {
    let h = endpoint(60).await;
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(source(&h, "AKIDNAMES")), Arc::new(source(&h, "NOIMAGESKEY"))];
    let schedule = Schedule {
        interval: Duration::from_millis(200),
        idle_interval: Duration::from_millis(200),
        ..Schedule::default()
    };
    let mut pollers = Pollers::spawn(sources, schedule);
    let mut app = App::new(Vec::new(), Duration::from_secs(5), chrono::Utc::now());
    let (mut snapshots, mut names, mut denied, mut order_ok) = ([0; 2], 0, 0, true);
    while snapshots[0] < 5 || snapshots[1] < 5 {
        let (feed, ev) = tokio::time::timeout(Duration::from_secs(20), pollers.recv()).await.unwrap().unwrap();
        match ev.unwrap() {
            PollEvent::Snapshot { .. } => snapshots[feed] += 1,
            e @ PollEvent::Names { .. } => {
                order_ok &= feed == 0 && snapshots[0] >= 1;
                names += 1;
                if feed == 0 {
                    app.apply(0, e);
                }
            }
            PollEvent::NamesUnavailable { why } => {
                assert!(why.contains("ec2:DescribeImages"), "{why}");
                denied += 1;
            }
            _ => {}
        }
    }
    assert!(order_ok, "names come after their snapshot, never before it");
    assert_eq!((names, denied), (1, 1), "each feed asked once: known AMIs are not asked again, a denial is final");
    // One request each: the named feed's 60 tasks fit one batch, and the denied one stopped.
    assert_eq!(h.stats().describe_images, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_sort_by_name_find_the_ami() {
    let h = endpoint(40).await;
    let src = source(&h, "AKIDNAMES");
    let f = ec2::fetch_all(&src.ec2, &Selection::default(), &Paging::default()).await.unwrap();
    let found = ec2::images::describe_images(&src.ec2, &amis(&f.tasks)).await.unwrap();
    let target = found[0].clone();
    let mut app = App::new(Vec::new(), Duration::from_secs(5), chrono::Utc::now());
    let snapshot = Arc::new(ec2::Snapshot { tasks: f.tasks.into(), fetched_at: chrono::Utc::now(), next_token: None });
    app.apply(0, PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 });
    let missing: Vec<String> = Vec::new();
    app.apply(0, PollEvent::Names { found: found.into_iter().map(Arc::new).collect(), missing });
    app.handle(Action::StartSearch);
    for c in target.name.clone().unwrap().chars() {
        app.handle(Action::SearchInput(c));
    }
    let shown: Vec<String> =
        app.view.rows.iter().map(|&i| app.task(i).ami_id.as_deref().unwrap().to_string()).collect();
    assert!(shown.iter().any(|s| **s == *target.id), "{shown:?}");
    assert!(!shown.is_empty() && shown.len() < 40);
    app.handle(Action::SearchClear);
    for _ in 0..3 {
        app.handle(Action::CycleSort);
    }
    assert_eq!(app.filters.sort, amiwatch::app::view::SortKey::Name);
    let names: Vec<Option<String>> =
        app.view.rows.iter().map(|&i| app.naming(i).and_then(|n| n.name()).map(str::to_string)).collect();
    let named: Vec<&String> = names.iter().flatten().collect();
    assert!(named.windows(2).all(|w| w[0] <= w[1]), "A-Z");
    assert!(names.iter().skip_while(|n| n.is_some()).all(Option::is_none), "unnamed (deregistered) last");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_names_in_the_table_and_csv_and_json_only_when_asked() {
    let h = endpoint(40).await;
    let (code, table, err, _) = amiwatch_at(h.url(), &["--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.lines().next().unwrap().starts_with("AMI ID") && table.contains("NAME"));
    assert!(table.contains("(deregistered)"), "deregistered AMIs are listed, marked");
    let (_, csv, _, _) = amiwatch_at(h.url(), &["--once", "-o", "csv"]);
    assert!(csv.lines().next().unwrap().ends_with(",failure_reason,name,size_gib"));
    assert_eq!(csv.lines().count(), 41, "every task, named or not");
    let (_, json, _, _) = amiwatch_at(h.url(), &["--once", "-o", "json"]);
    assert!(!json.contains("\"Name\""), "the CLI's exact shape by default");
    let (_, json, _, _) = amiwatch_at(h.url(), &["--once", "-o", "json", "--with-names"]);
    assert!(json.contains("\"Name\""));
    let before = h.stats().describe_images;
    let (_, _, _, _) = amiwatch_at(h.url(), &["--once", "-o", "json"]);
    assert_eq!(h.stats().describe_images, before, "no DescribeImages call when nothing shows names");
}
