//! How far the dashboard's `all done` is from the truth over a simulated archive of 50 AMIs
//! exported behind the store quota, today's per-task method and the one from sizes and
//! throughput side by side (BENCHMARKS.md, "Time left against the truth").
//!
//!     cargo run --example all_done_accuracy
//!
//! The embedded endpoint stores each export at 0.05 GB a second and queues what is beyond a
//! 600 GB quota; a frozen clock is stepped a minute per poll, each poll goes through the real
//! SDK, and the data through the dashboard's own derivation. Every 30 minutes of simulated time
//! (from 15 minutes on) both estimates of the time left are compared with when the endpoint
//! actually ends its last export, and each queued task's `starts in` (the table's LEFT and the
//! detail pane) with when the endpoint starts moving it.

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::{Deriver, FeedData, FeedEvent};
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, PollEvent, Snapshot};
use amiwatch::image::{AmiInfo, ImageState, Volume};
use amiwatch::sim::{self, SimConfig};
use chrono::Utc;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=6;
const STEP_SECS: u64 = 60;

/// The two estimates of the time left, in seconds, as of the data's poll (`None`: no figure).
fn estimates(data: &FeedData) -> (Option<f64>, Option<f64>) {
    let moving: Vec<u32> =
        (0..data.tasks().len() as u32).filter(|&i| data.tasks()[i as usize].is_in_progress()).collect();
    let latest =
        |f: &dyn Fn(u32) -> Option<f64>| moving.iter().map(|&i| f(i)).try_fold(0.0f64, |m, x| x.map(|x| m.max(x)));
    let old = latest(&|i| Some(data.estimate(i)?.left.num_milliseconds() as f64 / 1000.0));
    // The dashboard's: from the plan when it covers every task, else each task's own.
    let at = data.snapshot.fetched_at;
    let new = latest(&|i| Some((data.done_at(i)? - at).num_milliseconds() as f64 / 1000.0));
    (old, new)
}

/// Per task in progress, the endpoint's schedule beside the plan's (minutes from the poll):
/// where the two disagree, and why, is what this shows (`SIDE_BY_SIDE=1`).
fn side_by_side(truth: &[sim::InFlight], data: &FeedData, elapsed: f64) {
    println!(
        "at {:.0} min: ami, GB, progress, endpoint start/end, plan start/end (min), fails, deregistered",
        elapsed / 60.0
    );
    let tasks = data.tasks();
    let mut rows: Vec<_> = truth.iter().collect();
    rows.sort_by(|a, b| a.starts_in_secs.total_cmp(&b.starts_in_secs));
    for m in rows {
        let i = tasks.iter().position(|t| t.ami_id.as_deref() == Some(&m.ami) && t.is_in_progress());
        let p = i.and_then(|i| data.task_plan(i as u32));
        let start = i.and_then(|i| tasks[i].start_time).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default();
        let (ps, pe) = p.map_or((f64::NAN, f64::NAN), |p| (p.starts_in_min, p.done_in_min));
        println!(
            "  {} {start} {:>4} {:>3}% | {:>7.1} {:>7.1} | {:>7.1} {:>7.1} | {}{}",
            m.ami,
            m.size_gb,
            m.progress,
            m.starts_in_secs / 60.0,
            m.ends_in_secs / 60.0,
            ps,
            pe,
            if m.will_fail { "F" } else { "" },
            if m.deregistered { "D" } else { "" }
        );
    }
    if let Some(b) = data.plan.basis {
        println!("  basis: {:.2} GB/min over {} polls, {:.0} GB left", b.gb_per_min, b.polls, b.gb_left);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// What the endpoint and the client are allowed to differ on, in one run.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    /// The endpoint's exports fail as the scenario says (else none fails).
    failures: bool,
    /// The client is told the size of every AMI, the deregistered ones' too.
    every_size: bool,
}

/// The figures of one variant over every seed.
#[derive(Default)]
struct Figures {
    checks: usize,
    old_err: Vec<f64>,
    new_err: Vec<f64>,
    old_none: usize,
    new_none: usize,
    sized_new: Vec<f64>,
    sized_old: Vec<f64>,
    sized_old_none: usize,
    starts_err: Vec<f64>,
    starts_none: usize,
    next_err: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let variants = [
        Variant { name: "as is", failures: true, every_size: false },
        Variant { name: "no failures", failures: false, every_size: false },
        Variant { name: "every size known", failures: true, every_size: true },
        Variant { name: "neither", failures: false, every_size: true },
    ];
    let mut all = Vec::new();
    for v in variants {
        let f = measure(v).await;
        if v.name == "as is" {
            print_all_done(&f);
        }
        all.push((v, f));
    }
    println!();
    println!("Queued tasks at the checkpoints (sized, two minutes or more from starting): `starts in`");
    println!(
        "| endpoint, client | tasks | median error | worst error | within 15% | no figure | next to start: median, within 15% |"
    );
    println!("|---|---|---|---|---|---|---|");
    let within = |v: &[f64]| v.iter().filter(|e| **e <= 15.0).count();
    let worst = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    for (v, f) in &all {
        let n = f.starts_err.len() + f.starts_none;
        let (sm, sw) = (median(&mut f.starts_err.clone()), worst(&f.starts_err));
        let (xm, k) = (median(&mut f.next_err.clone()), f.next_err.len());
        println!(
            "| {} | {n} | {sm:.0}% | {sw:.0}% | {} of {n} | {} of {n} | {xm:.0}%, {} of {k} |",
            v.name,
            within(&f.starts_err),
            f.starts_none,
            within(&f.next_err)
        );
    }
    println!();
    println!("`all done`, sizes and throughput, where it gives a figure");
    println!("| endpoint, client | checkpoints | median error | worst error | within 15% | no figure |");
    println!("|---|---|---|---|---|---|");
    for (v, f) in &all {
        let (nm, nw) = (median(&mut f.new_err.clone()), worst(&f.new_err));
        println!(
            "| {} | {} | {nm:.0}% | {nw:.0}% | {} of {} | {} of {} |",
            v.name,
            f.checks,
            within(&f.new_err),
            f.new_err.len(),
            f.new_none,
            f.checks
        );
    }
}

/// The archives of every seed through the endpoint and the dashboard's derivation.
async fn measure(variant: Variant) -> Figures {
    let mut fig = Figures::default();
    let Figures {
        checks,
        old_err,
        new_err,
        old_none,
        new_none,
        sized_new,
        sized_old,
        sized_old_none,
        starts_err,
        starts_none,
        next_err,
    } = &mut fig;
    for seed in SEEDS {
        let config = SimConfig {
            tasks: 50,
            moving: Some(50),
            seed,
            frozen: true,
            gb_per_sec: Some(0.05),
            store_quota_gb: Some(600),
            will_fail_percent: (!variant.failures).then_some(0),
            ..SimConfig::default()
        };
        let h = sim::start(([127, 0, 0, 1], 0).into(), config).await.expect("endpoint");
        let opts = ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), ..ClientOptions::default() };
        let ec2 = connect_embedded_as(h.url(), &opts, sim::DEMO_KEY, "us-east-1");
        // When the endpoint ends its last export, in seconds from now.
        let truth = h.in_progress("us-east-1").iter().map(|m| m.ends_in_secs).fold(0.0, f64::max);
        let mut deriver = Deriver::with_quota(600);
        let mut named = false;
        let start = Utc::now();
        let mut elapsed = 0.0;
        while elapsed < truth {
            let f = ec2::fetch_all(&ec2, &ec2::Selection::default(), &ec2::Paging::default()).await.expect("fetch");
            if !named {
                let mut ids: Vec<String> =
                    f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
                ids.sort();
                ids.dedup();
                let lookup = ec2::images::look_up(&ec2, &ids).await;
                let missing: Vec<String> =
                    ids.iter().filter(|id| !lookup.found.iter().any(|i| *i.id == ***id)).cloned().collect();
                let mut found: Vec<Arc<AmiInfo>> = lookup.found.into_iter().map(Arc::new).collect();
                let mut missing = missing;
                if variant.every_size {
                    // What the client cannot know: the size of a deregistered AMI, from the
                    // endpoint's truth (every export of the archive is in progress at the start).
                    found.retain(|i| {
                        i.size_gib().is_some() && !matches!(i.image_state(), Some(ImageState::Deregistered))
                    });
                    for m in h.in_progress("us-east-1") {
                        if !found.iter().any(|i| *i.id == *m.ami) {
                            let volumes =
                                vec![Volume { device: None, snapshot: None, size_gib: i32::try_from(m.size_gb).ok() }];
                            found.push(Arc::new(AmiInfo { id: m.ami.as_str().into(), volumes, ..AmiInfo::default() }));
                        }
                    }
                    missing.clear();
                }
                deriver.apply(PollEvent::Names { found, missing });
                named = true;
            }
            let at = start + chrono::Duration::seconds(elapsed as i64);
            let snapshot = Arc::new(Snapshot { tasks: f.tasks.into(), fetched_at: at, next_token: None });
            let ev =
                PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(STEP_SECS), slowed: false, requests: 1 };
            let checkpoint = elapsed >= 900.0 && (elapsed as u64 - 900).is_multiple_of(1800);
            if let (Some(FeedEvent::Data { data, .. }), true) = (deriver.apply(ev), checkpoint) {
                let left = truth - elapsed;
                let (old, new) = estimates(&data);
                if std::env::var_os("SIDE_BY_SIDE").is_some()
                    && seed == 1
                    && variant.name == "as is"
                    && elapsed as u64 <= 2700
                {
                    side_by_side(&h.in_progress("us-east-1"), &data, elapsed);
                }
                let mut next: Option<(f64, Option<f64>)> = None;
                for m in h
                    .in_progress("us-east-1")
                    .iter()
                    .filter(|m| m.starts_in_secs >= 120.0 && (variant.every_size || !m.deregistered))
                {
                    let tasks = data.tasks();
                    let i = tasks.iter().position(|t| t.ami_id.as_deref() == Some(&m.ami) && t.is_in_progress());
                    let plan = i.and_then(|i| data.task_plan(i as u32)).filter(|_| data.plan.basis.is_some());
                    let err =
                        plan.map(|p| (p.starts_in_min * 60.0 - m.starts_in_secs).abs() / m.starts_in_secs * 100.0);
                    match err {
                        Some(e) => starts_err.push(e),
                        None => *starts_none += 1,
                    }
                    if next.is_none_or(|(at, _)| m.starts_in_secs < at) {
                        next = Some((m.starts_in_secs, err));
                    }
                }
                if let Some((_, Some(e))) = next {
                    next_err.push(e);
                }
                *checks += 1;
                if let (Some(_), Some(n)) = (data.plan.all_done_in_min, new) {
                    sized_new.push((n - left).abs() / left * 100.0);
                    match old {
                        Some(o) => sized_old.push((o - left).abs() / left * 100.0),
                        None => *sized_old_none += 1,
                    }
                }
                match old {
                    Some(o) => old_err.push((o - left).abs() / left * 100.0),
                    None => *old_none += 1,
                }
                if let Some(n) = new.filter(|n| {
                    (n - left).abs() / left > 10.0
                        && variant.name == "as is"
                        && std::env::var_os("SIDE_BY_SIDE").is_some()
                }) {
                    // An outlier: what the plan stood on.
                    eprintln!(
                        "outlier: seed {seed} at {:.0} min: all done in {:.1} min, the endpoint ends in {:.1} (plan's own: {:?}, {:?})",
                        elapsed / 60.0,
                        n / 60.0,
                        left / 60.0,
                        data.plan.all_done_in_min,
                        data.plan.basis
                    );
                    side_by_side(&h.in_progress("us-east-1"), &data, elapsed);
                }
                match new {
                    Some(n) => new_err.push((n - left).abs() / left * 100.0),
                    None => *new_none += 1,
                }
            }
            h.advance(Duration::from_secs(STEP_SECS));
            elapsed += STEP_SECS as f64;
        }
        eprintln!("{}, seed {seed}: the archive took {:.1} h", variant.name, truth / 3600.0);
    }
    fig
}

/// The `all done` tables: today's per-task method and the one from sizes and throughput.
fn print_all_done(f: &Figures) {
    let worst = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let checks = f.checks;
    println!("{checks} checkpoints over {} archives of 50 AMIs", SEEDS.count());
    println!("| method | median error | worst error | no figure |");
    println!("|---|---|---|---|");
    let (om, ow) = (median(&mut f.old_err.clone()), worst(&f.old_err));
    let (nm, nw) = (median(&mut f.new_err.clone()), worst(&f.new_err));
    println!("| per task (today's) | {om:.0}% | {ow:.0}% | {} of {checks} |", f.old_none);
    println!("| sizes and throughput | {nm:.0}% | {nw:.0}% | {} of {checks} |", f.new_none);
    let n = f.sized_new.len();
    println!();
    println!("{n} checkpoints where every AMI in progress had a known size");
    println!("| method | median error | worst error | no figure |");
    println!("|---|---|---|---|");
    let (om, ow) = (median(&mut f.sized_old.clone()), worst(&f.sized_old));
    let (nm, nw) = (median(&mut f.sized_new.clone()), worst(&f.sized_new));
    println!("| per task (today's) | {om:.0}% | {ow:.0}% | {} of {n} |", f.sized_old_none);
    println!("| sizes and throughput | {nm:.0}% | {nw:.0}% | 0 of {n} |");
}
