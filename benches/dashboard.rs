//! Criterion benches of the dashboard's hot paths over a 10,000-task snapshot: converting SDK
//! results, merging a snapshot into the app state, a filter or search keystroke, and one frame.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::view::StateFilter;
use amiwatch::app::{Action, App};
use amiwatch::ec2::{PollEvent, Snapshot};
use amiwatch::sim::scenario::{Scenario, ScenarioShape};
use amiwatch::task::StoreTask;
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

fn event(tasks: Vec<StoreTask>) -> PollEvent {
    PollEvent::Snapshot {
        snapshot: Arc::new(Snapshot { tasks, fetched_at: now(), next_token: None }),
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

criterion_group! {
    name = dashboard;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(dashboard);
