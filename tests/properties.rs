//! Property tests: arbitrary task sets, field values, key sequences and screen sizes never
//! make filtering, sorting, grouping or drawing panic, and the view keeps its invariants.

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::view::{SortKey, StateFilter};
use amiwatch::app::{Action, App, Deriver, FeedEvent, Mode};
use amiwatch::ec2::{FeedInfo, PollEvent, Snapshot};
use amiwatch::image::{AmiInfo, Naming};
use amiwatch::output::{self, Format};
use amiwatch::task::{StoreTask, TaskState};
use amiwatch::ui;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,20}",
        "\\PC{0,30}",
        Just("evil\u{1b}[2J\u{202e}\u{7}\r\n".to_string()),
        Just("日本語のバケット名".to_string()),
    ]
}

fn state() -> impl Strategy<Value = Option<TaskState>> {
    prop_oneof![
        Just(None),
        Just(Some(TaskState::InProgress)),
        Just(Some(TaskState::Completed)),
        Just(Some(TaskState::Failed)),
        "[A-Za-z]{1,12}".prop_map(|s| Some(TaskState::from_wire(&s))),
    ]
}

fn task() -> impl Strategy<Value = StoreTask> {
    (
        proptest::option::of(0u8..12),
        proptest::option::of(-40_000_000i64..100_000),
        proptest::option::of(prop_oneof![Just("alpha".to_string()), Just("beta".to_string()), text()]),
        proptest::option::of(text()),
        proptest::option::of(0u8..=100),
        state(),
        proptest::option::of(text()),
    )
        .prop_map(|(ami, secs, bucket, key, progress, state, reason)| StoreTask {
            ami_id: ami.map(|n| format!("ami-{n:08x}").into()),
            start_time: secs.map(|s| now() - chrono::Duration::seconds(s)),
            bucket: bucket.map(Into::into),
            object_key: key.map(Into::into),
            progress,
            state,
            failure_reason: reason.map(Into::into),
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0usize..4).prop_map(|i| Action::SetState(StateFilter::ALL[i])),
        Just(Action::CycleState),
        Just(Action::OpenBucketPicker),
        Just(Action::OpenFeedPicker),
        Just(Action::StartSearch),
        proptest::char::any().prop_map(Action::SearchInput),
        Just(Action::SearchBackspace),
        Just(Action::SearchKeep),
        Just(Action::SearchClear),
        Just(Action::CycleSort),
        Just(Action::ReverseSort),
        (-50i64..50).prop_map(Action::Move),
        Just(Action::PageUp),
        Just(Action::PageDown),
        Just(Action::Top),
        Just(Action::Bottom),
        Just(Action::Confirm),
        Just(Action::Back),
        Just(Action::ToggleAllTasks),
        Just(Action::ToggleHelp),
        (0u16..80).prop_map(Action::Click),
    ]
}

/// A feed's poller event: a snapshot taken some seconds on, or names for some AMIs.
fn feed_event() -> impl Strategy<Value = (usize, PollEvent)> {
    let snap = (proptest::collection::vec(task(), 0..100), 0i64..600).prop_map(|(tasks, secs)| PollEvent::Snapshot {
        snapshot: Arc::new(Snapshot {
            tasks: tasks.into(),
            fetched_at: now() + chrono::Duration::seconds(secs),
            next_token: None,
        }),
        next_in: Duration::from_secs(5),
        slowed: false,
        requests: 1,
    });
    let names = proptest::collection::vec((0u8..12, proptest::option::of("[A-Za-z ]{0,8}")), 0..8).prop_map(|v| {
        let (found, missing): (Vec<_>, Vec<_>) = v.into_iter().partition(|(n, _)| n % 3 != 0);
        PollEvent::Names {
            found: found
                .into_iter()
                .map(|(n, name)| Arc::new(AmiInfo { id: format!("ami-{n:08x}").into(), name, ..AmiInfo::default() }))
                .collect(),
            missing: missing.into_iter().map(|(n, _)| format!("ami-{n:08x}")).collect(),
        }
    });
    (0usize..8, prop_oneof![3 => snap, 1 => names])
}

/// A fast poll of a feed: its last snapshot's tasks, the same ones, with these tasks given
/// these progresses and states (the rest as they were, sharing their runs with the last
/// snapshot as the poller's merge does), `secs` later.
#[derive(Debug, Clone)]
struct Moved {
    feed: usize,
    moves: Vec<(usize, u8, u8)>,
    secs: i64,
}

fn moved() -> impl Strategy<Value = Moved> {
    (0usize..8, proptest::collection::vec((0usize..100, 0u8..=100, 0u8..4), 0..8), 1i64..60)
        .prop_map(|(feed, moves, secs)| Moved { feed, moves, secs })
}

impl Moved {
    /// The poll event, when the feed has data to move on from.
    fn event(&self, last: Option<&Snapshot>) -> Option<PollEvent> {
        let last = last?;
        let mut tasks = last.tasks.clone();
        for &(i, p, s) in &self.moves {
            let Some(t) = tasks.get(i) else { continue };
            let state = [None, Some(TaskState::InProgress), Some(TaskState::Completed), Some(TaskState::Failed)]
                [usize::from(s)]
            .clone();
            tasks.set(i, StoreTask { progress: Some(p), state, ..t.clone() });
        }
        let fetched_at = last.fetched_at + chrono::Duration::seconds(self.secs);
        Some(PollEvent::Snapshot {
            snapshot: Arc::new(Snapshot { tasks, fetched_at, next_token: None }),
            next_in: Duration::from_secs(5),
            slowed: false,
            requests: 1,
        })
    }
}

fn snapshot(tasks: Vec<StoreTask>) -> PollEvent {
    PollEvent::Snapshot {
        snapshot: Arc::new(Snapshot { tasks: tasks.into(), fetched_at: now(), next_token: None }),
        next_in: Duration::from_secs(5),
        slowed: false,
        requests: 1,
    }
}

fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.set_table_body(ui::layout(Rect::new(0, 0, w, h), app).table_body());
    term.draw(|f| ui::render(app, f)).unwrap();
    term.backend().to_string()
}

fn check_invariants(app: &App) {
    if app.view.rows.is_empty() {
        assert_eq!(app.selected, 0);
    } else {
        assert!(app.selected < app.view.rows.len());
        assert!(app.offset <= app.selected);
    }
    if let Some(f) = app.filters.feed {
        assert!(app.view.rows.iter().all(|&i| i.feed() == f));
    }
    for &i in &app.view.rows {
        let t = app.task(i);
        assert!(app.filters.state.matches(t));
        if let Some(b) = &app.filters.bucket {
            assert_eq!(t.bucket.as_deref(), Some(b.as_str()));
        }
    }
    let c = app.view.counts;
    assert_eq!(c.of(app.filters.state), app.view.rows.len(), "the active tab counts what is shown");
    assert!(c.in_progress + c.completed + c.failed <= c.all);
    if app.filters.sort == SortKey::Started && !app.filters.reverse {
        let starts: Vec<_> = app.view.rows.iter().map(|&i| app.task(i).start_time).collect();
        assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_tasks_any_keys_any_size_never_panic(
        tasks in proptest::collection::vec(task(), 0..60),
        later in proptest::collection::vec(task(), 0..30),
        actions in proptest::collection::vec(action(), 0..40),
        sizes in proptest::collection::vec((1u16..220, 1u16..70), 1..4),
        n_feeds in prop_oneof![Just(1usize), Just(3usize)],
    ) {
        // One feed or three: the same path.
        let feeds: Vec<Arc<FeedInfo>> = (0..n_feeds)
            .map(|n| Arc::new(FeedInfo { profile: Some(format!("p{n}")), region: Some("r-1".into()), ..FeedInfo::default() }))
            .collect();
        let mut app = App::new(feeds, Duration::from_secs(5), now());
        app.color = false;
        app.apply(0, snapshot(tasks.clone()));
        app.apply(n_feeds - 1, snapshot(later.clone()));
        for (n, a) in actions.into_iter().enumerate() {
            app.handle(a);
            check_invariants(&app);
            if n == 10 {
                app.apply(n % n_feeds, snapshot(later.clone()));
                check_invariants(&app);
            }
        }
        for (w, h) in sizes {
            let screen = draw(&mut app, w, h);
            prop_assert!(!screen.contains('\u{1b}'), "{}", "no raw escape reaches the screen");
            check_invariants(&app);
        }
        if app.mode == Mode::Search {
            app.handle(Action::SearchClear);
        }
        check_invariants(&app);
    }

    /// The dashboard's path: events derived per feed, applied in batches, the view merged once
    /// per batch and per key. After any sequence, the view equals one made from scratch of the
    /// feeds' final data with the same filters: rows, order, counts and time all done.
    #[test]
    fn the_merged_view_equals_a_build_from_scratch(
        n_feeds in 1usize..5,
        events in proptest::collection::vec(prop_oneof![2 => feed_event().prop_map(Ok), 1 => moved().prop_map(Err)], 1..24),
        actions in proptest::collection::vec(action(), 0..24),
        batch in 1usize..4,
    ) {
        let feeds: Vec<Arc<FeedInfo>> = (0..n_feeds)
            .map(|n| Arc::new(FeedInfo { profile: Some(format!("p{n}")), region: Some("r-1".into()), ..FeedInfo::default() }))
            .collect();
        let mut app = App::new(feeds.clone(), Duration::from_secs(5), now());
        let mut derivers: Vec<Deriver> = (0..n_feeds).map(|_| Deriver::default()).collect();
        let mut actions = actions.into_iter();
        // Events taken in one by one, derived in batches (as the dashboard's worker does).
        let flush = |app: &mut App, derivers: &mut Vec<Deriver>| {
            for (f, d) in derivers.iter_mut().enumerate() {
                if let Some(e) = d.flush() {
                    app.apply_feed(f, e);
                }
            }
        };
        for (n, event) in events.into_iter().enumerate() {
            // A fast poll moves on from the feed's last snapshot: the same tasks, moved.
            let (f, event) = match event {
                Ok((feed, event)) => (feed % n_feeds, Some(event)),
                Err(m) => (m.feed % n_feeds, m.event(app.feeds[m.feed % n_feeds].data.as_ref().map(|d| &*d.snapshot))),
            };
            if let Some(status) = event.and_then(|e| derivers[f].take(e)) {
                app.apply_feed(f, status);
            }
            if n % batch == 0 {
                flush(&mut app, &mut derivers);
                app.sync();
                if let Some(a) = actions.next() {
                    app.handle(a);
                }
            }
        }
        flush(&mut app, &mut derivers);
        app.sync();
        let mut fresh = App::new(feeds, Duration::from_secs(5), now());
        for (f, feed) in app.feeds.iter().enumerate() {
            if let Some(data) = &feed.data {
                fresh.apply_feed(f, FeedEvent::Data { data: data.clone(), polled: None, ended: Vec::new() });
            }
        }
        fresh.filters = app.filters.clone();
        fresh.sync();
        prop_assert_eq!(&app.view.rows, &fresh.view.rows);
        prop_assert_eq!(app.view.counts, fresh.view.counts);
        prop_assert_eq!(app.view.all_done_at, fresh.view.all_done_at);
        check_invariants(&app);
    }

    #[test]
    fn one_shot_output_never_panics_and_json_round_trips(tasks in proptest::collection::vec(task(), 0..40), width in proptest::option::of(1usize..200)) {
        for format in [Format::Table, Format::Csv, Format::Json] {
            let feed = FeedInfo { profile: Some("p".into()), region: Some("r-1".into()), ..FeedInfo::default() };
            let named = Naming::Deregistered;
            let rows: Vec<output::Row<'_>> =
                tasks.iter().enumerate().map(|(n, t)| output::Row { feed: &feed, task: t, naming: (n % 2 == 0).then_some(&named) }).collect();
            let mut buf = Vec::new();
            output::write(&mut buf, format, &rows, Some("tok"), width, output::Extra { feed: true, name: true }).unwrap();
            let s = String::from_utf8(buf).unwrap();
            if format != Format::Json {
                prop_assert!(!s.contains('\u{1b}'), "an escape in {:?} output", format);
            } else {
                let v: serde_json::Value = serde_json::from_str(&s).unwrap();
                prop_assert_eq!(v["StoreImageTaskResults"].as_array().unwrap().len(), tasks.len());
                for (t, j) in tasks.iter().zip(v["StoreImageTaskResults"].as_array().unwrap()) {
                    prop_assert_eq!(j.get("Bucket").and_then(|b| b.as_str()), t.bucket.as_deref());
                    prop_assert_eq!(j.get("StoreTaskFailureReason").and_then(|b| b.as_str()), t.failure_reason.as_deref());
                }
            }
        }
    }
}

/// Every parser of user input or server data is total: any string gives a value or a message.
mod parsers {
    use amiwatch::cli::Cli;
    use amiwatch::ec2::client::xml_is_complete;
    use amiwatch::sim::protocol::{DescribeRequest, Params};
    use amiwatch::task::{StoreTask, TaskState, is_ami_id, is_bucket_name};
    use aws_sdk_ec2::types::StoreImageTaskResult;
    use clap::Parser;
    use proptest::prelude::*;

    /// Arbitrary text, and the shapes that broke parsers before: huge numbers, signs, units.
    fn input() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            "[0-9]{1,25}(ms|s|m|h|d)?",
            "-?[0-9]{1,20}(\\.[0-9]{1,5})?(ms|s|m|h|d){0,3}",
            "((https?|ftp)://)?[a-z0-9.:\\[\\]@/?-]{0,30}",
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn flags_never_panic_and_refusals_are_one_line(s in input()) {
            for flag in ["--interval", "--timeout", "--request-timeout", "--max-time", "--endpoint-url", "--region",
                         "--profile", "--bucket", "--state", "--image-id", "--page-size", "--max-items"] {
                match Cli::try_parse_from(["amiwatch", flag, s.as_str()]) {
                    Ok(cli) => {
                        prop_assert!(cli.interval >= std::time::Duration::from_secs(1));
                        prop_assert!(cli.aws.request_timeout >= std::time::Duration::from_secs(1));
                        prop_assert!(cli.timeout.is_none_or(|t| t <= amiwatch::cli::MAX_DURATION));
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        prop_assert!(!msg.contains('\u{1b}'), "{}", "a refusal shows no raw escape");
                    }
                }
            }
            let _ = (TaskState::from_user(&s), TaskState::from_wire(&s), is_ami_id(&s), is_bucket_name(&s));
            let _ = xml_is_complete(s.as_bytes());
        }

        #[test]
        fn the_endpoints_request_parser_is_total(body in input(), extra in "[A-Za-z.0-9]{0,12}=\\PC{0,12}") {
            for b in [body.clone(), format!("Action=DescribeStoreImageTasks&{extra}&{body}")] {
                let p = Params::parse(b.as_bytes());
                let _ = (p.action(), p.dry_run(), DescribeRequest::from_params(&p).is_ok());
            }
        }

        #[test]
        fn any_task_the_server_sends_converts(ami in proptest::option::of(input()), progress in proptest::option::of(any::<i32>()),
                                              state in proptest::option::of(input()), secs in proptest::option::of(any::<i64>())) {
            let mut b = StoreImageTaskResult::builder().set_ami_id(ami).set_progress_percentage(progress).set_store_task_state(state);
            if let Some(s) = secs {
                b = b.task_start_time(aws_sdk_ec2::primitives::DateTime::from_secs(s));
            }
            let t = StoreTask::from_sdk(&b.build());
            prop_assert!(t.progress.is_none_or(|p| p <= 100));
            let _ = (t.valid_s3_uri(), t.key());
        }
    }
}

/// The poller's merge, against a model of the service: any sequence of exports that start,
/// progress and end, sweeps, fast polls and failed polls. After a sweep the snapshot is the
/// service's list exactly; after a fast poll every task that is or was in progress is as the
/// service has it, and the snapshot never loses a task.
mod merge {
    use std::collections::{HashMap, HashSet};

    use amiwatch::ec2::Fetched;
    use amiwatch::ec2::poller::{Ask, Cadence, Schedule};
    use amiwatch::task::{StoreTask, TaskKey, TaskState};
    use chrono::{DateTime, Duration, Utc};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Start(u8),
        Progress(usize, u8),
        End(usize, bool),
        Sweep,
        Fast,
        FailedPoll,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..6).prop_map(Step::Start),
            (0usize..40, 1u8..30).prop_map(|(i, d)| Step::Progress(i, d)),
            (0usize..40, any::<bool>()).prop_map(|(i, f)| Step::End(i, f)),
            Just(Step::Sweep),
            Just(Step::Fast),
            Just(Step::Fast),
            Just(Step::FailedPoll),
        ]
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    /// The service's list, newest first, as a listing returns it.
    fn listing(server: &[StoreTask]) -> Vec<StoreTask> {
        let mut v = server.to_vec();
        v.sort_by_key(|t| std::cmp::Reverse(t.start_time));
        v
    }

    /// What a fast poll returns, as `fetch_changes` asks the service: the tasks in progress,
    /// the latest task of each AMI that was in progress and is not listed, and a full listing
    /// when a task that was in progress can be seen neither way.
    fn changes(server: &[StoreTask], running: &[TaskKey]) -> Fetched {
        let all = listing(server);
        let mut out: Vec<StoreTask> = all.iter().filter(|t| t.is_in_progress()).cloned().collect();
        let listed: HashSet<std::sync::Arc<str>> = out.iter().filter_map(|t| t.ami_id.clone()).collect();
        let amis: HashSet<&std::sync::Arc<str>> = running.iter().filter_map(|k| k.ami_id.as_ref()).collect();
        for ami in amis.into_iter().filter(|a| !listed.contains(*a)) {
            if let Some(t) = all.iter().find(|t| t.ami_id.as_ref() == Some(ami)) {
                out.push(t.clone());
            }
        }
        let seen: HashSet<TaskKey> = out.iter().map(StoreTask::key).collect();
        if running.iter().any(|k| !seen.contains(k)) {
            return Fetched { tasks: all, complete: true, ..Fetched::default() };
        }
        Fetched { tasks: out, ..Fetched::default() }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn any_sequence_keeps_the_snapshot_complete_and_exact_where_it_must_be(steps in proptest::collection::vec(step(), 1..80)) {
            let mut server: Vec<StoreTask> = Vec::new();
            let mut clock = 0i64;
            let mut cadence = Cadence::new(Schedule { sweep_interval: std::time::Duration::from_secs(3600), ..Schedule::default() });
            let mut ever_running: HashSet<TaskKey> = HashSet::new();
            let mut last_len = 0;
            for s in steps {
                clock += 1;
                match s {
                    Step::Start(ami) => {
                        // One export at a time per AMI, as the service allows.
                        let id = format!("ami-{ami:08x}");
                        if !server.iter().any(|t| t.ami_id.as_deref() == Some(id.as_str()) && t.is_in_progress()) {
                            server.push(StoreTask {
                                ami_id: Some(id.into()),
                                start_time: Some(t0() + Duration::seconds(clock)),
                                progress: Some(0),
                                state: Some(TaskState::InProgress),
                                ..StoreTask::default()
                            });
                        }
                    }
                    Step::Progress(i, d) => {
                        if let Some(t) = server.iter_mut().filter(|t| t.is_in_progress()).nth(i) {
                            t.progress = Some(t.progress.unwrap_or(0).saturating_add(d).min(99));
                        }
                    }
                    Step::End(i, failed) => {
                        if let Some(t) = server.iter_mut().filter(|t| t.is_in_progress()).nth(i) {
                            t.state = Some(if failed { TaskState::Failed } else { TaskState::Completed });
                        }
                    }
                    Step::FailedPoll => {} // nothing is taken: the last snapshot stands
                    Step::Sweep | Step::Fast => {
                        if matches!(s, Step::Sweep) {
                            cadence.sweep_next();
                        }
                        let ask = cadence.ask();
                        let fetched = match &ask {
                            Ask::Sweep => Fetched { tasks: listing(&server), complete: true, ..Fetched::default() },
                            Ask::Changes { running, .. } => changes(&server, running),
                        };
                        let (snap, _, _) = cadence.take(&ask, fetched);
                        let want = listing(&server);
                        ever_running.extend(want.iter().filter(|t| t.is_in_progress()).map(StoreTask::key));
                        match ask {
                            Ask::Sweep => prop_assert_eq!(&snap.tasks.to_vec(), &want),
                            Ask::Changes { .. } => {
                                let got: HashMap<TaskKey, &StoreTask> = snap.tasks.iter().map(|t| (t.key(), t)).collect();
                                let want_by: HashMap<TaskKey, &StoreTask> = want.iter().map(|t| (t.key(), t)).collect();
                                for k in &ever_running {
                                    prop_assert_eq!(got.get(k), want_by.get(k), "a task that is or was in progress");
                                }
                                prop_assert!(snap.tasks.len() >= last_len, "a fast poll never loses a task");
                                prop_assert!(snap.tasks.to_vec().windows(2).all(|w| w[0].start_time >= w[1].start_time), "newest first");
                            }
                        }
                        last_len = snap.tasks.len();
                    }
                }
            }
        }
    }
}
