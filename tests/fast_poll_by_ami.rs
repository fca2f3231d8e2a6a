//! With `--image-id`, every fast poll asks the watched AMIs' latest tasks, through the real SDK
//! against the embedded endpoint: a new export of a watched AMI shows at the next poll, not
//! at the next sweep, and "updated" means a request was answered.

use std::time::Duration;

use amiwatch::ec2::poller::{Ask, Cadence, Ec2Source, Schedule, Source};
use amiwatch::ec2::{self, ClientOptions, Paging, Selection};
use amiwatch::sim::{self, SimConfig};
use amiwatch::task::TaskState;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_export_of_a_watched_ami_shows_at_the_next_fast_poll_though_nothing_was_running() {
    let config = SimConfig { tasks: 60, moving: Some(0), upcoming: 0, seed: 9, frozen: true, ..SimConfig::default() };
    let h = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    let ec2 = ec2::connect_embedded(h.url(), &opts);
    let all = ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap().tasks;
    assert!(all.iter().all(|t| !t.is_in_progress()), "nothing in progress");
    // Two watched AMIs whose latest task ended, and that can be exported again.
    let mut watched: Vec<String> = Vec::new();
    for t in &all {
        let ami = t.ami_id.as_deref().unwrap().to_string();
        if watched.len() < 2 && !watched.contains(&ami) && all.iter().find(|x| x.ami_id == t.ami_id) == Some(t) {
            watched.push(ami);
        }
    }
    let sel = Selection { image_ids: watched.clone(), ..Selection::default() };
    let src = Ec2Source { ec2: ec2.clone(), selection: sel, paging: Paging::default(), names: false };
    let mut cadence = Cadence::new(Schedule::default());

    let ask = cadence.ask();
    assert_eq!(ask, Ask::Sweep);
    let (first, _, _) = cadence.take(&ask, src.fetch(&ask).await.unwrap());
    assert_eq!(first.tasks.len(), 2);

    // A new export of the first watched AMI that can be exported again.
    let mut exported = None;
    for ami in &watched {
        if ec2::export::create_store_image_task(&ec2, ami, "amiwatch-again", &[]).await.is_ok() {
            exported = Some(ami.clone());
            break;
        }
    }
    let exported = exported.expect("one of the watched AMIs can be exported again");
    h.advance(Duration::from_secs(30));

    let before = h.stats().describe_store_image_tasks;
    let ask = cadence.ask();
    assert!(matches!(ask, Ask::Changes { .. }), "a fast poll, not a sweep: {ask:?}");
    let fetched = src.fetch(&ask).await.unwrap();
    assert_eq!(h.stats().describe_store_image_tasks - before, 1, "two AMIs: one request of 20 IDs");
    let (snap, _, _) = cadence.take(&ask, fetched);
    let now = snap.tasks.iter().find(|t| t.ami_id.as_deref() == Some(exported.as_str())).unwrap();
    assert_eq!(now.state, Some(TaskState::InProgress), "the new export is seen at once");
    assert_eq!(now.bucket.as_deref(), Some("amiwatch-again"));
    assert_eq!(snap.tasks.len(), 2, "the latest task of each watched AMI");
    assert!(snap.fetched_at > first.fetched_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_one_watched_amis_are_asked_in_three_requests_at_every_fast_poll() {
    let config = SimConfig { tasks: 200, moving: Some(0), upcoming: 0, seed: 9, frozen: true, ..SimConfig::default() };
    let h = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
    let ec2 = ec2::connect_embedded(h.url(), &ClientOptions::default());
    let all = ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap().tasks;
    let mut ids: Vec<String> = Vec::new();
    for t in &all {
        let a = t.ami_id.as_deref().unwrap().to_string();
        if ids.len() < 41 && !ids.contains(&a) {
            ids.push(a);
        }
    }
    assert_eq!(ids.len(), 41);
    let src = Ec2Source {
        ec2,
        selection: Selection { image_ids: ids, ..Selection::default() },
        paging: Paging::default(),
        names: false,
    };
    let mut cadence = Cadence::new(Schedule::default());
    let ask = cadence.ask();
    cadence.take(&ask, src.fetch(&ask).await.unwrap());
    for _ in 0..3 {
        let before = h.stats().describe_store_image_tasks;
        let ask = cadence.ask();
        assert!(matches!(ask, Ask::Changes { .. }));
        let f = src.fetch(&ask).await.unwrap();
        assert_eq!(h.stats().describe_store_image_tasks - before, 3, "20 + 20 + 1 AMIs");
        assert!(f.requests >= 3);
        cadence.take(&ask, f);
    }
}

#[test]
fn a_poll_that_sent_no_request_does_not_say_the_data_is_fresh() {
    let mut cadence = Cadence::new(Schedule::default());
    let ask = Ask::Sweep;
    let answered = ec2::Fetched { requests: 1, complete: true, ..ec2::Fetched::default() };
    let (first, _, _) = cadence.take(&ask, answered);
    std::thread::sleep(Duration::from_millis(5));
    let ask = Ask::Changes { running: Vec::new(), total: 0 };
    let (second, _, _) = cadence.take(&ask, ec2::Fetched { requests: 0, ..ec2::Fetched::default() });
    assert_eq!(second.fetched_at, first.fetched_at, "nothing was asked: not 'updated' now");
}
