//! Whole-screen snapshots of the dashboard on ratatui's TestBackend. The clock is fixed, so
//! relative times are part of the snapshot; colours are off, so the text is what is compared.

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::view::StateFilter;
use amiwatch::app::{Action, App, Mode};
use amiwatch::ec2::{ErrorKind, FeedInfo, FetchError, PollEvent, Snapshot};
use amiwatch::task::{StoreTask, TaskState};
use amiwatch::ui;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn feed(profile: &str, region: &str, endpoint: Option<&str>) -> Arc<FeedInfo> {
    Arc::new(FeedInfo {
        profile: Some(profile.into()),
        region: Some(region.into()),
        account: None,
        endpoint: endpoint.map(str::to_string),
    })
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
}

fn task(n: u32, mins_ago: i64, bucket: &str, state: TaskState, progress: u8, reason: Option<&str>) -> StoreTask {
    StoreTask {
        ami_id: Some(format!("ami-0{n:016x}").into()),
        start_time: Some(now() - ChronoDuration::minutes(mins_ago)),
        bucket: Some(bucket.into()),
        object_key: Some(format!("ami-0{n:016x}.bin").into()),
        progress: Some(progress),
        state: Some(state),
        failure_reason: reason.map(Into::into),
    }
}

fn tasks() -> Vec<StoreTask> {
    use TaskState::*;
    vec![
        task(0xa1, 2, "acme-ami-archive", InProgress, 7, None),
        task(0xa2, 14, "golden-images-prod", InProgress, 38, None),
        task(0xa3, 95, "acme-ami-archive", InProgress, 83, None),
        task(0xa4, 180, "acme-dr-us-east-1", Completed, 100, None),
        task(
            0xa5,
            300,
            "golden-images-prod",
            Failed,
            41,
            Some("Access Denied: the bucket policy does not allow the EC2 service principal to write objects."),
        ),
        task(0xa6, 1500, "ci-build-artifacts", Completed, 100, None),
        task(0xa5, 4000, "golden-images-prod", Failed, 12, Some("The specified bucket does not exist.")),
        task(0xa7, 9000, "acme-dr-us-east-1", Failed, 66, Some("The S3 bucket is in a different Region than the AMI.")),
        task(0xa8, 20000, "acme-ami-archive", Completed, 100, None),
    ]
}

fn snapshot_event(tasks: Vec<StoreTask>) -> PollEvent {
    PollEvent::Snapshot {
        snapshot: Arc::new(Snapshot {
            tasks: tasks.into(),
            fetched_at: now() - ChronoDuration::seconds(3),
            next_token: None,
        }),
        next_in: Duration::from_secs(5),
        slowed: false,
        requests: 1,
    }
}

fn app() -> App {
    let mut a = App::new(vec![feed("demo", "us-east-1", Some("http://127.0.0.1:8080"))], Duration::from_secs(5), now());
    a.color = false;
    a.apply(0, snapshot_event(tasks()));
    a
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let area = ratatui::layout::Rect::new(0, 0, w, h);
    app.set_table_body(ui::layout(area, app).table_body());
    term.draw(|f| ui::render(app, f)).unwrap();
    term.backend().to_string()
}

fn keys(app: &mut App, actions: impl IntoIterator<Item = Action>) {
    for a in actions {
        app.handle(a);
    }
}

#[test]
fn main_view_80x24() {
    insta::assert_snapshot!(screen(&mut app(), 80, 24));
}

#[test]
fn main_view_wide() {
    insta::assert_snapshot!(screen(&mut app(), 140, 20));
}

#[test]
fn each_state_filter() {
    for (n, f) in [(2, StateFilter::InProgress), (3, StateFilter::Completed), (4, StateFilter::Failed)] {
        let mut a = app();
        a.handle(Action::SetState(f));
        insta::assert_snapshot!(format!("state_filter_{n}"), screen(&mut a, 100, 16));
    }
}

#[test]
fn bucket_picker() {
    let mut a = app();
    keys(&mut a, [Action::OpenBucketPicker, Action::Move(2)]);
    insta::assert_snapshot!(screen(&mut a, 100, 20));
}

#[test]
fn search_typing() {
    let mut a = app();
    a.handle(Action::StartSearch);
    keys(&mut a, "denied".chars().map(Action::SearchInput));
    insta::assert_snapshot!(screen(&mut a, 100, 14));
}

#[test]
fn detail_of_a_retried_failure() {
    let mut a = app();
    keys(&mut a, [Action::SetState(StateFilter::Failed), Action::Confirm]);
    insta::assert_snapshot!(screen(&mut a, 110, 26));
}

#[test]
fn help_overlay() {
    let mut a = app();
    a.handle(Action::ToggleHelp);
    insta::assert_snapshot!(screen(&mut a, 90, 24));
}

#[test]
fn loading_first_poll() {
    let mut a = App::new(vec![feed("prod", "eu-west-1", None)], Duration::from_secs(5), now());
    a.color = false;
    a.apply(0, PollEvent::Polling);
    insta::assert_snapshot!(screen(&mut a, 80, 12));
}

#[test]
fn first_poll_failed() {
    let mut a = App::new(vec![feed("prod", "eu-west-1", None)], Duration::from_secs(5), now());
    a.color = false;
    a.apply(
        0,
        PollEvent::Failed {
            error: FetchError::new(ErrorKind::Unauthorized, "UnauthorizedOperation: You are not authorized"),
            at: now() - ChronoDuration::seconds(2),
            retry_in: Duration::from_secs(10),
            consecutive: 1,
        },
    );
    insta::assert_snapshot!(screen(&mut a, 80, 12));
}

#[test]
fn stale_after_failure_keeps_data() {
    let mut a = app();
    a.apply(
        0,
        PollEvent::Failed {
            error: FetchError::new(ErrorKind::Throttled, "RequestLimitExceeded"),
            at: now() - ChronoDuration::seconds(1),
            retry_in: Duration::from_secs(20),
            consecutive: 3,
        },
    );
    insta::assert_snapshot!(screen(&mut a, 100, 14));
}

#[test]
fn empty_account_and_no_match() {
    let mut a = App::new(vec![feed("demo", "us-east-1", None)], Duration::from_secs(5), now());
    a.color = false;
    a.apply(0, snapshot_event(vec![]));
    insta::assert_snapshot!("empty_account", screen(&mut a, 80, 12));
    let mut a = app();
    a.handle(Action::StartSearch);
    keys(&mut a, "zzz".chars().map(Action::SearchInput));
    a.handle(Action::SearchKeep);
    insta::assert_snapshot!("no_match", screen(&mut a, 80, 12));
}

#[test]
fn too_small() {
    insta::assert_snapshot!(screen(&mut app(), 40, 8));
}

#[test]
fn hostile_text_never_reaches_the_screen_raw() {
    let mut t = tasks();
    t[0].bucket = Some("evil\u{1b}[2J\u{202e}bucket".into());
    t[0].failure_reason = Some("\u{7}bell".into());
    let mut a = app();
    a.apply(0, snapshot_event(t));
    let s = screen(&mut a, 140, 20);
    assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}') && !s.contains('\u{7}'));
    assert!(s.contains("evil\\u{1b}"), "{s}");
}

#[test]
fn detail_of_a_task_in_progress_shows_speed_time_left_and_history() {
    let mut a = in_progress_at(ChronoDuration::zero());
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("2.00%/min (observed while watching)"), "{s}");
    assert!(s.contains("~35m left"), "71% to go at 2%/min: {s}");
    insta::assert_snapshot!(s);
}

/// Twelve polls a minute apart (the first task gaining 2% a minute), then the clock at `later`
/// past the last poll: an outage, or the time between polls.
fn in_progress_at(later: ChronoDuration) -> App {
    let mut a = App::new(vec![feed("demo", "us-east-1", None)], Duration::from_secs(5), now());
    a.color = false;
    for m in 0..12 {
        let mut t = tasks();
        t[0].progress = Some(7 + 2 * m as u8);
        a.apply(
            0,
            PollEvent::Snapshot {
                snapshot: Arc::new(Snapshot {
                    tasks: t.into(),
                    fetched_at: now() + ChronoDuration::minutes(m),
                    next_token: None,
                }),
                next_in: Duration::from_secs(60),
                slowed: false,
                requests: 1,
            },
        );
    }
    a.now = now() + ChronoDuration::minutes(11) + later;
    a.handle(Action::Confirm);
    a
}

/// Issue 22 item 6: between polls (here a 4-minute outage) the table's LEFT, the pane's time
/// left and "all done" count down together, and "done about" stays put.
#[test]
fn the_detail_pane_counts_down_from_the_poll_with_the_table() {
    let field = |s: &str, after: &str, until: &str| {
        let at = s.find(after).unwrap_or_else(|| panic!("{after:?} in {s}")) + after.len();
        s[at..].split(until).next().unwrap().to_string()
    };
    let at_poll = screen(&mut in_progress_at(ChronoDuration::zero()), 120, 30);
    let later = screen(&mut in_progress_at(ChronoDuration::minutes(4)), 120, 30);
    // 71% to go at 2%/min: 35m30s at the poll, 31m30s four minutes on.
    assert!(at_poll.contains("~35m left"), "{at_poll}");
    assert!(later.contains("~31m left"), "the pane counts down: {later}");
    let row = |s: &str| s.lines().find(|l| l.contains("ami-000000000000000a1 ")).unwrap().to_string();
    assert!(
        row(&at_poll).contains("~35m ") && row(&later).contains("~31m "),
        "the table too:\n{}\n{}",
        row(&at_poll),
        row(&later)
    );
    assert_eq!(field(&at_poll, "done about ", " "), field(&later, "done about ", " "), "done about stays put");
    // "all done" counts down by the same four minutes (the slowest task sets it).
    let all = |s: &str| field(s, "all done ~", "  ");
    assert_eq!((all(&at_poll).as_str(), all(&later).as_str()), ("11h 22m", "11h 18m"));
    insta::assert_snapshot!("detail_four_minutes_after_the_poll", later);
}

/// Names for the sample's AMIs, one of them deregistered since its export.
fn with_names(a: &mut App) {
    use amiwatch::image::{AmiInfo, Volume};
    let names =
        ["golden-ubuntu-24.04-20261120", "payments-api-2026-11-03", "base-al2023-20261101", "ci-runner-20261028"];
    let found = tasks()
        .iter()
        .filter_map(|t| t.ami_id.clone())
        .filter(|id| !id.ends_with("a4"))
        .enumerate()
        .map(|(n, id)| {
            let vol = |dev: &str, gib| Volume {
                device: Some(dev.into()),
                snapshot: Some(format!("snap-0{n:016x}")),
                size_gib: Some(gib),
            };
            Arc::new(AmiInfo {
                id,
                name: Some(names[n % names.len()].into()),
                description: Some("built by the image pipeline".into()),
                created: Some(now() - ChronoDuration::days(9)),
                architecture: Some("x86_64".into()),
                state: Some("available".into()),
                volumes: vec![vol("/dev/xvda", 8), vol("/dev/sdb", 100)],
                deprecation: None,
            })
        })
        .collect();
    let missing = vec![format!("ami-0{:016x}", 0xa4)];
    a.apply(0, PollEvent::Names { found, missing });
}

#[test]
fn names_at_80_and_200_columns_and_in_the_detail_pane() {
    let mut a = app();
    with_names(&mut a);
    insta::assert_snapshot!("names_80x24", screen(&mut a, 80, 24));
    insta::assert_snapshot!("names_200x24", screen(&mut a, 200, 24));
    a.handle(Action::Confirm);
    insta::assert_snapshot!("names_detail", screen(&mut a, 120, 30));
}

/// Names with sizes for `tasks`: each AMI `base` GB plus 0, 100 or 200 (its ID's number mod 3).
fn names_sized(tasks: &[StoreTask], base: i32) -> PollEvent {
    use amiwatch::image::{AmiInfo, Volume};
    let found = tasks
        .iter()
        .filter_map(|t| t.ami_id.clone())
        .map(|id| {
            let n = i32::from_str_radix(&id[id.len() - 2..], 16).unwrap_or(0);
            let vol = |dev: &str, gib| Volume { device: Some(dev.into()), snapshot: None, size_gib: Some(gib) };
            Arc::new(AmiInfo {
                name: Some(format!("image-{n:x}")),
                state: Some("available".into()),
                volumes: vec![vol("/dev/xvda", base), vol("/dev/sdb", 100 * (n % 3))],
                id,
                ..AmiInfo::default()
            })
        })
        .collect();
    PollEvent::Names { found, missing: Vec::new() }
}

#[test]
fn store_quota_per_feed_in_the_header_and_the_feeds_pane() {
    let feeds = vec![feed("prod", "us-east-1", None), feed("prod", "eu-west-1", None), feed("dev", "us-east-1", None)];
    let mut a = App::new(feeds, Duration::from_secs(5), now());
    a.color = false;
    a.store_quota = 400;
    // The first feed holds (8+200) + (8+0) + (8+100) = 324 GB in flight, under the quota; the
    // second 3 x 108 + 300 = 624, over it (marked full); the third has no names yet.
    a.apply(0, snapshot_event(tasks()));
    a.apply(0, names_sized(&tasks(), 8));
    let second: Vec<StoreTask> =
        tasks().into_iter().map(|t| StoreTask { progress: t.progress.map(|p| p / 2), ..t }).collect();
    a.apply(1, snapshot_event(second.clone()));
    a.apply(1, names_sized(&second, 108));
    a.apply(2, snapshot_event(tasks()));
    insta::assert_snapshot!("store_quota_header_many_feeds", screen(&mut a, 160, 12));
    a.handle(Action::OpenFeedPicker);
    insta::assert_snapshot!("store_quota_feeds_pane", screen(&mut a, 160, 12));
}

/// One feed at its quota (300 GB) with a task waiting in the service's queue at 0%, after
/// three polls 5 minutes apart: enough for the feed's throughput and a plan.
fn queued_app() -> App {
    use TaskState::*;
    let at = |mins: i64, progress: &[u8; 4]| {
        let tasks = vec![
            task(0xa9, 20, "acme-ami-archive", InProgress, progress[0], None),
            task(0xa1, 30, "acme-ami-archive", InProgress, progress[1], None),
            task(0xa2, 40, "golden-images-prod", InProgress, progress[2], None),
            task(0xa3, 95, "acme-ami-archive", InProgress, progress[3], None),
        ];
        let snapshot = Arc::new(Snapshot {
            tasks: tasks.into(),
            fetched_at: now() - ChronoDuration::minutes(mins),
            next_token: None,
        });
        PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 }
    };
    let mut a = App::new(vec![feed("demo", "us-east-1", None)], Duration::from_secs(5), now());
    a.color = false;
    a.set_store_quota(300);
    // Sizes: a9 108 GB (waiting at 0%), a1 208, a2 8, a3 108: 324 GB held, over the quota.
    let first = at(10, &[0, 2, 30, 70]);
    if let PollEvent::Snapshot { snapshot, .. } = &first {
        let tasks = snapshot.tasks.clone();
        a.apply(0, first);
        a.apply(0, names_sized(&tasks.to_vec(), 8));
    }
    a.apply(0, at(5, &[0, 7, 60, 80]));
    a.apply(0, at(0, &[0, 12, 95, 90]));
    a
}

#[test]
fn detail_of_a_queued_task_says_when_it_starts_and_what_that_stands_on() {
    let mut a = queued_app();
    a.handle(Action::Confirm);
    insta::assert_snapshot!(screen(&mut a, 140, 30));
}

#[test]
fn left_says_when_a_queued_task_starts_in_the_form_its_width_holds() {
    let mut a = queued_app();
    // The same estimate as the detail pane's `starts in ~6m`.
    let start_of = |s: &str| s.lines().find(|l| l.contains("image-a9")).unwrap().to_string();
    let wide = screen(&mut a, 200, 12);
    assert!(start_of(&wide).contains(" starts in ~6m "), "{wide}");
    insta::assert_snapshot!("queued_left_200", wide);
    // Where LEFT has only its narrow width (beside names, sizes and the S3 key).
    let mid = screen(&mut a, 140, 12);
    assert!(start_of(&mid).contains(" in ~6m ") && !mid.contains("starts in"), "{mid}");
    insta::assert_snapshot!("queued_left_140", mid);
    // At 80 columns (and up to 100 beside names) LEFT gives way, as it always has: the bar
    // and its 0% stay.
    let narrow = screen(&mut a, 80, 12);
    assert!(!narrow.contains("LEFT") && start_of(&narrow).contains(" 0% "), "{narrow}");
    insta::assert_snapshot!("queued_left_80", narrow);
    // Moving tasks keep their time left; the detail pane says the same start.
    assert!(wide.lines().any(|l| l.contains("image-a1") && l.contains(" ~1h 53m ")), "{wide}");
    a.handle(Action::Confirm);
    let detail = screen(&mut a, 200, 30);
    assert!(detail.contains("starts in ~6m, ~1h 13m left"), "{detail}");
}

#[test]
fn the_summary_line_keeps_its_counts_and_all_done_when_narrow() {
    for w in [70, 80, 100] {
        let s = screen(&mut app(), w, 24);
        let summary = s.lines().nth(1).unwrap();
        for count in ["1 ", "All 8", "2 ", " 3 ", "4 ", "all done ~"] {
            assert!(summary.contains(count), "{count:?} on the summary line at {w} columns: {summary}");
        }
        assert!(!summary.contains('…'), "nothing cut at {w}: {summary}");
    }
    let wide = screen(&mut app(), 140, 24);
    let summary = wide.lines().nth(1).unwrap();
    assert!(summary.contains("2 In progress 3") && summary.contains("overall 42% · all done ~"), "{summary}");
    let narrow = screen(&mut app(), 80, 24);
    let summary = narrow.lines().nth(1).unwrap();
    assert!(summary.contains("2 Run 3") && summary.contains("3 Done 3") && summary.contains("4 Fail 2"), "{summary}");
}

#[test]
fn an_empty_feed_filter_names_the_feed_and_the_key_that_clears_it() {
    let mut a =
        App::new(vec![feed("prod", "us-east-1", None), feed("dev", "eu-west-1", None)], Duration::from_secs(5), now());
    a.color = false;
    a.apply(0, snapshot_event(tasks()));
    a.apply(1, snapshot_event(vec![]));
    a.handle(Action::OpenFeedPicker);
    let dev = a.pane_rows().iter().position(|r| r.feed == 1).unwrap();
    keys(&mut a, [Action::Move(dev as i64 + 1), Action::Confirm]);
    assert_eq!(a.filters.feed, Some(1));
    let s = screen(&mut a, 80, 12);
    assert!(s.contains("No task matches the filters (feed dev · eu-west-1)."), "{s}");
    assert!(s.contains("Press F then Enter on \"All feeds\" for every feed."), "{s}");
    assert!(!s.contains("()"), "{s}");
}

/// Two profiles x two regions, each feed with its own AMIs.
fn four_feeds() -> App {
    let feeds = ["production", "staging"]
        .iter()
        .flat_map(|p| ["us-east-1", "eu-west-1"].map(|r| feed(p, r, None)))
        .collect::<Vec<_>>();
    let mut a = App::new(feeds, Duration::from_secs(5), now());
    a.color = false;
    for f in 0..4u32 {
        let mut t = tasks();
        for x in &mut t {
            x.ami_id = x.ami_id.as_ref().map(|id| format!("ami-{f}{}", &id[5..]).into());
        }
        a.apply(f as usize, snapshot_event(t));
    }
    a
}

#[test]
fn the_multi_feed_table_at_80_and_200_columns_cuts_nothing_silently() {
    let mut a = four_feeds();
    let ids: Vec<String> =
        a.view.rows.iter().filter_map(|&r| a.task(r).ami_id.as_deref().map(str::to_string)).take(20).collect();
    let s = screen(&mut a, 80, 24);
    for id in ids.iter().take(19) {
        assert!(s.contains(&format!("{id} ")), "{id} whole at 80 columns: {s}");
    }
    // Every percentage whole, right after its bar.
    for pct in ["   7%", "  38%", "  83%", " 100%"] {
        assert!(s.contains(pct), "{pct:?} at 80 columns: {s}");
    }
    // Feed and bucket values are whole or end in an ellipsis.
    let header = s.lines().nth(2).unwrap().trim_matches('"');
    let col = |name: &str| header.find(name).map(|i| header[..i].chars().count());
    let (feed, bucket) = (col("FEED").unwrap(), col("BUCKET").unwrap());
    let labels = ["production us-east-1", "production eu-west-1", "staging us-east-1", "staging eu-west-1"];
    let buckets = ["acme-ami-archive", "golden-images-prod", "acme-dr-us-east-1", "ci-build-artifacts"];
    for line in s.lines().skip(3).take(19) {
        let chars: Vec<char> = line.trim_matches('"').chars().collect();
        let cell = |from: usize, to: usize| chars[from..to].iter().collect::<String>().trim_end().to_string();
        let f = cell(feed, bucket - 1);
        // Whole, or the region as its code (never cut) after the profile, whole or ending in `…`.
        let shortened = f.rsplit_once(' ').is_some_and(|(who, code)| {
            ["use1", "euw1"].contains(&code)
                && ["production", "staging"]
                    .iter()
                    .any(|p| *p == who || (who.ends_with('…') && p.starts_with(who.trim_end_matches('…'))))
        });
        assert!(labels.contains(&f.as_str()) || shortened, "feed {f:?} in {line}");
        let b = cell(bucket, bucket + 8);
        assert!(buckets.iter().any(|x| x.starts_with(b.trim_end_matches('…'))), "bucket {b:?} in {line}");
    }
    insta::assert_snapshot!("four_feeds_80x24", s);
    insta::assert_snapshot!("four_feeds_200x24", screen(&mut a, 200, 24));
}

/// A name and a description of 100,000 characters each (the server's text, any length) take a
/// line and two lines of the detail pane: the task's own lines still show below them.
#[test]
fn huge_names_and_descriptions_are_bounded_in_the_detail_pane() {
    use amiwatch::image::AmiInfo;
    let mut a = app();
    let found = tasks()
        .iter()
        .filter_map(|t| t.ami_id.clone())
        .map(|id| {
            Arc::new(AmiInfo {
                id,
                name: Some("n".repeat(100_000)),
                description: Some("d".repeat(100_000)),
                ..AmiInfo::default()
            })
        })
        .collect();
    a.apply(0, PollEvent::Names { found, missing: Vec::new() });
    a.handle(Action::Confirm);
    let s = screen(&mut a, 120, 30);
    for line in ["S3 object", "Started", "Attempts"] {
        assert!(s.contains(line), "{line} shows below the image's text:\n{s}");
    }
    let pane: Vec<&str> = s.lines().skip_while(|l| !l.contains(" Image ")).collect();
    let text: Vec<&&str> = pane.iter().filter(|l| l.contains("nnnn") || l.contains("dddd")).collect();
    assert!(text.len() <= 3, "a line for the name, two for the description: {text:?}");
    let cut = |l: Option<&&&str>| l.is_some_and(|l| l.contains('…'));
    assert!(cut(text.first()) && cut(text.last()), "both cut with …: {text:?}");
}

/// The retry confirmation's call wraps at its spaces, every line inside the border: a
/// continued line never starts at the border itself.
#[test]
fn the_retry_call_wraps_inside_its_border() {
    let feeds = vec![feed("production-administrator", "ap-southeast-2", None)];
    let mut a = App::new(feeds, Duration::from_secs(5), now());
    a.color = false;
    a.allow_retry = true;
    a.apply(0, snapshot_event(tasks()));
    a.handle(Action::SetState(StateFilter::Failed));
    while a
        .selected_task()
        .is_some_and(|r| a.earlier_attempts(r).iter().any(|&j| a.task(j).start_time > a.task(r).start_time))
    {
        a.handle(Action::Move(1));
    }
    a.handle(Action::Retry);
    assert_eq!(a.mode, Mode::ConfirmRetry);
    for w in [80u16, 100, 160] {
        let s = screen(&mut a, w, 30);
        let inside: Vec<&str> = s.lines().filter(|l| l.contains('│')).collect();
        assert!(
            inside.iter().any(|l| l.contains("--profile production-administrator")),
            "the whole call shows at {w}:\n{s}"
        );
        for l in &inside {
            let after = l.split('│').nth(1).unwrap_or_default();
            assert!(after.is_empty() || after.starts_with(' '), "a line starts at the border at {w}: {l}\n{s}");
        }
    }
}
