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
    let mut amis: Vec<String> = f
        .tasks
        .into_iter()
        .filter_map(|t| t.ami_id.as_deref().map(str::to_string))
        .filter(|a| !busy.contains(a))
        .collect();
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
        let res = ec2::export::create_store_image_task(&ec2, ami, "amiwatch-demo", &[]).await;
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
    ec2::export::create_store_image_task(&ec2, &refused, "amiwatch-demo", &[]).await.unwrap();
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
    let e = ec2::export::create_store_image_task(&ec2, &ami, "amiwatch-demo", &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused("UnsupportedOperation".into()));
    assert!(ec2::export::explain(&e, &ami).contains("refused for good"));
    assert!(h.in_progress("us-east-1").is_empty());
}

/// The dashboard's state after one real poll and one real name lookup.
async fn dashboard(h: &SimHandle, quota: u64) -> amiwatch::app::App {
    use amiwatch::app::App;
    use amiwatch::ec2::PollEvent;
    use std::sync::Arc;
    let ec2 = client(h);
    let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
    let mut ids: Vec<String> = f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
    ids.sort();
    ids.dedup();
    let lookup = ec2::images::look_up(&ec2, &ids).await;
    assert!(lookup.error.is_none(), "{:?}", lookup.error);
    let missing: Vec<String> = ids.iter().filter(|id| !lookup.found.iter().any(|i| *i.id == ***id)).cloned().collect();
    let mut app = App::new(Vec::new(), Duration::from_secs(5), Utc::now());
    app.store_quota = quota;
    let snapshot = Arc::new(ec2::Snapshot { tasks: f.tasks.into(), fetched_at: Utc::now(), next_token: None });
    app.apply(0, PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(5), slowed: false, requests: 1 });
    app.apply(0, PollEvent::Names { found: lookup.found.into_iter().map(Arc::new).collect(), missing });
    app
}

/// The first line of the dashboard drawn at `w` columns.
fn header_line(app: &mut amiwatch::app::App, w: u16) -> String {
    use ratatui::{Terminal, backend::TestBackend};
    let mut term = Terminal::new(TestBackend::new(w, 20)).unwrap();
    app.color = false;
    app.set_table_body(amiwatch::ui::layout(ratatui::layout::Rect::new(0, 0, w, 20), app).table_body());
    term.draw(|f| amiwatch::ui::render(app, f)).unwrap();
    term.backend().to_string().lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_shows_the_sum_of_the_sizes_in_flight_as_the_endpoint_knows_them() {
    // Over a few accounts, both cases: every size known, and a deregistered AMI in progress.
    let (mut exact, mut plus) = (0, 0);
    for seed in 1..=12u64 {
        let config = SimConfig { tasks: 80, moving: Some(6), seed, frozen: true, ..SimConfig::default() };
        let h = endpoint(config).await;
        let truth = h.in_progress("us-east-1");
        assert_eq!(truth.len(), 6);
        let known: u64 = truth.iter().filter(|m| !m.deregistered).map(|m| m.size_gb).sum();
        let unknown = truth.iter().any(|m| m.deregistered);
        // Some accounts hold more than this, some less: the mark follows the truth.
        let quota = 700;
        let mut app = dashboard(&h, quota).await;
        let plus_sign = if unknown { "+" } else { "" };
        let want = format!("{known}{plus_sign} of {quota} GB in flight");
        let header = header_line(&mut app, 160);
        assert!(header.contains(&format!(" {want} ")), "seed {seed}: {header:?} should say {want:?}");
        assert_eq!(header.contains("⚠ full"), known >= quota, "seed {seed}: {header:?}");
        if unknown { plus += 1 } else { exact += 1 }
    }
    assert!(exact > 0 && plus > 0, "both cases seen: {exact} exact, {plus} with unknown sizes");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_quota_flag_sets_the_figure_the_header_measures_against() {
    let h = endpoint(SimConfig { tasks: 80, moving: Some(6), seed: 3, frozen: true, ..SimConfig::default() }).await;
    let known: u64 = h.in_progress("us-east-1").iter().filter(|m| !m.deregistered).map(|m| m.size_gb).sum();
    assert!(known > 1, "the scenario has sizes in flight");
    let full = amiwatch::cli::parse_store_quota(&known.to_string()).unwrap();
    let mut app = dashboard(&h, full).await;
    let header = header_line(&mut app, 160);
    assert!(header.contains(&format!(" of {full} GB in flight ⚠ full")), "at the quota: {header:?}");
    let mut app = dashboard(&h, known + 1).await;
    let header = header_line(&mut app, 160);
    assert!(header.contains(&format!(" of {} GB in flight ", known + 1)) && !header.contains("full"), "{header:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_each_amis_size_in_the_table_csv_and_json_with_names() {
    let seed = 21;
    let h = endpoint(SimConfig { tasks: 40, seed, frozen: true, ..SimConfig::default() }).await;
    let truth = |ami: &str| {
        let r = record_of(ami, seed, Utc::now());
        let gone = matches!(r.state, SimState::Deregistered(_));
        (!gone).then(|| r.volumes.iter().map(|v| u64::from(v.2)).sum::<u64>())
    };
    let (code, json, err, _) = common::amiwatch_at(h.url(), &["--once", "-o", "json", "--with-names"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = doc["StoreImageTaskResults"].as_array().unwrap();
    assert_eq!(rows.len(), 40);
    let (mut sized, mut unsized_) = (0, 0);
    for r in rows {
        let ami = r["AmiId"].as_str().unwrap();
        match truth(ami) {
            Some(gb) => {
                assert_eq!(r["SizeGiB"].as_u64(), Some(gb), "{ami}");
                sized += 1;
            }
            None => {
                assert!(r.get("SizeGiB").is_none(), "a deregistered AMI has no size: {r}");
                unsized_ += 1;
            }
        }
    }
    assert!(sized > 0 && unsized_ > 0, "{sized} sized, {unsized_} deregistered");
    let (_, plain, _, _) = common::amiwatch_at(h.url(), &["--once", "-o", "json"]);
    assert!(!plain.contains("SizeGiB"), "the CLI's exact shape without --with-names");
    let (_, csv, _, _) = common::amiwatch_at(h.url(), &["--once", "-o", "csv"]);
    let mut lines = csv.lines();
    // The last column (a failure reason before it may hold a quoted comma).
    assert!(lines.next().unwrap().ends_with(",name,size_gib"));
    for line in lines {
        let ami = line.split(',').next().unwrap();
        let want = truth(ami).map_or(String::new(), |gb| gb.to_string());
        assert_eq!(line.rsplit(',').next().unwrap(), want, "{line}");
    }
    let (_, table, _, _) = common::amiwatch_at(h.url(), &["--once"]);
    assert!(table.lines().next().unwrap().contains("SIZE GB"), "{table}");
}

/// Polls the endpoint through the real SDK every `step` of its clock, `polls` times, and feeds
/// each snapshot (with names, as the poller does) to a feed's deriver; the last data.
async fn watch(h: &SimHandle, quota: u64, step: Duration, polls: usize) -> std::sync::Arc<amiwatch::app::FeedData> {
    use amiwatch::app::{Deriver, FeedEvent};
    use amiwatch::ec2::PollEvent;
    use std::sync::Arc;
    let ec2 = client(h);
    let mut deriver = Deriver::with_quota(quota);
    let mut last = None;
    let mut named = false;
    let mut at = Utc::now();
    for _ in 0..polls {
        let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
        if !named {
            let mut ids: Vec<String> = f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
            ids.sort();
            ids.dedup();
            let lookup = ec2::images::look_up(&ec2, &ids).await;
            let missing = ids.iter().filter(|id| !lookup.found.iter().any(|i| *i.id == ***id)).cloned().collect();
            deriver.apply(PollEvent::Names { found: lookup.found.into_iter().map(Arc::new).collect(), missing });
            named = true;
        }
        // The snapshot's time is the endpoint's clock, stepped: the estimate sees its pace.
        let snapshot = Arc::new(ec2::Snapshot { tasks: f.tasks.into(), fetched_at: at, next_token: None });
        let ev = PollEvent::Snapshot { snapshot, next_in: step, slowed: false, requests: 1 };
        if let Some(FeedEvent::Data { data, .. }) = deriver.apply(ev) {
            last = Some(data);
        }
        h.advance(step);
        at += chrono::Duration::from_std(step).unwrap();
    }
    // The last poll's data is as of the clock before the last step.
    h.advance(Duration::ZERO);
    last.expect("data")
}

#[tokio::test(flavor = "multi_thread")]
async fn throughput_converges_on_the_endpoints_rate() {
    // 0.1 GB a second per export: 6 GB a minute each.
    let rate = 0.1;
    // An account where nothing else moves, so the exports started here are all there is.
    let mut found = None;
    for seed in 1..=30u64 {
        let config = SimConfig {
            tasks: 60,
            moving: Some(0),
            seed,
            frozen: true,
            gb_per_sec: Some(rate),
            ..SimConfig::default()
        };
        let h = endpoint(config).await;
        if h.in_progress("us-east-1").is_empty() {
            found = Some((h, seed));
            break;
        }
    }
    let (h, seed) = found.expect("an account with nothing in progress");
    let ec2 = client(&h);
    // Two exports of 100 to 230 GB: 17 to 38 minutes each at this rate, longer than the
    // 15-minute window, so both move all through it.
    let size = |a: &String| record_of(a, seed, Utc::now()).volumes.iter().map(|v| v.2).sum::<u32>();
    let picked: Vec<String> =
        exportable(&h, &ec2, seed).await.into_iter().filter(|a| (100..=230).contains(&size(a))).take(2).collect();
    assert_eq!(picked.len(), 2);
    for ami in &picked {
        ec2::export::create_store_image_task(&ec2, ami, "amiwatch-demo", &[]).await.unwrap();
    }
    let data = watch(&h, 600, Duration::from_secs(60), 16).await;
    let truth = h.in_progress("us-east-1");
    assert_eq!(truth.len(), 2, "both still moving");
    let basis = data.plan.basis.expect("a throughput after a few polls");
    let want = rate * 60.0 * 2.0;
    let err = (basis.gb_per_min - want).abs() / want;
    assert!(err < 0.10, "{:.2} GB/min against the endpoint's {want:.2} ({:.1}% off)", basis.gb_per_min, err * 100.0);
    assert_eq!(basis.polls, 15, "measured over the last 15 minutes");
}

/// Six exports in progress of 60, beyond a 300 GB quota: some wait in the service's queue.
fn queued_archive(seed: u64, rate: f64) -> SimConfig {
    SimConfig {
        tasks: 60,
        moving: Some(6),
        seed,
        frozen: true,
        gb_per_sec: Some(rate),
        store_quota_gb: Some(300),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_tasks_start_and_all_finish_about_when_the_endpoint_says() {
    // Exports in progress beyond a 300 GB quota wait in the service's queue.
    let rate = 0.1;
    let mut checked = 0;
    for seed in 1..=10u64 {
        let h = endpoint(queued_archive(seed, rate)).await;
        let data = watch(&h, 300, Duration::from_secs(60), 16).await;
        // The truth as of the last poll, a step before the endpoint's clock now.
        let truth: Vec<_> = h.in_progress("us-east-1");
        let queued = truth.iter().filter(|m| m.starts_in_secs > 120.0 && !m.deregistered).count();
        // An export that will fail ends early, which no estimate can know.
        let unknowable = truth.iter().any(|m| m.deregistered || m.will_fail);
        if unknowable || queued == 0 || data.plan.basis.is_none() {
            continue;
        }
        let step = 60.0;
        let tasks = data.tasks();

        for m in &truth {
            let i =
                tasks.iter().position(|t| t.ami_id.as_deref() == Some(&m.ami) && t.is_in_progress()).unwrap() as u32;
            let p = data.task_plan(i).expect("a plan for each sized task");
            let (start, end) = (m.starts_in_secs + step, m.ends_in_secs + step);
            if start > 120.0 {
                let got = p.starts_in_min * 60.0;
                assert!(
                    (got - start).abs() <= 0.15 * start,
                    "seed {seed} {}: starts in {got:.0}s, truth {start:.0}s",
                    m.ami
                );
            }
            let got = p.done_in_min * 60.0;
            assert!((got - end).abs() <= 0.15 * end, "seed {seed} {}: done in {got:.0}s, truth {end:.0}s", m.ami);
        }
        let all = truth.iter().map(|m| m.ends_in_secs + step).fold(0.0, f64::max);
        let got = data.plan.all_done_in_min.expect("every size known") * 60.0;
        assert!((got - all).abs() <= 0.15 * all, "seed {seed}: all done in {got:.0}s, truth {all:.0}s");
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} accounts had a queue to check");
}

/// Seconds in a time the table writes (`6m`, `1h 5m`, `45s`).
fn secs_of(text: &str) -> Option<f64> {
    text.split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len().checked_sub(1)?);
            let n: f64 = n.parse().ok()?;
            Some(
                n * match unit {
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    "d" => 86_400.0,
                    _ => return None,
                },
            )
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_table_says_when_a_queued_task_starts_about_when_the_endpoint_starts_it() {
    use amiwatch::app::{Action, App};
    use amiwatch::ec2::PollEvent;
    use ratatui::{Terminal, backend::TestBackend};
    use std::sync::Arc;
    let rate = 0.1;
    let step = Duration::from_secs(60);
    let mut checked = 0;
    for seed in 1..=10u64 {
        let h = endpoint(queued_archive(seed, rate)).await;
        // The dashboard's state after 16 polls a minute apart on the endpoint's clock.
        let ec2 = client(&h);
        let mut at = Utc::now();
        let mut app = App::new(Vec::new(), Duration::from_secs(60), at);
        app.set_store_quota(300);
        for n in 0..16 {
            let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.unwrap();
            let ids: Vec<String> = f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
            app.now = at;
            let snapshot = Arc::new(ec2::Snapshot { tasks: f.tasks.into(), fetched_at: at, next_token: None });
            app.apply(0, PollEvent::Snapshot { snapshot, next_in: step, slowed: false, requests: 1 });
            if n == 0 {
                let lookup = ec2::images::look_up(&ec2, &ids).await;
                let missing = ids.iter().filter(|id| !lookup.found.iter().any(|i| *i.id == ***id)).cloned().collect();
                app.apply(0, PollEvent::Names { found: lookup.found.into_iter().map(Arc::new).collect(), missing });
            }
            h.advance(step);
            at += chrono::Duration::from_std(step).unwrap();
        }
        // The truth a step after the last poll: the table counts down to now.
        app.now = at;
        let truth = h.in_progress("us-east-1");
        let queued: Vec<_> = truth.iter().filter(|m| m.starts_in_secs > 120.0 && !m.deregistered).collect();
        if queued.is_empty() || truth.iter().any(|m| m.deregistered || m.will_fail) {
            continue;
        }
        app.handle(Action::SetState(amiwatch::app::view::StateFilter::InProgress));
        app.color = false;
        let (w, rows) = (200, 40);
        let mut term = Terminal::new(TestBackend::new(w, rows)).unwrap();
        app.set_table_body(amiwatch::ui::layout(ratatui::layout::Rect::new(0, 0, w, rows), &app).table_body());
        term.draw(|f| amiwatch::ui::render(&app, f)).unwrap();
        let screen = term.backend().to_string();
        for m in &queued {
            let line = screen.lines().find(|l| l.contains(&m.ami)).unwrap_or_else(|| panic!("{} on {screen}", m.ami));
            let said = line.split("starts in ~").nth(1).unwrap_or_else(|| panic!("seed {seed}: {line}"));
            let said = said.split("  ").next().unwrap().trim();
            let got = secs_of(said).unwrap_or_else(|| panic!("{said:?}"));
            // The table's minutes are whole: a minute more of slack.
            let want = m.starts_in_secs;
            assert!((got - want).abs() <= 0.15 * want + 60.0, "seed {seed} {}: {said} against {want:.0}s", m.ami);
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} accounts had a queue to check");
}
