//! The complete, paginated fetch of store-image tasks, within the API's rules.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;

use super::client::Ec2;
use super::error::{ErrorKind, FetchError};
use crate::task::{StoreTask, TaskKey, TaskState};

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
            && (self.buckets.is_empty() || t.bucket.as_deref().is_some_and(|b| self.buckets.iter().any(|s| s == b)))
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
    /// A full listing (a sweep's answer, or a fast poll that had to read everything).
    pub complete: bool,
    /// Attempts the service throttled (HTTP 503) on the way, retried by the SDK: a sign to
    /// poll less often.
    pub throttled: u32,
    /// In the order the service returned them.
    pub tasks: Vec<StoreTask>,
    /// Set when `max_items` cut the list: pass it as the starting token to go on.
    pub next_token: Option<String>,
    pub requests: u32,
    pub took: Duration,
}

/// Pages no real listing needs: 100,000 pages are 20 million tasks at 200 a page (the service
/// keeps 31 days), or 100,000 at `--page-size 1`. A server that goes past it never ends.
pub const MAX_PAGES: u32 = 100_000;

/// Tasks one listing of one feed may hold. The service keeps 31 days, and at most about
/// 600 GB of AMIs are stored at a time, each export taking minutes to hours: a million tasks
/// would be an export started every 2.7 s around the clock for a month, far beyond any real
/// account. Past it the server is broken or hostile, and the listing ends with an error.
pub const MAX_LISTING_TASKS: usize = 1_000_000;
/// Memory one listing may hold (the tasks, their text, and what is kept to drop repeats), a
/// bound on server-sized fields: a million tasks of the usual size hold about 300 MiB. With
/// the page being read and the last snapshot, the process stays under 1.5 GiB.
pub const MAX_LISTING_BYTES: usize = 512 * 1024 * 1024;

/// How much one listing may hold, whatever the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub tasks: usize,
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { tasks: MAX_LISTING_TASKS, bytes: MAX_LISTING_BYTES }
    }
}

/// Reads every selected task, following `NextToken` to the last page. Any failed page fails
/// the whole fetch: a partial list is never returned as if complete. A token the server sent
/// before (a loop) or pages past [`MAX_PAGES`] end the fetch with an error, not silently.
pub async fn fetch_all(ec2: &Ec2, sel: &Selection, paging: &Paging) -> Result<Fetched, FetchError> {
    fetch_all_within(ec2, sel, paging, Limits::default()).await
}

/// [`fetch_all`] within other limits than a real account's (tests use small ones): past
/// them the listing ends with an error, whatever the pages say.
pub async fn fetch_all_within(
    ec2: &Ec2,
    sel: &Selection,
    paging: &Paging,
    limits: Limits,
) -> Result<Fetched, FetchError> {
    timed(ec2, async {
        let out = if sel.image_ids.is_empty() {
            fetch_pages(ec2, sel, paging, limits).await
        } else {
            fetch_by_ids(ec2, sel, limits).await
        };
        out.map(|f| Fetched { complete: true, ..f })
    })
    .await
}

/// Only what can change since the last poll, where `running` are the tasks in progress then:
/// the tasks in progress now (the service's own `task-state` filter), and the latest task of
/// each AMI of `running` not among them, 20 AMIs a request, so a task that just ended is seen
/// with its final state and reason.
///
/// With `--image-id`, the latest task of every watched AMI (20 a request): few AMIs, cheap,
/// and exact, so a new export of a watched AMI shows at once even when nothing was running,
/// and every fast poll is a request answered (never "updated" with nothing asked).
///
/// When a task of `running` can be seen neither way (its AMI has a newer export, and a
/// listing by AMI returns only the latest), its end can only be read from a full listing: the
/// answer is then a full fetch, marked `complete`.
pub async fn fetch_changes(
    ec2: &Ec2,
    sel: &Selection,
    running: &[TaskKey],
    total: usize,
    paging: &Paging,
) -> Result<Fetched, FetchError> {
    // A fast poll is never dearer than a sweep: when the tasks in progress are so many of all
    // that the listing of them and the look-up of those that ended could cost as many requests
    // as reading everything, read everything.
    if !sel.image_ids.is_empty() {
        return fetch_all(ec2, sel, paging).await;
    }
    let page = paging.page_size.max(1) as usize;
    let worst = running.len().div_ceil(page) + running.len().div_ceil(IMAGE_IDS_PER_REQUEST);
    if worst >= total.div_ceil(page) {
        return fetch_all(ec2, sel, paging).await;
    }
    timed(ec2, async {
        let moving = Selection { states: vec![TaskState::InProgress], ..sel.clone() };
        let paging_moving = Paging { page_size: paging.page_size, ..Paging::default() };
        let mut out = fetch_pages(ec2, &moving, &paging_moving, Limits::default()).await?;
        let listed: HashSet<&str> = out.tasks.iter().filter_map(|t| t.ami_id.as_deref()).collect();
        let mut asked: HashSet<&str> = HashSet::new();
        let ended: Vec<String> = running
            .iter()
            .filter_map(|k| k.ami_id.as_deref())
            .filter(|ami| !listed.contains(ami) && asked.insert(ami))
            .map(str::to_string)
            .collect();
        if !ended.is_empty() {
            let by_id = Selection { image_ids: ended, ..sel.clone() };
            let f = fetch_by_ids(ec2, &by_id, Limits::default()).await?;
            out.requests += f.requests;
            out.tasks.extend(f.tasks);
        }
        let seen: HashSet<TaskKey> = out.tasks.iter().map(StoreTask::key).collect();
        if running.iter().any(|k| !seen.contains(k)) {
            let requests = out.requests;
            let full = fetch_pages(ec2, sel, paging, Limits::default()).await?;
            out = Fetched { requests: requests + full.requests, complete: true, ..full };
        }
        Ok(out)
    })
    .await
}

/// Runs a fetch, timing it and counting the throttled attempts it met.
async fn timed(
    ec2: &Ec2,
    fetch: impl std::future::Future<Output = Result<Fetched, FetchError>>,
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let throttled_before = ec2.throttled();
    let mut out = fetch.await.map_err(|e| e.at(&ec2.endpoint))?;
    out.took = started.elapsed();
    out.throttled = ec2.throttled().wrapping_sub(throttled_before);
    Ok(out)
}

/// Guards one listing against a server whose pages never end.
#[derive(Default)]
pub(super) struct PageGuard {
    /// A hash of each token seen, not the token: a server's tokens can be megabytes each.
    tokens: HashSet<u64>,
    pages: u32,
}

impl PageGuard {
    /// Accepts the next page's token, or says why the listing must stop.
    pub(super) fn next(&mut self, token: &str) -> Result<(), FetchError> {
        self.pages += 1;
        if self.pages >= MAX_PAGES {
            let why = format!("more than {MAX_PAGES} pages");
            return Err(FetchError::new(ErrorKind::EndlessListing, why));
        }
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(token, &mut h);
        if !self.tokens.insert(std::hash::Hasher::finish(&h)) {
            let why = format!("the server sent a pagination token it had sent before, after {} pages", self.pages);
            return Err(FetchError::new(ErrorKind::EndlessListing, why));
        }
        Ok(())
    }
}

/// Tasks as they arrive, each exact duplicate once: a task started while the listing is paged
/// shifts the newest-first list by one, and the last task of a page comes again on the next.
/// Within [`Limits`]: past them, the listing ends with an error.
#[derive(Default)]
struct Collected {
    tasks: Vec<StoreTask>,
    seen: HashMap<TaskKey, Vec<usize>>,
    limits: Limits,
    /// What the tasks kept so far hold, as [`held`] counts it.
    bytes: usize,
}

/// About the memory one kept task holds: the task, its text, and its key (the AMI ID again)
/// with its place, kept to drop repeats.
fn held(t: &StoreTask) -> usize {
    let text = |s: &Option<std::sync::Arc<str>>| s.as_deref().map_or(0, str::len);
    let state = match &t.state {
        Some(TaskState::Other(s)) => s.len(),
        _ => 0,
    };
    std::mem::size_of::<StoreTask>()
        + std::mem::size_of::<TaskKey>()
        + std::mem::size_of::<Vec<usize>>()
        + 2 * text(&t.ami_id)
        + text(&t.bucket)
        + text(&t.object_key)
        + text(&t.failure_reason)
        + state
}

impl Collected {
    fn new(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    fn push(&mut self, t: StoreTask) -> Result<(), FetchError> {
        let same = self.seen.entry(t.key()).or_default();
        if same.iter().any(|&i| self.tasks[i] == t) {
            return Ok(());
        }
        same.push(self.tasks.len());
        self.bytes += held(&t);
        self.tasks.push(t);
        let l = self.limits;
        if self.tasks.len() > l.tasks {
            let why = format!("more than {} tasks in one listing", thousands(l.tasks));
            return Err(FetchError::new(ErrorKind::ListingTooLarge, why));
        }
        if self.bytes > l.bytes {
            let why = format!(
                "more than {} MiB of tasks in one listing, after {} tasks",
                l.bytes / (1024 * 1024),
                thousands(self.tasks.len())
            );
            return Err(FetchError::new(ErrorKind::ListingTooLarge, why));
        }
        Ok(())
    }
}

/// 1000000 as "1,000,000".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn fetch_pages(ec2: &Ec2, sel: &Selection, paging: &Paging, limits: Limits) -> Result<Fetched, FetchError> {
    let filters = sel.filters();
    let mut out = Fetched::default();
    let mut got = Collected::new(limits);
    let mut guard = PageGuard::default();
    let mut token = paging.starting_token.clone();
    loop {
        // Ask for no more than max_items still needs, so a cut always falls on a page
        // boundary and the service's own token resumes exactly there.
        let want = match paging.max_items {
            Some(max) => max.saturating_sub(got.tasks.len()).clamp(1, paging.page_size as usize) as i32,
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
        for t in resp.store_image_task_results().iter().map(StoreTask::from_sdk) {
            got.push(t)?;
        }
        let next = resp.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        match next {
            None => break,
            Some(t) if paging.max_items.is_some_and(|m| got.tasks.len() >= m) => {
                out.next_token = Some(t);
                break;
            }
            Some(t) => {
                guard.next(&t)?;
                token = Some(t);
            }
        }
    }
    out.tasks = got.tasks;
    // A server that sends more than was asked for never makes --max-items print more.
    if let Some(max) = paging.max_items {
        out.tasks.truncate(max);
    }
    Ok(out)
}

async fn fetch_by_ids(ec2: &Ec2, sel: &Selection, limits: Limits) -> Result<Fetched, FetchError> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = sel.image_ids.iter().filter(|i| seen.insert(*i)).cloned().collect();
    let mut out = Fetched::default();
    let mut got = Collected::new(limits);
    for chunk in ids.chunks(IMAGE_IDS_PER_REQUEST) {
        let mut token = None;
        let mut guard = PageGuard::default();
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
            for t in resp.store_image_task_results().iter().map(StoreTask::from_sdk).filter(|t| sel.matches(t)) {
                got.push(t)?;
            }
            match resp.next_token().filter(|t| !t.is_empty()) {
                Some(t) => {
                    guard.next(t)?;
                    token = Some(t.to_string());
                }
                None => break,
            }
        }
    }
    out.tasks = got.tasks;
    Ok(out)
}

/// The regions the account has enabled (`DescribeRegions`), sorted.
pub async fn enabled_regions(ec2: &Ec2) -> Result<Vec<String>, FetchError> {
    let resp = ec2.client.describe_regions().send().await.map_err(|e| FetchError::from_sdk(&e).at(&ec2.endpoint))?;
    let mut names: Vec<String> = resp.regions().iter().filter_map(|r| r.region_name().map(str::to_string)).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// An AMI of the account's own exports, to check a write on (the latest task's, one not in
/// progress when there is one); `None` when there is none or the tasks cannot be read. One
/// request of at most 5 tasks.
pub async fn sample_ami(ec2: &Ec2) -> Option<String> {
    let resp = ec2.client.describe_store_image_tasks().max_results(5).send().await.ok()?;
    let tasks: Vec<StoreTask> = resp.store_image_task_results().iter().map(StoreTask::from_sdk).collect();
    let usable = |t: &&StoreTask| t.ami_id.as_deref().is_some_and(crate::task::is_ami_id);
    let pick = tasks.iter().filter(usable).find(|t| !t.is_in_progress()).or_else(|| tasks.iter().find(usable))?;
    pick.ami_id.as_deref().map(str::to_string)
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
            _ => {
                let err = FetchError::from_sdk(&e).at(&ec2.endpoint);
                // The detail is the server's words, made safe and bounded.
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

    #[test]
    fn a_repeated_token_or_too_many_pages_stop_the_listing() {
        let mut g = PageGuard::default();
        assert!(g.next("a").is_ok() && g.next("b").is_ok());
        let e = g.next("a").unwrap_err();
        assert_eq!(e.kind, ErrorKind::EndlessListing);
        assert!(e.summary().contains("token it had sent before"), "{}", e.summary());
        let mut g = PageGuard::default();
        let stopped = (0..MAX_PAGES + 5).map(|n| g.next(&n.to_string())).position(|r| r.is_err());
        assert_eq!(stopped, Some(MAX_PAGES as usize - 1));
    }

    #[test]
    fn exact_duplicates_are_kept_once_and_distinct_tasks_all() {
        let mut c = Collected::new(Limits::default());
        let t = task(TaskState::InProgress, "a");
        c.push(t.clone()).unwrap();
        c.push(t.clone()).unwrap();
        c.push(task(TaskState::Failed, "a")).unwrap(); // same key, other facts: a different answer, kept
        c.push(StoreTask::default()).unwrap();
        c.push(StoreTask::default()).unwrap();
        assert_eq!(c.tasks.len(), 3);
    }

    #[test]
    fn a_listing_past_its_tasks_or_bytes_ends_with_an_error_that_names_the_bound() {
        let t = |n: usize, reason: usize| StoreTask {
            ami_id: Some(format!("ami-{n:08x}").into()),
            failure_reason: Some("x".repeat(reason).into()),
            ..StoreTask::default()
        };
        let mut c = Collected::new(Limits { tasks: 3, bytes: usize::MAX });
        assert!((0..3).all(|n| c.push(t(n, 0)).is_ok()));
        let e = c.push(t(3, 0)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ListingTooLarge);
        assert!(e.summary().contains("more than 3 tasks") && e.summary().contains("31 days"), "{}", e.summary());
        c.push(t(4, 0)).unwrap_err(); // still past it: nothing more is kept quietly
        let mut c = Collected::new(Limits { tasks: 1_000_000, bytes: 3 * 1024 * 1024 });
        let e = (0..10).map(|n| c.push(t(n, 1024 * 1024))).find_map(Result::err).unwrap();
        assert!(
            e.summary().contains("more than 3 MiB of tasks") && e.summary().contains("after 3 tasks"),
            "{}",
            e.summary()
        );
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }
}
