//! Criterion benches of the dashboard's hot paths over a 10,000-task snapshot: converting SDK
//! results, merging a snapshot into the app state, a filter or search keystroke, and one frame;
//! and at an organisation's size, 340 feeds of 1,000 tasks: one feed's fast poll (derived on
//! the worker, then applied and merged on the event loop), keystrokes, and a frame.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::view::StateFilter;
use amiwatch::app::{Action, App, Deriver};
use amiwatch::ec2::{FeedInfo, PollEvent, Snapshot};
use amiwatch::sim::scenario::{Scenario, ScenarioShape};
use amiwatch::task::{StoreTask, Tasks};
use amiwatch::ui;
use aws_sdk_ec2::primitives::DateTime as SdkDateTime;
use aws_sdk_ec2::types::StoreImageTaskResult;
use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

const N: usize = 10_000;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
}

/// 10,000 SDK results as the XML parser would hand them over, from the demo scenario.
fn sdk_results() -> Vec<StoreImageTaskResult> {
    let s = Scenario::generate(&ScenarioShape::builtin(), N, 42, now());
    s.tasks
        .iter()
        .map(|t| {
            let st = t.status_at(now());
            let mut b = StoreImageTaskResult::builder()
                .ami_id(&t.ami_id)
                .task_start_time(SdkDateTime::from_secs(t.start.timestamp()))
                .bucket(&t.bucket)
                .s3object_key(t.object_key())
                .progress_percentage(i32::from(st.progress))
                .store_task_state(st.state);
            if st.state == "Failed" {
                b = b.store_task_failure_reason(&t.failure_reason);
            }
            b.build()
        })
        .collect()
}

fn tasks() -> Vec<StoreTask> {
    sdk_results().iter().map(StoreTask::from_sdk).collect()
}

fn event(tasks: impl Into<Tasks>) -> PollEvent {
    PollEvent::Snapshot {
        snapshot: Arc::new(Snapshot { tasks: tasks.into(), fetched_at: now(), next_token: None }),
        next_in: Duration::from_secs(5),
        slowed: false,
        requests: 1,
    }
}

fn app_with(tasks: Vec<StoreTask>) -> App {
    let mut app = App::new(Vec::new(), Duration::from_secs(5), now());
    app.set_table_body(Rect::new(0, 4, 200, 44));
    app.apply(0, event(tasks));
    app
}

fn benches(c: &mut Criterion) {
    let results = sdk_results();
    c.bench_function("convert 10k SDK results", |b| {
        b.iter(|| black_box(&results).iter().map(StoreTask::from_sdk).collect::<Vec<_>>())
    });

    let tasks = tasks();
    c.bench_function("merge a 10k snapshot into the app", |b| {
        let mut app = app_with(tasks.clone());
        b.iter_batched(|| event(tasks.clone()), |e| app.apply(0, e), BatchSize::LargeInput)
    });

    let mut app = app_with(tasks.clone());
    c.bench_function("state filter keystroke, 10k", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % 4;
            app.handle(Action::SetState(StateFilter::ALL[i]))
        })
    });

    let mut app = app_with(tasks.clone());
    app.handle(Action::StartSearch);
    c.bench_function("search keystroke, 10k", |b| {
        let mut typed = false;
        b.iter(|| {
            // Alternate typing and deleting a character: each is one keystroke.
            typed = !typed;
            app.handle(if typed { Action::SearchInput('e') } else { Action::SearchBackspace })
        })
    });

    let mut app = app_with(tasks.clone());
    c.bench_function("sort keystroke, 10k", |b| b.iter(|| app.handle(Action::CycleSort)));

    for (name, filter) in
        [("frame 200x50, 10k, no filter", None), ("frame 200x50, 10k, failed filter", Some(StateFilter::Failed))]
    {
        let mut app = app_with(tasks.clone());
        if let Some(f) = filter {
            app.handle(Action::SetState(f));
        }
        let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
        // What the app pays for a frame: the whole screen rendered and diffed against the last
        // one. It never clears, so unchanged cells are not written again.
        c.bench_function(name, |b| {
            b.iter(|| {
                term.draw(|f| ui::render(&app, f)).unwrap();
            })
        });
        // The worst case: a cleared screen, every cell written to the backend.
        c.bench_function(&format!("{name}, full redraw"), |b| {
            b.iter(|| {
                term.clear().unwrap();
                term.draw(|f| ui::render(&app, f)).unwrap();
            })
        });
    }
}

/// 340 feeds (20 accounts x 17 regions) of 1,000 tasks each, derived and merged.
fn organisation() -> (App, Vec<Deriver>, Vec<Tasks>) {
    let infos: Vec<Arc<FeedInfo>> = (0..340)
        .map(|n| {
            let info = FeedInfo {
                profile: Some(format!("p{}", n / 17)),
                region: Some(format!("region-{}", n % 17)),
                account: Some(format!("{:012}", n / 17)),
                endpoint: None,
            };
            Arc::new(info)
        })
        .collect();
    let mut app = App::new(infos, Duration::from_secs(5), now());
    app.set_table_body(Rect::new(0, 4, 200, 44));
    let mut derivers: Vec<Deriver> = (0..340).map(|_| Deriver::default()).collect();
    let mut all = Vec::new();
    for (n, d) in derivers.iter_mut().enumerate() {
        let s = Scenario::generate(&ScenarioShape::builtin(), 1000, n as u64, now());
        let tasks: Tasks = s
            .tasks
            .iter()
            .map(|t| {
                let st = t.status_at(now());
                StoreTask {
                    ami_id: Some(t.ami_id.as_str().into()),
                    start_time: Some(t.start),
                    bucket: Some(t.bucket.as_str().into()),
                    object_key: Some(t.object_key().into()),
                    progress: Some(st.progress),
                    state: Some(amiwatch::task::TaskState::from_wire(st.state)),
                    failure_reason: (st.state == "Failed").then(|| t.failure_reason.as_str().into()),
                }
            })
            .collect();
        app.apply_feed(n, d.apply(event(tasks.clone())).expect("a snapshot is data"));
        all.push(tasks);
    }
    app.sync();
    (app, derivers, all)
}

fn org_benches(c: &mut Criterion) {
    let (mut app, mut derivers, all) = organisation();
    assert_eq!(app.task_count(), 340_000);
    // Feed 17's fast poll: three of its tasks in progress moved on by a percent.
    // As the poller makes it: the changes merged into the last snapshot, whose other tasks
    // it shares.
    let last = &all[17];
    let moved = |secs: i64| {
        let mut changes: Vec<StoreTask> = all[17].iter().filter(|t| t.is_in_progress()).take(3).cloned().collect();
        for t in &mut changes {
            t.progress = t.progress.map(|p| (p + 1).min(99));
        }
        PollEvent::Snapshot {
            snapshot: Arc::new(Snapshot {
                tasks: amiwatch::ec2::poller::merge(last, changes),
                fetched_at: now() + chrono::Duration::seconds(secs),
                next_token: None,
            }),
            next_in: Duration::from_secs(5),
            slowed: false,
            requests: 2,
        }
    };
    let mut secs = 0;
    c.bench_function("340 feeds: derive one feed's fast poll (worker)", |b| {
        b.iter_batched(
            || {
                secs += 5;
                moved(secs)
            },
            |e| black_box(derivers[17].apply(e)),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("340 feeds: apply one feed's fast poll and merge (event loop)", |b| {
        b.iter_batched(
            || {
                secs += 5;
                derivers[17].apply(moved(secs)).expect("a snapshot is data")
            },
            |e| {
                app.apply_feed(17, e);
                app.sync();
            },
            BatchSize::LargeInput,
        )
    });
    c.bench_function("340 feeds: state filter keystroke", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % 4;
            app.handle(Action::SetState(StateFilter::ALL[i]))
        })
    });
    app.handle(Action::SetState(StateFilter::All));
    app.handle(Action::StartSearch);
    c.bench_function("340 feeds: search keystroke", |b| {
        let mut typed = false;
        b.iter(|| {
            typed = !typed;
            app.handle(if typed { Action::SearchInput('e') } else { Action::SearchBackspace })
        })
    });
    app.handle(Action::SearchClear);
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    c.bench_function("340 feeds: frame 200x50 over 340,000 tasks", |b| {
        b.iter(|| {
            term.draw(|f| ui::render(&app, f)).unwrap();
        })
    });
}

criterion_group! {
    name = dashboard;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = benches, org_benches
}
criterion_main!(dashboard);
