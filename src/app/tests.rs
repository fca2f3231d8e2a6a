use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ratatui::layout::Rect;

use super::*;
use crate::ec2::{ErrorKind, FeedInfo, FetchError, Snapshot};
use crate::task::TaskState;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
}

fn task(n: u32, mins_ago: i64, bucket: &str, state: TaskState, progress: u8) -> StoreTask {
    StoreTask {
        ami_id: Some(format!("ami-{n:08x}").into()),
        start_time: Some(now() - ChronoDuration::minutes(mins_ago)),
        bucket: Some(bucket.into()),
        object_key: Some(format!("ami-{n:08x}.bin").into()),
        progress: Some(progress),
        state: Some(state),
        failure_reason: None,
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

fn sample() -> Vec<StoreTask> {
    vec![
        task(1, 1, "alpha", TaskState::InProgress, 10),
        task(2, 2, "beta", TaskState::Completed, 100),
        task(3, 3, "alpha", TaskState::Failed, 40),
        task(4, 4, "gamma", TaskState::InProgress, 70),
        task(5, 5, "beta", TaskState::Failed, 5),
    ]
}

fn app() -> App {
    let mut a = App::new(Vec::new(), Duration::from_secs(5), now());
    a.set_table_body(Rect::new(0, 5, 80, 3));
    a.apply(0, snapshot(sample()));
    a
}

fn selected_ami(a: &App) -> Option<String> {
    a.selected_task().and_then(|i| a.task(i).ami_id.as_deref().map(str::to_string))
}

fn shown(a: &App) -> Vec<String> {
    a.view.rows.iter().map(|&i| a.task(i).ami_id.as_deref().unwrap().to_string()).collect()
}

#[test]
fn state_keys_filter_and_tab_cycles() {
    let mut a = app();
    a.handle(Action::SetState(StateFilter::Failed));
    assert_eq!(shown(&a), ["ami-00000003", "ami-00000005"]);
    a.handle(Action::CycleState);
    assert_eq!(a.filters.state, StateFilter::All);
    assert_eq!(a.view.rows.len(), 5);
}

#[test]
fn bucket_picker_picks_and_cancels() {
    let mut a = app();
    a.handle(Action::OpenBucketPicker);
    assert_eq!(a.mode, Mode::BucketPicker);
    let entries = a.picker_entries();
    assert_eq!(entries[0], (None, 5));
    assert_eq!(entries[1], (Some("alpha".to_string()), 2));
    a.handle(Action::Move(1));
    a.handle(Action::Confirm);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.filters.bucket.as_deref(), Some("alpha"));
    assert_eq!(shown(&a), ["ami-00000001", "ami-00000003"]);
    // Esc leaves the filter as it was.
    a.handle(Action::OpenBucketPicker);
    assert_eq!(a.picker, 1, "the picker opens on the active bucket");
    a.handle(Action::Move(1));
    a.handle(Action::Back);
    assert_eq!(a.filters.bucket.as_deref(), Some("alpha"));
    // "All buckets" clears it.
    a.handle(Action::OpenBucketPicker);
    a.handle(Action::Top);
    a.handle(Action::Confirm);
    assert_eq!(a.filters.bucket, None);
}

#[test]
fn search_filters_as_you_type_enter_keeps_esc_clears() {
    let mut a = app();
    a.handle(Action::StartSearch);
    for c in "GAM".chars() {
        a.handle(Action::SearchInput(c));
    }
    assert_eq!(shown(&a), ["ami-00000004"], "case-insensitive, live");
    a.handle(Action::SearchKeep);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.view.rows.len(), 1);
    a.handle(Action::StartSearch);
    a.handle(Action::SearchBackspace);
    a.handle(Action::SearchClear);
    assert_eq!(a.view.rows.len(), 5);
    assert!(a.search_input.is_empty());
}

#[test]
fn sort_cycles_and_reverses() {
    let mut a = app();
    a.handle(Action::CycleSort);
    assert_eq!(a.filters.sort, SortKey::Progress);
    assert_eq!(shown(&a)[0], "ami-00000005");
    a.handle(Action::ReverseSort);
    assert_eq!(shown(&a)[0], "ami-00000002");
    assert!(a.sort_label().contains("highest first"));
}

#[test]
fn selection_follows_the_task_across_snapshots_and_filters() {
    let mut a = app();
    a.handle(Action::Move(3));
    assert_eq!(selected_ami(&a).as_deref(), Some("ami-00000004"));
    // A new task arrives on top: the selection stays on the same AMI.
    let mut tasks = sample();
    tasks.insert(0, task(9, 0, "alpha", TaskState::InProgress, 1));
    a.apply(0, snapshot(tasks));
    assert_eq!(selected_ami(&a).as_deref(), Some("ami-00000004"));
    a.handle(Action::SetState(StateFilter::InProgress));
    assert_eq!(selected_ami(&a).as_deref(), Some("ami-00000004"));
    // Filtered away: the selection lands on a row that is shown.
    a.handle(Action::SetState(StateFilter::Failed));
    assert!(selected_ami(&a).is_some());
}

#[test]
fn movement_clamps_pages_and_scrolls() {
    let mut a = app();
    a.handle(Action::Move(-5));
    assert_eq!(a.selected, 0);
    a.handle(Action::Bottom);
    assert_eq!(a.selected, 4);
    assert_eq!(a.offset, 2, "three rows visible: the last one is in view");
    a.handle(Action::Top);
    assert_eq!((a.selected, a.offset), (0, 0));
    a.handle(Action::PageDown);
    assert_eq!(a.selected, 3);
    a.handle(Action::PageUp);
    assert_eq!(a.selected, 0);
}

#[test]
fn click_selects_the_row_under_the_pointer() {
    let mut a = app();
    a.handle(Action::Click(6));
    assert_eq!(a.selected, 1);
    a.handle(Action::Click(2)); // above the table: nothing
    assert_eq!(a.selected, 1);
}

#[test]
fn detail_opens_and_closes() {
    let mut a = app();
    a.handle(Action::Confirm);
    assert!(a.detail_open);
    a.handle(Action::Back);
    assert!(!a.detail_open);
    a.handle(Action::StartSearch);
    a.handle(Action::SearchInput('z'));
    a.handle(Action::SearchKeep);
    a.handle(Action::Confirm);
    assert!(!a.detail_open, "nothing to show");
}

#[test]
fn all_tasks_toggle_shows_every_attempt() {
    let mut a = app();
    let mut tasks = sample();
    tasks.push(task(3, 60, "alpha", TaskState::Failed, 2)); // an earlier attempt of ami 3
    a.apply(0, snapshot(tasks));
    assert_eq!(a.view.rows.len(), 5);
    a.handle(Action::ToggleAllTasks);
    assert_eq!(a.view.rows.len(), 6);
}

#[test]
fn failed_poll_keeps_the_data_and_marks_it_stale() {
    let mut a = app();
    a.apply(0, PollEvent::Polling);
    assert!(a.poll.polling);
    a.apply(
        0,
        PollEvent::Failed {
            error: FetchError::new(ErrorKind::Throttled, "RequestLimitExceeded"),
            at: now(),
            retry_in: Duration::from_secs(10),
            consecutive: 1,
        },
    );
    assert_eq!(a.view.rows.len(), 5);
    assert!(a.is_stale());
    assert!(a.poll.failure.as_ref().unwrap().summary.contains("throttled"));
    a.apply(0, snapshot(sample()));
    assert!(!a.is_stale());
}

#[test]
fn refresh_and_quit_are_effects() {
    let mut a = app();
    assert_eq!(a.handle(Action::Refresh), Some(Effect::Refresh));
    assert_eq!(a.handle(Action::Quit), Some(Effect::Quit));
    a.handle(Action::ToggleHelp);
    assert_eq!(a.mode, Mode::Help);
    a.handle(Action::Back);
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn endings_raise_alerts_by_the_notify_mode_and_a_toast() {
    let mut a = app();
    let mut later = sample();
    later[0].state = Some(TaskState::Failed); // ami 1 was in progress
    later[0].failure_reason = Some("Access Denied".into());
    later[3].state = Some(TaskState::Completed); // ami 4 was in progress
    later[3].progress = Some(100);
    a.apply(0, snapshot(later.clone()));
    assert_eq!(a.alerts.len(), 1, "failures only by default: {:?}", a.alerts);
    assert!(a.alerts[0].failed && a.alerts[0].text.contains("ami-00000001 failed: Access Denied"));
    assert!(a.current_toast().is_some());
    // Already ended: no second alert.
    a.alerts.clear();
    a.apply(0, snapshot(later));
    assert!(a.alerts.is_empty());

    let mut b = app();
    b.handle(Action::CycleNotify);
    assert_eq!(b.notify, NotifyMode::All);
    let mut later = sample();
    later[3].state = Some(TaskState::Completed);
    b.apply(0, snapshot(later));
    assert_eq!(b.alerts.len(), 1);
    assert!(b.alerts[0].text.contains("completed (s3://gamma/ami-00000004.bin)"));

    let mut c = app();
    c.handle(Action::CycleNotify);
    c.handle(Action::CycleNotify);
    assert_eq!(c.notify, NotifyMode::Off);
    let mut later = sample();
    later[0].state = Some(TaskState::Failed);
    c.apply(0, snapshot(later));
    assert!(c.alerts.is_empty());
    assert!(c.current_toast().is_some(), "the toast still says what happened");
}

#[test]
fn copy_and_export_are_effects_with_the_data() {
    let mut a = app();
    assert_eq!(a.handle(Action::CopyUri), Some(Effect::Copy("s3://alpha/ami-00000001.bin".into())));
    assert!(a.current_toast().unwrap().contains("copied"));
    a.handle(Action::SetState(StateFilter::Failed));
    match a.handle(Action::Export(crate::output::Format::Csv)) {
        Some(Effect::Export(_, tasks)) => assert_eq!(tasks.len(), 2, "the current view, not every task"),
        other => panic!("{other:?}"),
    }
    let mut t = a.current_toast().map(str::to_string);
    a.now += ChronoDuration::seconds(TOAST_SECS + 1);
    t = t.and(a.current_toast().map(str::to_string));
    assert_eq!(t, None, "toasts fade");
}

fn feed(profile: &str, region: &str) -> Arc<FeedInfo> {
    Arc::new(FeedInfo { profile: Some(profile.into()), region: Some(region.into()), ..FeedInfo::default() })
}

fn two_feeds() -> App {
    let mut a = App::new(vec![feed("prod", "us-east-1"), feed("dev", "eu-west-1")], Duration::from_secs(5), now());
    a.set_table_body(Rect::new(0, 5, 80, 10));
    a
}

fn west() -> Vec<StoreTask> {
    let mut west = sample();
    for t in &mut west {
        t.ami_id = t.ami_id.as_ref().map(|id| id.replace("ami-0", "ami-9").into());
    }
    west
}

fn failed(kind: ErrorKind) -> PollEvent {
    PollEvent::Failed { error: FetchError::new(kind, "x"), at: now(), retry_in: Duration::from_secs(5), consecutive: 1 }
}

#[test]
fn several_feeds_side_by_side_and_a_failing_feed_hides_nothing() {
    let mut a = two_feeds();
    a.apply(0, snapshot(sample()));
    a.apply(1, snapshot(west()));
    assert!(a.multi_feed());
    assert_eq!(a.view.rows.len(), 10);
    let first = a.feeds[0].data.clone().unwrap();
    a.apply(1, failed(ErrorKind::ExpiredCredentials));
    assert_eq!(a.view.rows.len(), 10, "dev keeps its last data, prod all of its own");
    let f = a.poll.failure.clone().unwrap();
    assert!(f.summary.starts_with("dev · eu-west-1: AWS credentials have expired"), "{}", f.summary);
    // prod updates while dev fails: both still shown, the failure still told.
    a.apply(0, snapshot(sample()));
    assert_eq!(a.view.rows.len(), 10);
    assert!(a.poll.failure.is_some());
    assert!(!Arc::ptr_eq(&first, a.feeds[0].data.as_ref().unwrap()), "prod's own data replaced");

    a.handle(Action::OpenFeedPicker);
    assert_eq!(a.mode, Mode::FeedPicker);
    let rows = a.pane_rows();
    assert_eq!(rows.iter().map(|r| (r.feed, r.tasks)).collect::<Vec<_>>(), [(0, 5), (1, 5)]);
    assert_eq!(rows[1].error.as_deref().map(|e| e.starts_with("AWS credentials have expired")), Some(true));
    assert_eq!(a.feed_names[1].fit(40), "dev eu-west-1", "profile and region both differ: both named");
    a.handle(Action::Move(2));
    a.handle(Action::Confirm);
    assert_eq!(a.filters.feed, Some(1));
    assert!(a.view.rows.iter().all(|&i| i.feed() == 1));
    a.apply(1, snapshot(west()));
    assert!(a.poll.failure.is_none(), "recovered");
}

#[test]
fn rows_point_into_the_feeds_snapshots_without_copies() {
    let mut a = two_feeds();
    a.apply(0, snapshot(sample()));
    a.apply(1, snapshot(west()));
    for &i in &a.view.rows {
        let snapshot = &a.feeds[i.feed()].data.as_ref().unwrap().snapshot;
        assert!(std::ptr::eq(a.task(i), &snapshot.tasks[i.task as usize]));
    }
}

#[test]
fn a_failing_feed_does_not_freeze_the_others_estimates() {
    let mut a = two_feeds();
    let at = |mins: i64, progress: u8| {
        let mut t = sample();
        t[0].progress = Some(progress);
        PollEvent::Snapshot {
            snapshot: Arc::new(Snapshot {
                tasks: t.into(),
                fetched_at: now() + ChronoDuration::minutes(mins),
                next_token: None,
            }),
            next_in: Duration::from_secs(5),
            slowed: false,
            requests: 1,
        }
    };
    a.apply(0, at(0, 10));
    a.apply(1, snapshot(west()));
    a.apply(1, failed(ErrorKind::Throttled));
    // prod's task gains 1% a minute while dev keeps failing.
    for m in 1..=5 {
        a.apply(0, at(m, 10 + m as u8));
        a.apply(1, failed(ErrorKind::Throttled));
    }
    let i = a.view.rows.iter().copied().find(|&i| a.task(i).progress == Some(15)).unwrap();
    let e = a.estimate(i).unwrap();
    assert!(e.observed && (e.rate_per_min - 1.0).abs() < 0.05, "{e:?}");
    assert_eq!(a.data(i).history.samples(a.task(i)).len(), 6, "sampled at prod's own fetch times");
}

#[test]
fn one_feed_has_no_feed_picker() {
    let mut a = app();
    a.handle(Action::OpenFeedPicker);
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.current_toast().unwrap().contains("--profile"));
}

#[test]
fn an_ending_does_not_cover_the_answer_to_what_the_user_just_did() {
    let mut a = app();
    a.handle(Action::CopyUri);
    let mut later = sample();
    later[0].state = Some(TaskState::Failed);
    a.apply(0, snapshot(later));
    assert_eq!(a.current_toast(), Some("copied s3://alpha/ami-00000001.bin"));
    assert_eq!(a.alerts.len(), 1, "the ending still rings and notifies");
    // Once the user's toast has had its time, endings show again.
    a.now += ChronoDuration::seconds(TOAST_SECS);
    let mut again = sample();
    again[0].state = Some(TaskState::Failed);
    again[3].state = Some(TaskState::Failed);
    a.apply(0, snapshot(again));
    assert!(a.current_toast().unwrap().contains("ami-00000004 failed"), "{:?}", a.current_toast());
}

#[test]
fn sizes_sort_and_search_and_the_quota_counts_what_is_in_progress() {
    use crate::image::{AmiInfo, Naming, Volume};
    let mut a = App::new(Vec::new(), Duration::from_secs(5), chrono::Utc::now());
    let t = |n: u32, state: TaskState| StoreTask {
        ami_id: Some(format!("ami-{n:08x}").into()),
        start_time: Some(chrono::Utc::now() - chrono::Duration::minutes(i64::from(n))),
        bucket: Some("b".into()),
        object_key: None,
        progress: Some(10),
        state: Some(state),
        failure_reason: None,
    };
    let tasks = vec![
        t(1, TaskState::InProgress),
        t(2, TaskState::InProgress),
        t(3, TaskState::Completed),
        t(4, TaskState::InProgress),
    ];
    let snapshot = Arc::new(Snapshot { tasks: tasks.into(), fetched_at: chrono::Utc::now(), next_token: None });
    a.apply(0, PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 });
    assert_eq!(a.in_flight_header(), None, "no sizes before names");
    let info = |n: u32, sizes: &[i32]| {
        let volumes = sizes.iter().map(|&s| Volume { device: None, snapshot: None, size_gib: Some(s) }).collect();
        Arc::new(AmiInfo { id: format!("ami-{n:08x}").into(), volumes, ..AmiInfo::default() })
    };
    // ami 4 is deregistered: its size is unknown.
    let found = vec![info(1, &[8, 500]), info(2, &[30]), info(3, &[1000])];
    a.apply(0, PollEvent::Names { found, missing: vec!["ami-00000004".into()] });
    assert_eq!(a.in_flight_header(), Some(("538+ of 600 GB in flight".to_string(), false)));
    a.store_quota = 538;
    assert_eq!(a.in_flight_header(), Some(("538+ of 538 GB in flight".to_string(), true)));
    while a.filters.sort != SortKey::Size {
        a.handle(Action::CycleSort);
    }
    let order: Vec<Option<String>> =
        a.view.rows.iter().map(|&r| a.task(r).ami_id.as_deref().map(str::to_string)).collect();
    let id = |n: u32| Some(format!("ami-{n:08x}"));
    assert_eq!(order, [id(2), id(1), id(3), id(4)], "smallest first, unknown last");
    assert_eq!(a.sort_label(), "size (smallest first)");
    a.handle(Action::StartSearch);
    for c in "1000".chars() {
        a.handle(Action::SearchInput(c));
    }
    let found: Vec<Option<String>> =
        a.view.rows.iter().map(|&r| a.task(r).ami_id.as_deref().map(str::to_string)).collect();
    assert_eq!(found, [id(3)], "the size is searchable");
    assert!(matches!(a.naming(a.view.rows[0]), Some(Naming::Known(_))));
}

/// Issue 22 item 5: "all done" is the latest estimate among the tasks in progress that the
/// bucket and search filters keep; the state tab does not change it, and a hidden task without
/// an estimate does not remove it.
#[test]
fn all_done_follows_the_filters() {
    let mut tasks = sample();
    // In progress at 0%: no estimate, in its own bucket.
    tasks.push(task(6, 6, "delta", TaskState::InProgress, 0));
    let mut a = App::new(Vec::new(), Duration::from_secs(5), now());
    a.set_table_body(Rect::new(0, 5, 80, 3));
    a.apply(0, snapshot(tasks));
    assert_eq!(a.view.all_done_at, None, "a task in progress without an estimate: unknown");
    let search = |a: &mut App, text: &str| {
        a.handle(Action::StartSearch);
        for c in text.chars() {
            a.handle(Action::SearchInput(c));
        }
        a.handle(Action::SearchKeep);
    };
    // alpha: task 1, 10% in 1 minute: 9 minutes left.
    search(&mut a, "alpha");
    assert_eq!(a.view.all_done_at, Some(now() + ChronoDuration::minutes(9)));
    assert_eq!(a.view.counts.overall_progress, Some(10));
    a.handle(Action::SetState(StateFilter::Failed));
    assert_eq!(a.view.all_done_at, Some(now() + ChronoDuration::minutes(9)), "the state tab leaves it alone");
    a.handle(Action::SetState(StateFilter::All));
    // gamma: task 4, 70% in 4 minutes: 30% at 17.5%/min is 1m42.857s.
    a.handle(Action::StartSearch);
    a.handle(Action::SearchClear);
    search(&mut a, "gamma");
    let left = a.view.all_done_at.map(|d| (d - now()).num_milliseconds());
    assert!(left.is_some_and(|ms| (ms - 102_857).abs() < 10), "{left:?}");
    // Both by the bucket picker: alpha only.
    a.handle(Action::StartSearch);
    a.handle(Action::SearchClear);
    a.filters.bucket = Some("alpha".into());
    a.sync();
    assert_eq!(a.view.all_done_at, Some(now() + ChronoDuration::minutes(9)));
}

/// Issue 22 item 10: ties keep newest first whichever way a sort goes, and names sort without
/// regard to case.
#[test]
fn sort_ties_stay_newest_first_both_ways_and_names_ignore_case() {
    let mut tasks = sample();
    tasks.push(task(6, 6, "beta", TaskState::Completed, 100));
    tasks.push(task(7, 7, "beta", TaskState::Completed, 100));
    let mut a = App::new(Vec::new(), Duration::from_secs(5), now());
    a.set_table_body(Rect::new(0, 5, 80, 3));
    a.apply(0, snapshot(tasks));
    a.filters.sort = SortKey::Progress;
    a.sync();
    let hundreds = |a: &App| {
        a.view
            .rows
            .iter()
            .filter(|&&i| a.task(i).progress == Some(100))
            .map(|&i| a.task(i).ami_id.as_deref().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(hundreds(&a), ["ami-00000002", "ami-00000006", "ami-00000007"], "newest first");
    a.handle(Action::ReverseSort);
    assert!(a.filters.reverse);
    assert_eq!(shown(&a)[..3], ["ami-00000002", "ami-00000006", "ami-00000007"], "100% first, still newest first");

    let names = ["beta-image", "Alpha-image", "alpha-2", "Zulu", "gamma"];
    let found = (1..=5u32)
        .map(|n| {
            Arc::new(crate::image::AmiInfo {
                id: format!("ami-{n:08x}").into(),
                name: Some(names[n as usize - 1].into()),
                ..crate::image::AmiInfo::default()
            })
        })
        .collect();
    a.apply(0, PollEvent::Names { found, missing: Vec::new() });
    a.filters.sort = SortKey::Name;
    a.filters.reverse = false;
    a.sync();
    let by_name: Vec<String> = a
        .view
        .rows
        .iter()
        .filter_map(|&i| a.naming(i).and_then(crate::image::Naming::name).map(str::to_string))
        .collect();
    assert_eq!(by_name, ["alpha-2", "Alpha-image", "beta-image", "gamma", "Zulu"]);
}
