//! The plan as the dashboard's one feed: each poll is one step of the runner, and its answer
//! is the plan's AMIs as rows (the plan's exports as the service tells them, and the AMIs not
//! started yet in the local `Queued` state). One poll loop: the poller's schedule drives the
//! runner, and the dashboard reads nothing the runner does not.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Mutex, watch};

use super::plan::{Entry, Plan, Status};
use super::runner::{Ec2Service, FileStore, Runner, StepError};
use crate::ec2::poller::{Answer, Ask, Source};
use crate::ec2::{ErrorKind, FetchError, Fetched};
use crate::image::{AmiInfo, Volume};
use crate::task::{StoreTask, TaskState};

/// What the dashboard shows of the plan beside its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanStatus {
    /// `plan: 12 of 40 stored · 3 in flight · 25 queued · 1 cannot be stored · 420 of 600 GB in flight`.
    pub line: String,
    /// Every AMI has reached its end.
    pub done: bool,
    /// What the last step did, one line each (toasts).
    pub news: Vec<String>,
    /// How many steps have run: a new value is news even when the text is the same.
    pub steps: u64,
}

pub type PlanRunner = Runner<Ec2Service, FileStore>;

/// The runner behind a poller.
pub struct PlanSource {
    runner: Mutex<PlanRunner>,
    status: watch::Sender<PlanStatus>,
}

impl PlanSource {
    pub fn new(runner: PlanRunner) -> (Arc<Self>, watch::Receiver<PlanStatus>) {
        let (tx, rx) = watch::channel(status_of(&runner, Vec::new(), 0));
        (Arc::new(Self { runner: Mutex::new(runner), status: tx }), rx)
    }

    /// The plan as it stands (what the exit code and the last lines are made of).
    pub async fn plan(&self) -> Plan {
        self.runner.lock().await.plan.clone()
    }
}

fn status_of(r: &PlanRunner, news: Vec<String>, steps: u64) -> PlanStatus {
    let mut line = super::command::status_line(r);
    if let Some(why) = &r.halted {
        line.push_str(&format!(" · stopped starting: {why}"));
    }
    PlanStatus { line, done: r.plan.is_done(), news, steps }
}

impl Source for PlanSource {
    fn fetch<'a>(&'a self, _ask: &'a Ask) -> Answer<'a, Fetched> {
        Box::pin(async move {
            let mut r = self.runner.lock().await;
            let before = r.requests;
            let result = r.step(Utc::now()).await;
            let news: Vec<String> =
                std::mem::take(&mut r.events).iter().map(|e| super::command::describe(&r.plan, e)).collect();
            let steps = self.status.borrow().steps + 1;
            let _ = self.status.send(status_of(&r, news, steps));
            match result {
                // Told on the plan's line; the rows still follow what is in flight.
                Ok(()) | Err(StepError::Halted(_)) => {}
                Err(StepError::Read(e)) => return Err(e),
                Err(StepError::Save(why)) => return Err(FetchError::new(ErrorKind::Other, why)),
            }
            Ok(Fetched {
                complete: true,
                tasks: rows(&r),
                requests: (r.requests - before) as u32,
                ..Fetched::default()
            })
        })
    }

    fn gives_names(&self) -> bool {
        true
    }

    /// The plan knows its AMIs' names and sizes: no request.
    fn names<'a>(&'a self, ids: &'a [String]) -> Option<Answer<'a, Vec<AmiInfo>>> {
        Some(Box::pin(async move {
            let r = self.runner.lock().await;
            Ok(ids.iter().filter_map(|id| r.plan.amis.iter().find(|e| &e.ami == id)).map(info_of).collect())
        }))
    }
}

fn info_of(e: &Entry) -> AmiInfo {
    let volumes = e.size_gb.map(|gb| Volume { device: None, snapshot: None, size_gib: i32::try_from(gb).ok() });
    AmiInfo {
        id: e.ami.as_str().into(),
        name: e.name.clone(),
        volumes: volumes.into_iter().collect(),
        ..AmiInfo::default()
    }
}

/// The plan's AMIs as rows, in the plan's order: an export the service told of as it is, one
/// not seen yet as the plan knows it, and one not started as `Queued`.
pub fn rows(r: &PlanRunner) -> Vec<StoreTask> {
    let plan = &r.plan;
    let base = |e: &Entry| StoreTask {
        ami_id: Some(e.ami.as_str().into()),
        bucket: Some(plan.bucket.as_str().into()),
        start_time: e.attempts.last().and_then(|a| a.task_start),
        object_key: e.attempts.last().and_then(|a| a.object_key.as_deref()).map(Into::into),
        ..StoreTask::default()
    };
    plan.amis
        .iter()
        .filter_map(|e| {
            let seen = r.tasks.get(&e.ami).filter(|t| t.start_time.is_some() && t.start_time == base(e).start_time);
            let row = match (&e.status, seen) {
                (Status::CannotStore { .. }, _) => return None,
                (Status::Queued | Status::Starting { .. }, _) if e.attempts.iter().all(|a| a.failed.is_none()) => {
                    StoreTask { state: Some(TaskState::Queued), progress: Some(0), start_time: None, ..base(e) }
                }
                (Status::Queued | Status::Starting { .. }, _) => {
                    // Failed before, waiting to be started again: the failure shows until then.
                    let reason = e.attempts.last().and_then(|a| a.failed.as_deref()).map(Into::into);
                    StoreTask { state: Some(TaskState::Failed), failure_reason: reason, ..base(e) }
                }
                (_, Some(t)) => t.clone(),
                (Status::InFlight, None) => StoreTask {
                    state: Some(TaskState::InProgress),
                    progress: r.progress.get(&e.ami).copied(),
                    ..base(e)
                },
                (Status::Stored, None) => {
                    StoreTask { state: Some(TaskState::Completed), progress: Some(100), ..base(e) }
                }
                (Status::Failed { why }, None) => {
                    StoreTask { state: Some(TaskState::Failed), failure_reason: Some(why.as_str().into()), ..base(e) }
                }
            };
            Some(row)
        })
        .collect()
}
