//! The store quota: the embedded endpoint refuses a new export while the exports in progress
//! hold the quota or more, refuses marketplace AMIs for good, and stores each AMI at a rate
//! set by its size; amiwatch shows how full the quota is. Through the real SDK.

mod common;

use std::time::Duration;

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::error::ErrorKind;
use amiwatch::ec2::{self, ClientOptions, Ec2};
use amiwatch::sim::images::{SimState, record_of};
use amiwatch::sim::{self, SimConfig, SimHandle};
use chrono::Utc;

async fn endpoint(config: SimConfig) -> SimHandle {
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn client(h: &SimHandle) -> Ec2 {
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    connect_embedded_as(h.url(), &opts, sim::DEMO_KEY, "us-east-1")
}

/// AMIs of the account's own exports that are registered and not in progress now.
async fn exportable(h: &SimHandle, ec2: &Ec2, seed: u64) -> Vec<String> {
    let f = ec2::fetch_all(ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
    let busy: Vec<String> = h.in_progress("us-east-1").into_iter().map(|m| m.ami).collect();
    let mut amis: Vec<String> = f.tasks.into_iter().filter_map(|t| t.ami_id).filter(|a| !busy.contains(a)).collect();
    amis.sort();
    amis.dedup();
    // The endpoint's own record: the deregistered ones cannot be exported.
    let registered = |a: &String| !matches!(record_of(a, seed, Utc::now()).state, SimState::Deregistered(_));
    amis.retain(registered);
    amis
}

#[tokio::test]
async fn new_exports_are_refused_while_the_quota_is_held_and_accepted_below_it() {
    let config = SimConfig {
        tasks: 200,
        moving: Some(0),
        seed: 5,
        frozen: true,
        gb_per_sec: Some(0.1),
        store_quota_gb: Some(300),
        ..SimConfig::default()
    };
    let h = endpoint(config).await;
    let ec2 = client(&h);
    let amis = exportable(&h, &ec2, 5).await;
    assert!(amis.len() > 10, "the scenario has AMIs to export");
    // Accepted while the exports in progress hold less than 300 GB; the one that takes the
    // total to 300 or past it is accepted too, then nothing more.
    let mut refused = None;
    for ami in &amis {
        let held: u64 = h.in_progress("us-east-1").iter().map(|m| m.size_gb).sum();
        let res = ec2::export::create_store_image_task(&ec2, ami, "amiwatch-demo").await;
        match res {
            Ok(_) => assert!(held < 300, "accepted with {held} GB in progress"),
            Err(e) => {
                assert!(held >= 300, "refused with only {held} GB in progress: {e:?}");
                assert_eq!(e.kind, ErrorKind::Refused("ResourceLimitExceeded".into()));
                let told = ec2::export::explain(&e, ami);
                assert!(told.contains("store quota is full"), "{told}");
                refused = Some(ami.clone());
                break;
            }
        }
    }
    let refused = refused.expect("the quota fills up");
    // Once the exports in progress end (0.1 GB/s: at most a few hours), the same export is
    // accepted.
    h.advance(Duration::from_secs(60_000));
    assert!(h.in_progress("us-east-1").is_empty());
    ec2::export::create_store_image_task(&ec2, &refused, "amiwatch-demo").await.unwrap();
    let now = h.in_progress("us-east-1");
    assert_eq!(now.len(), 1);
    // Started now (the service's start time has whole seconds: under a second of the
    // clock's fraction is already behind it, at most 1.25% of an 8 GB AMI at 0.1 GB/s).
    assert!(now[0].progress <= 1, "{}%", now[0].progress);
    // Its size over the rate: half its size at 0.1 GB/s later it is half done.
    h.advance(Duration::from_secs(now[0].size_gb * 5));
    let half = h.in_progress("us-east-1")[0].progress;
    assert!((49..=51).contains(&half), "{half}%");
}

#[tokio::test]
async fn marketplace_amis_are_refused_for_good() {
    let config = SimConfig {
        tasks: 200,
        moving: Some(0),
        seed: 5,
        frozen: true,
        marketplace_percent: 100,
        ..SimConfig::default()
    };
    let h = endpoint(config).await;
    let ec2 = client(&h);
    let ami = exportable(&h, &ec2, 5).await.into_iter().next().unwrap();
    let e = ec2::export::create_store_image_task(&ec2, &ami, "amiwatch-demo").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused("UnsupportedOperation".into()));
    assert!(ec2::export::explain(&e, &ami).contains("refused for good"));
    assert!(h.in_progress("us-east-1").is_empty());
}
