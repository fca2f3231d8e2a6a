//! Polling whose cost follows what is moving, through the real SDK against the embedded
//! endpoint: exports start, progress, complete and fail while the poller runs poll by poll.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use amiwatch::ec2::poller::{Ask, Cadence, Ec2Source, Schedule, Source};
use amiwatch::ec2::{self, ClientOptions, Paging, Selection};
use amiwatch::sim::{self, SimConfig, SimHandle};
use amiwatch::task::{StoreTask, TaskKey, TaskState};

async fn endpoint(tasks: usize, moving: Option<usize>, upcoming: usize) -> SimHandle {
    let config = SimConfig { tasks, moving, upcoming, seed: 9, frozen: true, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn by_key<'a>(tasks: impl IntoIterator<Item = &'a StoreTask>) -> HashMap<TaskKey, &'a StoreTask> {
    tasks.into_iter().map(|t| (t.key(), t)).collect()
}

fn source(h: &SimHandle, selection: Selection) -> Ec2Source {
    let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
    Ec2Source { ec2: ec2::connect_embedded(h.url(), &opts), selection, paging: Paging::default(), names: false }
}

/// Polls `steps` times, the endpoint's clock moving `step` between polls, a sweep every
/// `sweep_every` polls; after each poll compares the snapshot with a full fetch made at the
/// same moment. Returns (fast polls, sweeps, starts seen, completions seen, failures seen).
async fn run(h: &SimHandle, selection: Selection, steps: usize, step: Duration, sweep_every: usize) -> [usize; 5] {
    let src = source(h, selection.clone());
    let mut cadence = Cadence::new(Schedule::default());
    let mut ever_running: HashSet<TaskKey> = HashSet::new();
    let mut states: HashMap<TaskKey, Option<TaskState>> = HashMap::new();
    let mut seen = [0usize; 5];
    for n in 0..steps {
        if n % sweep_every == 0 {
            cadence.sweep_next();
        }
        let ask = cadence.ask();
        let fetched = src.fetch(&ask).await.unwrap();
        let (snap, _, _) = cadence.take(&ask, fetched);
        let full = ec2::fetch_all(&src.ec2, &selection, &Paging::default()).await.unwrap().tasks;
        match ask {
            Ask::Sweep => {
                assert_eq!(snap.tasks, full, "after a sweep, the snapshot is a full fetch exactly");
                seen[1] += 1;
            }
            Ask::Changes { .. } => {
                seen[0] += 1;
                let (got, want) = (by_key(&snap.tasks), by_key(&full));
                ever_running.extend(full.iter().filter(|t| t.is_in_progress()).map(StoreTask::key));
                for k in &ever_running {
                    assert_eq!(
                        got.get(k),
                        want.get(k),
                        "poll {n}: a task that is or was in progress, as a full fetch has it"
                    );
                }
            }
        }
        for t in &snap.tasks {
            let before = states.insert(t.key(), t.state.clone());
            match (before, &t.state) {
                (None, Some(TaskState::InProgress)) if n > 0 => seen[2] += 1,
                (Some(Some(TaskState::InProgress)), Some(TaskState::Completed)) => seen[3] += 1,
                (Some(Some(TaskState::InProgress)), Some(TaskState::Failed)) => seen[4] += 1,
                _ => {}
            }
        }
        h.advance(step);
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn fast_polls_follow_every_moving_task_exactly_and_sweeps_equal_a_full_fetch() {
    // 2,000 tasks, 30 in progress and 60 more starting: a fast poll is cheaper than a sweep.
    let h = endpoint(2000, Some(30), 60).await;
    let [fast, sweeps, started, completed, failed] =
        run(&h, Selection::default(), 40, Duration::from_secs(90), 10).await;
    assert_eq!((fast, sweeps), (36, 4));
    assert!(started > 0 && completed > 0 && failed > 0, "starts {started}, completions {completed}, failures {failed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_image_ids_fast_polls_follow_the_moving_amis() {
    let h = endpoint(300, None, 0).await;
    let all =
        ec2::fetch_all(&source(&h, Selection::default()).ec2, &Selection::default(), &Paging::default()).await.unwrap();
    let ids: Vec<String> = all.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).take(60).collect();
    let sel = Selection { image_ids: ids, ..Selection::default() };
    let [fast, _, _, completed, _] = run(&h, sel, 20, Duration::from_secs(120), 10).await;
    assert_eq!(fast, 18);
    assert!(completed > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_poll_is_never_dearer_than_a_sweep() {
    // 500 tasks, all in progress: the listing of them alone is as dear as reading everything.
    let h = endpoint(500, Some(500), 0).await;
    let src = source(&h, Selection::default());
    let mut cadence = Cadence::new(Schedule::default());
    for _ in 0..4 {
        let ask = cadence.ask();
        let before = h.stats().describe_store_image_tasks;
        let f = src.fetch(&ask).await.unwrap();
        assert_eq!(h.stats().describe_store_image_tasks - before, 3, "ceil(500/200), as a full read");
        cadence.take(&ask, f);
        h.advance(Duration::from_secs(60));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_poll_costs_what_is_moving_not_what_exists() {
    // 10,000 tasks, 30 in progress: a sweep is 50 requests, a fast poll 1 (plus 1 per 20
    // AMIs that just ended).
    let h = endpoint(10_000, Some(30), 0).await;
    let src = source(&h, Selection::default());
    let mut cadence = Cadence::new(Schedule::default());
    let count = |h: &SimHandle| h.stats().describe_store_image_tasks;
    let ask = cadence.ask();
    let before = count(&h);
    let f = src.fetch(&ask).await.unwrap();
    assert_eq!((ask == Ask::Sweep, count(&h) - before), (true, 50));
    cadence.take(&ask, f);
    let ask = cadence.ask();
    assert!(matches!(&ask, Ask::Changes { running, total: 10_000 } if running.len() == 30), "{ask:?}");
    let before = count(&h);
    let f = src.fetch(&ask).await.unwrap();
    assert_eq!(count(&h) - before, 1, "the 30 in progress fit one page");
    let (snap, _, _) = cadence.take(&ask, f);
    assert_eq!(snap.tasks.len(), 10_000, "the snapshot stays complete");
}
