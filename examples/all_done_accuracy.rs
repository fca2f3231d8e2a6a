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
//! actually ends its last export.

use std::sync::Arc;
use std::time::Duration;

use amiwatch::app::{Deriver, FeedData, FeedEvent};
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, PollEvent, Snapshot};
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

#[tokio::main]
async fn main() {
    let (mut old_err, mut new_err, mut old_none, mut new_none, mut checks) = (Vec::new(), Vec::new(), 0, 0, 0);
    // Where the new method stands on sizes alone (every AMI in progress has a known size).
    let (mut sized_new, mut sized_old, mut sized_old_none) = (Vec::new(), Vec::new(), 0);
    for seed in SEEDS {
        let config = SimConfig {
            tasks: 50,
            moving: Some(50),
            seed,
            frozen: true,
            gb_per_sec: Some(0.05),
            store_quota_gb: Some(600),
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
                let missing = ids.iter().filter(|id| !lookup.found.iter().any(|i| *i.id == ***id)).cloned().collect();
                deriver.apply(PollEvent::Names { found: lookup.found.into_iter().map(Arc::new).collect(), missing });
                named = true;
            }
            let at = start + chrono::Duration::seconds(elapsed as i64);
            let snapshot = Arc::new(Snapshot { tasks: f.tasks, fetched_at: at, next_token: None });
            let ev =
                PollEvent::Snapshot { snapshot, next_in: Duration::from_secs(STEP_SECS), slowed: false, requests: 1 };
            let checkpoint = elapsed >= 900.0 && (elapsed as u64 - 900).is_multiple_of(1800);
            if let (Some(FeedEvent::Data { data, .. }), true) = (deriver.apply(ev), checkpoint) {
                let left = truth - elapsed;
                let (old, new) = estimates(&data);
                checks += 1;
                if let (Some(_), Some(n)) = (data.plan.all_done_in_min, new) {
                    sized_new.push((n - left).abs() / left * 100.0);
                    match old {
                        Some(o) => sized_old.push((o - left).abs() / left * 100.0),
                        None => sized_old_none += 1,
                    }
                }
                match old {
                    Some(o) => old_err.push((o - left).abs() / left * 100.0),
                    None => old_none += 1,
                }
                match new {
                    Some(n) => new_err.push((n - left).abs() / left * 100.0),
                    None => new_none += 1,
                }
            }
            h.advance(Duration::from_secs(STEP_SECS));
            elapsed += STEP_SECS as f64;
        }
        eprintln!("seed {seed}: the archive took {:.1} h", truth / 3600.0);
    }
    let worst = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    println!("{checks} checkpoints over {} archives of 50 AMIs", SEEDS.count());
    println!("| method | median error | worst error | no figure |");
    println!("|---|---|---|---|");
    let (om, ow) = (median(&mut old_err.clone()), worst(&old_err));
    let (nm, nw) = (median(&mut new_err.clone()), worst(&new_err));
    println!("| per task (today's) | {om:.0}% | {ow:.0}% | {old_none} of {checks} |");
    println!("| sizes and throughput | {nm:.0}% | {nw:.0}% | {new_none} of {checks} |");
    let n = sized_new.len();
    println!();
    println!("{n} checkpoints where every AMI in progress had a known size");
    println!("| method | median error | worst error | no figure |");
    println!("|---|---|---|---|");
    let (om, ow) = (median(&mut sized_old.clone()), worst(&sized_old));
    let (nm, nw) = (median(&mut sized_new.clone()), worst(&sized_new));
    println!("| per task (today's) | {om:.0}% | {ow:.0}% | {sized_old_none} of {n} |");
    println!("| sizes and throughput | {nm:.0}% | {nw:.0}% | 0 of {n} |");
}
