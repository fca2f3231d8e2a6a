//! The real aws-sdk-ec2 client against the embedded endpoint over loopback: signing,
//! pagination and XML parsing all run as they would against AWS.

use std::collections::HashSet;
use std::time::Duration;

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, Ec2, ErrorKind, Paging, Permission, Selection};
use amiwatch::sim::{self, FaultConfig, SimConfig, SimHandle};
use amiwatch::task::{StoreTask, TaskState};

async fn endpoint(tasks: usize) -> SimHandle {
    // The keys these tests sign with, known to the endpoint (it checks signatures).
    let keys = sim::Keys::demo().with_demo_secret(["DENIEDKEY", "EXPIREDKEY", "AKIDTEST"]);
    let config = SimConfig { tasks, seed: 7, frozen: true, keys, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn fast() -> ClientOptions {
    ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), max_attempts: Some(2), ..ClientOptions::default() }
}

fn client(h: &SimHandle) -> Ec2 {
    ec2::connect_embedded(h.url(), &fast())
}

fn paging(page_size: i32) -> Paging {
    Paging { page_size, ..Paging::default() }
}

fn keys<'a>(tasks: impl IntoIterator<Item = &'a StoreTask>) -> Vec<(String, i64)> {
    tasks.into_iter().map(|t| (t.ami_id.as_deref().unwrap().to_string(), t.start_time.unwrap().timestamp())).collect()
}

#[tokio::test]
async fn full_fetch_follows_every_page_with_the_fewest_requests() {
    let h = endpoint(1000).await;
    let ec2 = client(&h);
    let all = ec2::fetch_all(&ec2, &Selection::default(), &paging(200)).await.unwrap();
    assert_eq!(all.tasks.len(), 1000);
    assert_eq!(all.requests, 5, "ceil(1000/200)");
    assert_eq!(h.stats().describe_store_image_tasks, 5, "the endpoint counted the same");
    assert!(all.next_token.is_none());
    let unique: HashSet<_> = keys(&all.tasks).into_iter().collect();
    assert_eq!(unique.len(), 1000, "no task twice");
    assert!(all.tasks.windows(2).all(|w| w[0].start_time >= w[1].start_time), "the service's order: newest first");
    for state in [TaskState::InProgress, TaskState::Completed, TaskState::Failed] {
        assert!(all.tasks.iter().any(|t| t.state.as_ref() == Some(&state)), "{state} present");
    }
    assert!(all.tasks.iter().filter(|t| t.state == Some(TaskState::Failed)).all(|t| t.failure_reason.is_some()));
}

#[tokio::test]
async fn page_size_one_gives_the_same_set_as_page_size_200() {
    let h = endpoint(57).await;
    let ec2 = client(&h);
    let one = ec2::fetch_all(&ec2, &Selection::default(), &paging(1)).await.unwrap();
    let big = ec2::fetch_all(&ec2, &Selection::default(), &paging(200)).await.unwrap();
    assert_eq!(one.requests, 57);
    assert_eq!(big.requests, 1);
    assert_eq!(keys(&one.tasks), keys(&big.tasks));
}

#[tokio::test]
async fn more_than_20_ami_ids_are_split_and_get_the_latest_task_each() {
    let h = endpoint(300).await;
    let ec2 = client(&h);
    let all = ec2::fetch_all(&ec2, &Selection::default(), &paging(200)).await.unwrap();
    let mut ids: Vec<String> = Vec::new();
    for t in &all.tasks {
        let id = t.ami_id.as_deref().unwrap().to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let ids: Vec<String> = ids.into_iter().take(45).collect();
    let before = h.stats().describe_store_image_tasks;
    let sel = Selection { image_ids: ids.clone(), ..Selection::default() };
    let got = ec2::fetch_all(&ec2, &sel, &paging(200)).await.unwrap();
    assert_eq!(got.requests, 3, "45 IDs at 20 a request");
    assert_eq!(h.stats().describe_store_image_tasks - before, 3);
    assert_eq!(got.tasks.len(), 45, "one task per AMI");
    for t in &got.tasks {
        let newest = all.tasks.iter().filter(|a| a.ami_id == t.ami_id).map(|a| a.start_time).max().unwrap();
        assert_eq!(t.start_time, newest, "the latest task of {:?}", t.ami_id);
    }
}

#[tokio::test]
async fn filters_are_sent_to_the_service_and_applied_locally_with_ids() {
    let h = endpoint(400).await;
    let ec2 = client(&h);
    let all = ec2::fetch_all(&ec2, &Selection::default(), &paging(200)).await.unwrap();
    let failed = Selection { states: vec![TaskState::Failed], ..Selection::default() };
    let got = ec2::fetch_all(&ec2, &failed, &paging(200)).await.unwrap();
    let want: Vec<_> = all.tasks.iter().filter(|t| t.state == Some(TaskState::Failed)).cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(keys(&got.tasks), keys(&want));

    let bucket = all.tasks[0].bucket.clone().unwrap();
    let sel = Selection {
        buckets: vec![bucket.to_string()],
        states: vec![TaskState::Completed, TaskState::InProgress],
        ..Selection::default()
    };
    let got = ec2::fetch_all(&ec2, &sel, &paging(50)).await.unwrap();
    let want: Vec<_> = all.tasks.iter().filter(|t| sel.matches(t)).cloned().collect();
    assert_eq!(keys(&got.tasks), keys(&want));

    // With IDs the service ignores filters: amiwatch filters itself.
    let ids: Vec<String> = all.tasks.iter().take(30).map(|t| t.ami_id.as_deref().unwrap().to_string()).collect();
    let sel = Selection { image_ids: ids, states: vec![TaskState::InProgress], ..Selection::default() };
    let got = ec2::fetch_all(&ec2, &sel, &paging(200)).await.unwrap();
    assert!(!got.tasks.is_empty());
    assert!(got.tasks.iter().all(|t| t.state == Some(TaskState::InProgress)));
}

#[tokio::test]
async fn max_items_and_starting_token_resume_exactly() {
    let h = endpoint(700).await;
    let ec2 = client(&h);
    let all = ec2::fetch_all(&ec2, &Selection::default(), &paging(200)).await.unwrap();
    let first =
        ec2::fetch_all(&ec2, &Selection::default(), &Paging { max_items: Some(250), ..paging(200) }).await.unwrap();
    assert_eq!(first.tasks.len(), 250);
    assert_eq!(first.requests, 2, "200, then the 50 still wanted");
    let token = first.next_token.clone().expect("a token to resume from");
    let rest = ec2::fetch_all(&ec2, &Selection::default(), &Paging { starting_token: Some(token), ..paging(200) })
        .await
        .unwrap();
    assert!(rest.next_token.is_none());
    let mut joined = first.tasks.clone();
    joined.extend(rest.tasks);
    assert_eq!(keys(&joined), keys(&all.tasks));
    // Exactly the whole set: no token.
    let exact =
        ec2::fetch_all(&ec2, &Selection::default(), &Paging { max_items: Some(700), ..paging(200) }).await.unwrap();
    assert_eq!(exact.tasks.len(), 700);
    assert!(exact.next_token.is_none());
}

#[tokio::test]
async fn a_garbled_starting_token_is_a_clear_error() {
    let h = endpoint(10).await;
    let ec2 = client(&h);
    let err =
        ec2::fetch_all(&ec2, &Selection::default(), &Paging { starting_token: Some("garbage".into()), ..paging(5) })
            .await
            .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest("InvalidPaginationToken".into()));
}

#[tokio::test]
async fn dry_run_tells_allowed_from_denied() {
    let h = endpoint(10).await;
    assert_eq!(ec2::check_permission(&client(&h)).await.unwrap(), Permission::Allowed);
    let denied = connect_embedded_as(h.url(), &fast(), "DENIEDKEY", "us-east-1");
    assert!(
        matches!(ec2::check_permission(&denied).await.unwrap(), Permission::Denied(m) if m.contains("not authorized"))
    );
    assert_eq!(h.stats().describe_store_image_tasks, 2, "a dry run reads no data but is a call");
}

#[tokio::test]
async fn a_failure_mid_pagination_yields_no_partial_list() {
    let h = endpoint(600).await;
    h.set_faults(FaultConfig { fail_later_pages: true, ..FaultConfig::default() });
    let err = ec2::fetch_all(&client(&h), &Selection::default(), &paging(200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Service("InternalError".into()));
    assert!(err.summary().contains("InternalError"));
}

#[tokio::test]
async fn credential_and_network_errors_are_told_apart() {
    let h = endpoint(10).await;
    let expired = connect_embedded_as(h.url(), &fast(), "EXPIREDKEY", "us-east-1");
    let err = ec2::fetch_all(&expired, &Selection::default(), &paging(200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ExpiredCredentials, "{err:?}");
    let denied = connect_embedded_as(h.url(), &fast(), "DENIEDKEY", "us-east-1");
    let err = ec2::fetch_all(&denied, &Selection::default(), &paging(200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.summary().contains("ec2:DescribeStoreImageTasks"));
    let addr = h.addr();
    drop(h);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = ec2::connect_embedded(&format!("http://{addr}"), &fast());
    let err = ec2::fetch_all(&gone, &Selection::default(), &paging(200)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unreachable, "{err:?}");
}

#[tokio::test]
async fn each_region_has_its_own_tasks() {
    let h = endpoint(20).await;
    let east = ec2::fetch_all(&client(&h), &Selection::default(), &paging(200)).await.unwrap();
    let west = connect_embedded_as(h.url(), &fast(), "AKIDTEST", "eu-west-1");
    let west = ec2::fetch_all(&west, &Selection::default(), &paging(200)).await.unwrap();
    assert_eq!(west.tasks.len(), 20);
    assert_ne!(keys(&east.tasks), keys(&west.tasks));
}
