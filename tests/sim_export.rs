//! The embedded endpoint's side of `amiwatch export`, through the real SDK: fresh AMIs that
//! were never exported, listed by `DescribeImages` with `Owner=self` and stored by
//! `CreateStoreImageTask`; the AMIs refused for good; the one that fails once; tags; the store
//! quota counting fresh AMIs; and the record of every write, in the library and over HTTP.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, Ec2};
use amiwatch::sim::images::{SimState, is_marketplace, record_of};
use amiwatch::sim::{self, CreateRecord, FreshImage, SimConfig, SimHandle};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{DeviceType, Image, ProductCodeValues, S3ObjectTag, StoreImageTaskResult};
use chrono::Utc;

const REGION: &str = "us-east-1";
const BUCKET: &str = "acme-ami-archive";

async fn endpoint(config: SimConfig) -> SimHandle {
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn client(url: &str) -> Ec2 {
    let opts = ClientOptions {
        attempt_timeout: Some(Duration::from_secs(5)),
        max_attempts: Some(1),
        ..ClientOptions::default()
    };
    connect_embedded_as(url, &opts, sim::DEMO_KEY, REGION)
}

/// A frozen account with no export in progress, storing at 1 GB a second.
fn quiet(fresh_images: Vec<FreshImage>) -> SimConfig {
    SimConfig {
        tasks: 20,
        moving: Some(0),
        seed: 3,
        frozen: true,
        gb_per_sec: Some(1.0),
        fresh_images,
        ..SimConfig::default()
    }
}

/// Every image `Owner=self` lists, `MaxResults` 5 a page (at most 1,000 pages).
async fn owned(ec2: &Ec2) -> Vec<Image> {
    let mut all = Vec::new();
    let mut token = None;
    for _ in 0..1000 {
        let page =
            ec2.client.describe_images().owners("self").max_results(5).set_next_token(token).send().await.unwrap();
        assert!(page.images().len() <= 5);
        all.extend(page.images().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return all;
        }
    }
    panic!("Owner=self never ended");
}

fn size(i: &Image) -> u64 {
    let ebs = i.block_device_mappings().iter().filter_map(|b| b.ebs());
    ebs.map(|e| e.volume_size().unwrap_or_default() as u64).sum()
}

/// Starts an export, with tags; the object key or the error code.
async fn create(ec2: &Ec2, ami: &str, tags: &[(&str, &str)]) -> Result<String, String> {
    let tags = tags.iter().map(|(k, v)| S3ObjectTag::builder().key(*k).value(*v).build());
    let res =
        ec2.client.create_store_image_task().image_id(ami).bucket(BUCKET).set_s3_object_tags(Some(tags.collect()));
    match res.send().await {
        Ok(out) => Ok(out.object_key().unwrap_or_default().to_string()),
        Err(e) => Err(e.code().unwrap_or("(no code)").to_string()),
    }
}

/// The latest task of `ami`, as the service tells it with `ImageId.N`.
async fn latest(ec2: &Ec2, ami: &str) -> Option<StoreImageTaskResult> {
    let out = ec2.client.describe_store_image_tasks().image_ids(ami).send().await.unwrap();
    out.store_image_task_results().first().cloned()
}

#[tokio::test]
async fn owner_self_lists_exactly_the_fresh_and_the_existing_amis_paged_without_repeats() {
    let config =
        SimConfig { tasks: 60, seed: 11, frozen: true, fresh: 12, marketplace_percent: 20, ..SimConfig::default() };
    let h = endpoint(config).await;
    let ec2 = client(h.url());
    let fresh = h.fresh_images(sim::DEMO_KEY, REGION);
    assert_eq!(fresh.len(), 12);
    assert!(fresh.iter().any(|f| f.marketplace) && fresh.iter().any(|f| f.fails_first));

    let images = owned(&ec2).await;
    let ids: Vec<String> = images.iter().map(|i| i.image_id().unwrap().to_string()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no AMI twice across the pages");
    // The endpoint's truth: the fresh AMIs, and the exported ones EC2 still returns
    // (registered and enabled, or deregistered within the hour).
    let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
    let exported: BTreeSet<String> = f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
    let returned = |a: &&String| match record_of(a, 11, Utc::now()).state {
        SimState::Available => true,
        SimState::Disabled => false,
        SimState::Deregistered(at) => Utc::now() - at < chrono::Duration::hours(1),
    };
    let mut want: BTreeSet<String> = exported.iter().filter(returned).cloned().collect();
    assert!(want.len() > 20, "the account has exported AMIs: {}", want.len());
    want.extend(fresh.iter().map(|f| f.id.clone()));
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), want);

    for i in &images {
        assert_eq!(i.owner_id(), Some("123456789012"));
        assert_eq!(i.virtualization_type().map(|v| v.as_str()), Some("hvm"));
        assert_eq!(i.root_device_type(), Some(&DeviceType::Ebs));
        let id = i.image_id().unwrap();
        let marketplace = match fresh.iter().find(|f| f.id == id) {
            Some(f) => {
                assert_eq!(size(i), f.size_gb, "{id}: its volumes add up to its size");
                assert_eq!(i.name(), Some(f.name.as_str()));
                let created = chrono::DateTime::parse_from_rfc3339(i.creation_date().unwrap()).unwrap();
                assert_eq!(created.timestamp_millis(), f.created.timestamp_millis());
                f.marketplace
            }
            None => is_marketplace(id, 11, 20),
        };
        let codes = i.product_codes();
        assert_eq!(!codes.is_empty(), marketplace, "{id}");
        assert!(codes.iter().all(|c| c.product_code_type() == Some(&ProductCodeValues::Marketplace)));
    }
    assert!(
        images.iter().filter(|i| !i.product_codes().is_empty()).count()
            > fresh.iter().filter(|f| f.marketplace).count()
    );

    // The account's own ID is the same as self; another owner is no list of public images.
    let mine = ec2.client.describe_images().owners("123456789012").send().await.unwrap();
    assert_eq!(mine.images().len(), images.len());
    for other in ["amazon", "999999999999"] {
        let e = ec2.client.describe_images().owners(other).send().await.unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterCombination"), "{other}");
    }
    let e = ec2.client.describe_images().owners("nobody").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidUserID.Malformed"));
}

#[tokio::test]
async fn a_fresh_ami_is_stored_with_its_tags_and_its_time_comes_from_its_size() {
    let ami = "ami-0aaaaaaaaaaaaaaa1";
    let h = endpoint(quiet(vec![FreshImage::new(ami, 200)])).await;
    let ec2 = client(h.url());
    assert!(latest(&ec2, ami).await.is_none(), "never exported");
    let tags = [("plan", "archive-2026"), ("owner", "ops team ✓")];
    assert_eq!(create(&ec2, ami, &tags).await, Ok(format!("{ami}.bin")));

    let task = latest(&ec2, ami).await.unwrap();
    assert_eq!(task.store_task_state(), Some("InProgress"));
    assert_eq!(task.bucket(), Some(BUCKET));
    assert!(task.progress_percentage().unwrap() <= 1);
    let flight = h.in_progress(REGION);
    assert_eq!(flight.len(), 1);
    assert_eq!((flight[0].ami.as_str(), flight[0].size_gb, flight[0].deregistered), (ami, 200, false));
    // 200 GB at 1 GB/s: half way after 100 s, done after 200 (the steppable clock).
    h.advance(Duration::from_secs(100));
    assert!((50..=51).contains(&latest(&ec2, ami).await.unwrap().progress_percentage().unwrap()));
    h.advance(Duration::from_secs(101));
    assert_eq!(latest(&ec2, ami).await.unwrap().store_task_state(), Some("Completed"));
    // It is still the account's own, now beside its export.
    assert_eq!(owned(&ec2).await.iter().filter(|i| i.image_id() == Some(ami)).count(), 1);

    let rec = h.creates();
    assert_eq!(rec.len(), 1);
    let want: Vec<(String, String)> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!((rec[0].ami.as_str(), rec[0].bucket.as_str(), &rec[0].tags), (ami, BUCKET, &want));
    assert_eq!(rec[0].outcome, Ok(format!("{ami}.bin")));
    assert_eq!((rec[0].account.as_str(), rec[0].region.as_str(), rec[0].dry_run), ("123456789012", REGION, false));
}

#[tokio::test]
async fn an_ami_that_fails_first_fails_half_way_once_then_completes() {
    let ami = "ami-0aaaaaaaaaaaaaaa2";
    let h = endpoint(quiet(vec![FreshImage { fails_first: true, ..FreshImage::new(ami, 100) }])).await;
    let ec2 = client(h.url());
    create(&ec2, ami, &[]).await.unwrap();
    h.advance(Duration::from_secs(49));
    assert_eq!(latest(&ec2, ami).await.unwrap().store_task_state(), Some("InProgress"));
    h.advance(Duration::from_secs(2));
    let failed = latest(&ec2, ami).await.unwrap();
    assert_eq!((failed.store_task_state(), failed.progress_percentage()), (Some("Failed"), Some(50)));
    assert!(failed.store_task_failure_reason().is_some_and(|r| r.contains("Try the request again")));
    assert!(h.in_progress(REGION).is_empty(), "a failed export holds no quota");

    create(&ec2, ami, &[]).await.unwrap();
    h.advance(Duration::from_secs(101));
    assert_eq!(latest(&ec2, ami).await.unwrap().store_task_state(), Some("Completed"));
    let all = ec2.client.describe_store_image_tasks().send().await.unwrap();
    let states: Vec<&str> = all
        .store_image_task_results()
        .iter()
        .filter(|t| t.ami_id() == Some(ami))
        .filter_map(|t| t.store_task_state())
        .collect();
    assert_eq!(states, ["Completed", "Failed"], "newest first: the retry, then the failure");
}

#[tokio::test]
async fn amis_that_cannot_be_stored_are_refused_for_good_and_start_nothing() {
    let marketplace = FreshImage { marketplace: true, ..FreshImage::new("ami-0bbbbbbbbbbbbbbb1", 100) };
    let instance_store = FreshImage { instance_store: true, ..FreshImage::new("ami-0bbbbbbbbbbbbbbb2", 100) };
    let huge = FreshImage::new("ami-0bbbbbbbbbbbbbbb3", 5_001);
    let largest = FreshImage::new("ami-0bbbbbbbbbbbbbbb4", 5_000);
    let h = endpoint(quiet(vec![marketplace.clone(), instance_store.clone(), huge.clone(), largest.clone()])).await;
    let ec2 = client(h.url());
    let images = owned(&ec2).await;
    let of = |id: &str| images.iter().find(|i| i.image_id() == Some(id)).unwrap().clone();
    assert_eq!(of(&instance_store.id).root_device_type(), Some(&DeviceType::InstanceStore));
    assert_eq!(size(&of(&huge.id)), 5_001);
    for refused in [&marketplace, &instance_store, &huge] {
        for _ in 0..2 {
            assert_eq!(create(&ec2, &refused.id, &[]).await, Err("UnsupportedOperation".into()), "{}", refused.id);
        }
        assert!(latest(&ec2, &refused.id).await.is_none(), "{}: no task", refused.id);
    }
    let missing = "ami-0bbbbbbbbbbbbbbb9";
    assert_eq!(create(&ec2, missing, &[]).await, Err("InvalidAMIID.NotFound".into()));
    assert!(h.in_progress(REGION).is_empty());
    // 5,000 GB is the limit, not over it.
    assert_eq!(create(&ec2, &largest.id, &[]).await, Ok(format!("{}.bin", largest.id)));
    let outcomes: Vec<Result<String, String>> = h.creates().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 7);
    assert_eq!(outcomes.last(), Some(&Ok(format!("{}.bin", largest.id))));
}

#[tokio::test]
async fn the_store_quota_counts_fresh_amis_in_progress() {
    let ids = ["ami-0ccccccccccccccc1", "ami-0ccccccccccccccc2", "ami-0ccccccccccccccc3"];
    let fresh = vec![FreshImage::new(ids[0], 400), FreshImage::new(ids[1], 300), FreshImage::new(ids[2], 100)];
    let h = endpoint(SimConfig { store_quota_gb: Some(600), ..quiet(fresh) }).await;
    let ec2 = client(h.url());
    assert!(h.in_progress(REGION).is_empty());
    create(&ec2, ids[0], &[]).await.unwrap();
    // 400 GB held: under the quota, so the next is accepted and takes the total past it.
    create(&ec2, ids[1], &[]).await.unwrap();
    assert_eq!(create(&ec2, ids[2], &[]).await, Err("ResourceLimitExceeded".into()));
    assert!(latest(&ec2, ids[2]).await.is_none());
    let held: u64 = h.in_progress(REGION).iter().map(|m| m.size_gb).sum();
    assert_eq!(held, 700);
    // Both move at once (400 < 600 admitted the second): 300 s and 400 s at 1 GB/s.
    assert!(h.in_progress(REGION).iter().all(|m| m.starts_in_secs == 0.0));
    h.advance(Duration::from_secs(301));
    assert_eq!(h.in_progress(REGION).iter().map(|m| m.size_gb).sum::<u64>(), 400);
    assert_eq!(create(&ec2, ids[2], &[]).await, Ok(format!("{}.bin", ids[2])));
}

#[tokio::test]
async fn tags_beyond_ec2s_limits_are_refused_and_start_nothing() {
    let ami = "ami-0ddddddddddddddd1";
    let h = endpoint(quiet(vec![FreshImage::new(ami, 50)])).await;
    let ec2 = client(h.url());
    let keys: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
    let eleven: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    assert_eq!(create(&ec2, ami, &eleven).await, Err("InvalidParameterValue".into()));
    let long = "k".repeat(129);
    assert_eq!(create(&ec2, ami, &[(long.as_str(), "v")]).await, Err("InvalidParameterValue".into()));
    assert_eq!(create(&ec2, ami, &[("a", "1"), ("a", "2")]).await, Err("InvalidParameterValue".into()));
    assert!(latest(&ec2, ami).await.is_none());
    assert_eq!(create(&ec2, ami, &eleven[..10]).await, Ok(format!("{ami}.bin")));
    assert_eq!(h.creates().last().unwrap().tags.len(), 10);
}

/// `GET /_sim/creates`, read over a plain socket as a benchmark's script would.
async fn creates_over_http(h: &SimHandle) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(b"GET /_sim/creates HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("application/json"), "{head}");
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn the_record_of_creates_and_sim_creates_agree() {
    let ami = "ami-0eeeeeeeeeeeeeee1";
    let keys = sim::Keys::demo().with_demo_secret(["READONLYKEY"]);
    let h = endpoint(SimConfig { keys, ..quiet(vec![FreshImage::new(ami, 80)]) }).await;
    let ec2 = client(h.url());
    let dry = ec2.client.create_store_image_task().image_id(ami).bucket(BUCKET).dry_run(true).send().await;
    assert_eq!(dry.unwrap_err().code(), Some("DryRunOperation"));
    h.advance(Duration::from_secs(7));
    create(&ec2, ami, &[("plan", "p1")]).await.unwrap();
    h.advance(Duration::from_secs(7));
    assert_eq!(create(&ec2, ami, &[]).await, Err("IncorrectState".into()));
    h.advance(Duration::from_secs(7));
    let readonly = connect_embedded_as(h.url(), &ClientOptions::default(), "READONLYKEY", REGION);
    assert_eq!(create(&readonly, ami, &[]).await, Err("UnauthorizedOperation".into()));

    let records: Vec<CreateRecord> = h.creates();
    assert_eq!(records.len(), 4);
    assert!(records[0].dry_run && records[0].outcome == Err("DryRunOperation".into()));
    assert_eq!(records[3].access_key, "READONLYKEY");
    // In the order answered, each at the endpoint's (stepped) time.
    let steps: Vec<i64> = records.windows(2).map(|w| (w[1].at - w[0].at).num_seconds()).collect();
    assert_eq!(steps, [7, 7, 7]);
    assert_eq!(records.iter().map(|r| r.tags.len()).collect::<Vec<_>>(), [0, 1, 0, 0]);
    let json = creates_over_http(&h).await;
    let served = json.as_array().unwrap();
    assert_eq!(served.len(), records.len());
    for (r, j) in records.iter().zip(served) {
        assert_eq!(j["account"], r.account.as_str());
        assert_eq!(j["access_key"], r.access_key.as_str());
        assert_eq!(j["region"], r.region.as_str());
        assert_eq!(j["ami"], r.ami.as_str());
        assert_eq!(j["bucket"], r.bucket.as_str());
        assert_eq!(j["dry_run"], r.dry_run);
        let tags: Vec<(String, String)> = serde_json::from_value(j["tags"].clone()).unwrap();
        assert_eq!(tags, r.tags);
        let at = chrono::DateTime::parse_from_rfc3339(j["at"].as_str().unwrap()).unwrap();
        assert_eq!(at.timestamp_millis(), r.at.timestamp_millis());
        match &r.outcome {
            Ok(key) => {
                assert_eq!((j["object_key"].as_str(), &j["error"]), (Some(key.as_str()), &serde_json::Value::Null))
            }
            Err(code) => {
                assert_eq!((&j["object_key"], j["error"].as_str()), (&serde_json::Value::Null, Some(code.as_str())))
            }
        }
    }
}

#[test]
fn simulate_fresh_serves_that_many_never_exported_amis() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_amiwatch"))
        .args(["simulate", "--fresh", "12", "--tasks", "15", "--frozen"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (never_exported, refused) = rt.block_on(async {
        let ec2 = client(&url);
        let images = owned(&ec2).await;
        let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
        let exported: HashSet<String> =
            f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
        let fresh: Vec<&Image> = images.iter().filter(|i| !exported.contains(i.image_id().unwrap())).collect();
        let marketplace = fresh.iter().find(|i| !i.product_codes().is_empty()).unwrap().image_id().unwrap().to_string();
        (fresh.len(), create(&ec2, &marketplace, &[]).await)
    });
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(never_exported, 12);
    assert_eq!(refused, Err("UnsupportedOperation".to_string()));
}
