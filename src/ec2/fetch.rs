//! The complete, paginated fetch of store-image tasks, within the API's rules.

use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;

use super::client::Ec2;
use super::error::{ErrorKind, FetchError};
use crate::task::{StoreTask, TaskState};

/// The service's limit of AMI IDs per request.
pub const IMAGE_IDS_PER_REQUEST: usize = 20;
/// The service's largest page.
pub const MAX_PAGE_SIZE: i32 = 200;

/// Which tasks to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub image_ids: Vec<String>,
    pub states: Vec<TaskState>,
    pub buckets: Vec<String>,
}

impl Selection {
    /// Whether a task passes the state and bucket filters (the AMI IDs are the service's job).
    pub fn matches(&self, t: &StoreTask) -> bool {
        (self.states.is_empty() || t.state.as_ref().is_some_and(|s| self.states.contains(s)))
            && (self.buckets.is_empty() || t.bucket.as_ref().is_some_and(|b| self.buckets.contains(b)))
    }

    fn filters(&self) -> Vec<Filter> {
        let mut f = Vec::new();
        if !self.states.is_empty() {
            f.push(
                Filter::builder()
                    .name("task-state")
                    .set_values(Some(self.states.iter().map(|s| s.as_wire().to_string()).collect()))
                    .build(),
            );
        }
        if !self.buckets.is_empty() {
            f.push(Filter::builder().name("bucket").set_values(Some(self.buckets.clone())).build());
        }
        f
    }
}

/// How to page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// 1..=200 tasks a request.
    pub page_size: i32,
    /// Stop after this many tasks and report where to resume.
    pub max_items: Option<usize>,
    /// Resume from a token a previous `max_items` run reported.
    pub starting_token: Option<String>,
}

impl Default for Paging {
    fn default() -> Self {
        Self { page_size: MAX_PAGE_SIZE, max_items: None, starting_token: None }
    }
}

/// Everything one fetch returned.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// In the order the service returned them.
    pub tasks: Vec<StoreTask>,
    /// Set when `max_items` cut the list: pass it as the starting token to go on.
    pub next_token: Option<String>,
    pub requests: u32,
    pub took: Duration,
}

/// Reads every selected task, following `NextToken` to the last page. Any failed page fails
/// the whole fetch: a partial list is never returned as if complete.
pub async fn fetch_all(ec2: &Ec2, sel: &Selection, paging: &Paging) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let mut out =
        if sel.image_ids.is_empty() { fetch_pages(ec2, sel, paging).await? } else { fetch_by_ids(ec2, sel).await? };
    out.took = started.elapsed();
    Ok(out)
}

async fn fetch_pages(ec2: &Ec2, sel: &Selection, paging: &Paging) -> Result<Fetched, FetchError> {
    let filters = sel.filters();
    let mut out = Fetched::default();
    let mut token = paging.starting_token.clone();
    loop {
        // Ask for no more than max_items still needs, so a cut always falls on a page
        // boundary and the service's own token resumes exactly there.
        let want = match paging.max_items {
            Some(max) => (max - out.tasks.len()).min(paging.page_size as usize) as i32,
            None => paging.page_size,
        };
        let resp = ec2
            .client
            .describe_store_image_tasks()
            .set_filters((!filters.is_empty()).then(|| filters.clone()))
            .max_results(want)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| FetchError::from_sdk(&e))?;
        out.requests += 1;
        out.tasks.extend(resp.store_image_task_results().iter().map(StoreTask::from_sdk));
        let next = resp.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        match next {
            None => break,
            Some(t) if paging.max_items.is_some_and(|m| out.tasks.len() >= m) => {
                out.next_token = Some(t);
                break;
            }
            Some(t) => token = Some(t),
        }
    }
    Ok(out)
}

async fn fetch_by_ids(ec2: &Ec2, sel: &Selection) -> Result<Fetched, FetchError> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = sel.image_ids.iter().filter(|i| seen.insert(*i)).cloned().collect();
    let mut out = Fetched::default();
    for chunk in ids.chunks(IMAGE_IDS_PER_REQUEST) {
        let mut token = None;
        loop {
            // No MaxResults with ImageIds: the service refuses the combination.
            let resp = ec2
                .client
                .describe_store_image_tasks()
                .set_image_ids(Some(chunk.to_vec()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| FetchError::from_sdk(&e))?;
            out.requests += 1;
            // The service ignores filters when IDs are given: apply them here.
            out.tasks
                .extend(resp.store_image_task_results().iter().map(StoreTask::from_sdk).filter(|t| sel.matches(t)));
            match resp.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
    }
    Ok(out)
}

/// The regions the account has enabled (`DescribeRegions`), sorted.
pub async fn enabled_regions(ec2: &Ec2) -> Result<Vec<String>, FetchError> {
    let resp = ec2.client.describe_regions().send().await.map_err(|e| FetchError::from_sdk(&e))?;
    let mut names: Vec<String> = resp.regions().iter().filter_map(|r| r.region_name().map(str::to_string)).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The outcome of a `DryRun` permission check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    Denied(String),
}

/// Asks the service whether the caller may call `DescribeStoreImageTasks`, reading no data.
pub async fn check_permission(ec2: &Ec2) -> Result<Permission, FetchError> {
    let res = ec2.client.describe_store_image_tasks().dry_run(true).send().await;
    match res {
        Ok(_) => Ok(Permission::Allowed),
        Err(e) => match e.as_service_error().and_then(|se| se.code()) {
            Some("DryRunOperation") => Ok(Permission::Allowed),
            Some("UnauthorizedOperation") => {
                let msg = e.as_service_error().and_then(|se| se.message()).unwrap_or_default();
                Ok(Permission::Denied(msg.to_string()))
            }
            _ => {
                let err = FetchError::from_sdk(&e);
                if err.kind == ErrorKind::Unauthorized { Ok(Permission::Denied(err.detail)) } else { Err(err) }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, bucket: &str) -> StoreTask {
        StoreTask { state: Some(state), bucket: Some(bucket.into()), ..StoreTask::default() }
    }

    #[test]
    fn selection_matches_states_or_ed_and_buckets_and_ed() {
        let sel = Selection {
            image_ids: vec![],
            states: vec![TaskState::Failed, TaskState::Completed],
            buckets: vec!["a".into()],
        };
        assert!(sel.matches(&task(TaskState::Failed, "a")));
        assert!(sel.matches(&task(TaskState::Completed, "a")));
        assert!(!sel.matches(&task(TaskState::InProgress, "a")));
        assert!(!sel.matches(&task(TaskState::Failed, "b")));
        assert!(!sel.matches(&StoreTask::default()));
        assert!(Selection::default().matches(&StoreTask::default()));
    }
}
