//! Feeds: one (profile, region) pair each, with its own credentials and client. Every mode
//! (dashboard, `--once`, `--wait`, `--dry-run`) runs on a list of feeds, one or many alike.

use std::sync::Arc;
use std::time::Duration;

use super::client::{self, ClientOptions, Ec2};
use super::error::{ErrorKind, FetchError};
use super::fetch::enabled_regions;

/// Where a feed's tasks come from, for people: the header, a column, JSON and CSV fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedInfo {
    /// The named profile; `None` for the default credential chain.
    pub profile: Option<String>,
    pub region: Option<String>,
    /// The account ID, where the credentials say it.
    pub account: Option<String>,
    /// A custom endpoint, when one is used.
    pub endpoint: Option<String>,
}

impl FeedInfo {
    /// `prod (111122223333) · eu-west-1`; `default · us-east-1` without a profile.
    pub fn label(&self) -> String {
        let who = self.profile.as_deref().unwrap_or("default");
        let who = match &self.account {
            Some(a) => format!("{who} ({a})"),
            None => who.to_string(),
        };
        format!("{who} · {}", self.region.as_deref().unwrap_or("no region"))
    }

    /// The shortest labels that still tell these feeds apart: the region alone when every
    /// feed has the same profile, the profile (and account) alone when they share a region.
    pub fn short_labels(feeds: &[&FeedInfo]) -> Vec<String> {
        let who = |f: &FeedInfo| {
            let p = f.profile.as_deref().unwrap_or("default");
            f.account.as_ref().map_or(p.to_string(), |a| format!("{p} ({a})"))
        };
        let region = |f: &FeedInfo| f.region.clone().unwrap_or_else(|| "no region".into());
        let varies = |k: &dyn Fn(&FeedInfo) -> String| feeds.iter().any(|f| k(f) != k(feeds[0]));
        match (varies(&who), varies(&region)) {
            (false, true) => feeds.iter().map(|f| region(f)).collect(),
            (true, false) => feeds.iter().map(|f| who(f)).collect(),
            _ => feeds.iter().map(|f| f.label()).collect(),
        }
    }

    /// Who, without the region, and the endpoint when it is not AWS's own: what a call made
    /// once per profile (DescribeRegions) is said for.
    pub fn profile_label(&self) -> String {
        let who = self.profile.as_deref().unwrap_or("default");
        let who = match &self.account {
            Some(a) => format!("{who} ({a})"),
            None => who.to_string(),
        };
        match &self.endpoint {
            Some(e) => format!("{who} · {e}"),
            None => who,
        }
    }

    /// The label, and the endpoint when it is not AWS's own: the header of a single feed.
    pub fn long_label(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{} · {e}", self.label()),
            None => self.label(),
        }
    }
}

/// A feed: who it is, and the client that reads it.
#[derive(Debug, Clone)]
pub struct Feed {
    pub info: Arc<FeedInfo>,
    pub ec2: Ec2,
}

/// The account the demo's credentials say they belong to.
pub const DEMO_ACCOUNT: &str = "123456789012";

/// The demo's organisation: two accounts (profile, access key, account ID)...
pub const DEMO_ORG: [(&str, &str, &str); 2] =
    [("demo", crate::sim::DEMO_KEY, DEMO_ACCOUNT), ("demo-dev", crate::sim::DEMO_DEV_KEY, "210987654321")];
/// ...in two regions, so the dashboard's first run shows what several feeds look like.
pub const DEMO_ORG_REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// GB a second each of the demo's exports stores: fast, so that within its first minute the
/// demo shows exports that end and free the store quota, and others that take it again.
pub const DEMO_GB_PER_SEC: f64 = 4.0;
/// Exports more per demo account and region that start within the first hour (as if someone
/// started them), so that the quota keeps filling after it frees.
pub const DEMO_UPCOMING: usize = 30;

/// The demo's endpoint: each demo account sees its own tasks; each export is stored at
/// [`DEMO_GB_PER_SEC`] from its AMI's size; the service holds the store quota the dashboard
/// measures against (`--store-quota`), refusing new exports while it is full, and an export
/// it refused starts when the quota frees, as a script that retries it does.
pub fn demo_config(shape: crate::sim::SimConfig, store_quota_gb: u64) -> crate::sim::SimConfig {
    crate::sim::SimConfig {
        accounts_by_key: true,
        gb_per_sec: Some(DEMO_GB_PER_SEC),
        store_quota_gb: Some(store_quota_gb),
        retry_refused: true,
        upcoming: DEMO_UPCOMING,
        ..shape
    }
}

/// Which feeds to connect: every profile in every region.
#[derive(Debug, Clone, Default)]
pub struct FeedPlan {
    /// Named profiles; empty means the default chain (one feed per region).
    pub profiles: Vec<String>,
    /// Regions; empty means each profile's own configured region.
    pub regions: Vec<String>,
    /// Every region each profile's account has enabled (asks DescribeRegions once per profile).
    pub all_regions: bool,
    /// Regions `--all-regions` leaves out (`--exclude-region`).
    pub exclude_regions: Vec<String>,
    pub options: ClientOptions,
    /// The embedded endpoint of `--demo`: sealed static credentials, no profile.
    pub embedded: Option<String>,
    /// When the whole command must be done (`--max-time`): connecting counts against it.
    pub deadline: Option<Deadline>,
}

/// One deadline for a whole command (`--once`, `--dry-run`): connecting the feeds, listing
/// regions, fetching and looking names up all count against the same `--max-time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: tokio::time::Instant,
    /// The `--max-time` it came from, to name in the message.
    pub max_time: Duration,
}

impl Deadline {
    /// `max_time` from now.
    pub fn after(max_time: Duration) -> Self {
        Self { at: tokio::time::Instant::now() + max_time, max_time }
    }

    /// The error of work the deadline cut short.
    pub fn passed(&self) -> FetchError {
        let why = format!(
            "no complete answer within {} (--max-time)",
            crate::text::duration_short(self.max_time.as_secs() as i64)
        );
        FetchError::new(ErrorKind::OutOfTime, why)
    }

    /// `work`, or `None` when the deadline comes first.
    pub async fn run<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.at, work).await.ok()
    }
}

/// `work` within the deadline, if there is one.
async fn until<T>(deadline: Option<Deadline>, work: impl std::future::Future<Output = T>) -> Option<T> {
    match deadline {
        Some(d) => d.run(work).await,
        None => Some(work.await),
    }
}

/// How long reading a profile's credentials for its account ID may take at start-up.
const ACCOUNT_LOOKUP: Duration = Duration::from_secs(3);

/// Connects every feed of the plan, concurrently, in the order profile x region.
///
/// Nothing here fails: a profile whose credentials are missing or expired still gets its
/// feed, and its poller reports the error, named, beside the other feeds' data. A profile
/// whose regions cannot be listed (`--all-regions`) gets one feed that fails with the cause.
pub async fn connect(plan: &FeedPlan) -> Vec<Feed> {
    let profiles: Vec<Option<String>> = match plan.profiles.as_slice() {
        [] => vec![None],
        p => p.iter().cloned().map(Some).collect(),
    };
    let mut set = tokio::task::JoinSet::new();
    for (n, profile) in profiles.into_iter().enumerate() {
        let plan = plan.clone();
        set.spawn(async move { (n, connect_profile(&plan, profile).await) });
    }
    let mut per_profile = set.join_all().await;
    per_profile.sort_by_key(|(n, _)| *n);
    per_profile.into_iter().flat_map(|(_, feeds)| feeds).collect()
}

/// Makes a profile's client in a region (its own region when `None`).
type MakeClient = dyn Fn(Option<&str>) -> Ec2 + Send + Sync;

/// One profile's feeds. Its credentials are loaded once, and every region client shares
/// them (one provider, one cache); the region clients are made at once, with no call each.
async fn connect_profile(plan: &FeedPlan, profile: Option<String>) -> Vec<Feed> {
    let base = ClientOptions { profile: profile.clone(), ..plan.options.clone() };
    let first_region = plan.regions.first().cloned();
    let mut missing = false;
    let (make, account, endpoint): (Box<MakeClient>, _, _) = match &plan.embedded {
        Some(url) => {
            let (at, opts) = (url.clone(), base.clone());
            let (_, key, account) =
                DEMO_ORG.into_iter().find(|(p, _, _)| profile.as_deref() == Some(*p)).unwrap_or(DEMO_ORG[0]);
            let make =
                move |r: Option<&str>| client::connect_embedded_as(&at, &opts, key, r.unwrap_or(client::DEMO_REGION));
            (Box::new(make), Some(account.to_string()), Some(url.clone()))
        }
        None => {
            let Some(loaded) = until(plan.deadline, client::load_profile(&base)).await else {
                // Still a feed, so the profile is named with the deadline that cut it short.
                let why = plan.deadline.map(|d| d.passed()).unwrap_or_else(|| FetchError::new(ErrorKind::Other, ""));
                let ec2 = Ec2::never_connected(first_region.as_deref(), why);
                let info = FeedInfo { profile, region: first_region, account: None, endpoint: base.endpoint_url };
                return vec![Feed { info: Arc::new(info), ec2 }];
            };
            let (account, none_found) = until(plan.deadline, loaded.account(ACCOUNT_LOOKUP)).await.unwrap_or_default();
            missing = none_found;
            let endpoint = loaded.endpoint_url.clone();
            (Box::new(move |r: Option<&str>| loaded.client(r)), account, endpoint)
        }
    };
    let feed = |mut ec2: Ec2| {
        ec2.credentials_missing = missing;
        let info = FeedInfo {
            profile: match plan.embedded {
                Some(_) => Some(profile.clone().unwrap_or_else(|| DEMO_ORG[0].0.to_string())),
                None => profile.clone(),
            },
            region: ec2.region.clone(),
            account: account.clone(),
            endpoint: endpoint.clone(),
        };
        Feed { info: Arc::new(info), ec2 }
    };
    let first = make(first_region.as_deref());
    let regions = if plan.all_regions {
        // Without a command deadline (the dashboard, --wait), the listing still has a bound,
        // so start-up never waits on a silent server for longer than a minute.
        let listed = match plan.deadline {
            Some(_) => list_regions(&first, plan.deadline).await,
            None => tokio::time::timeout(REGIONS_AT_START, list_regions(&first, None)).await.unwrap_or_else(|_| {
                let why = format!("DescribeRegions gave no answer within {}s", REGIONS_AT_START.as_secs());
                Err(regions_error(&FetchError::new(ErrorKind::Timeout, why)))
            }),
        };
        match listed {
            Ok(r) => r.into_iter().filter(|r| !plan.exclude_regions.contains(r)).collect(),
            Err(e) => {
                // The profile stays on the list, failing with the cause: never one region
                // passed off as all of them.
                tracing::warn!(profile = ?profile, error = %e, detail = %e.detail, "cannot list the enabled regions");
                return vec![feed(first.unusable(e))];
            }
        }
    } else {
        plan.regions.clone()
    };
    if regions.is_empty() {
        return vec![feed(first)];
    }
    regions
        .iter()
        .map(|r| if first.region.as_deref() == Some(r.as_str()) { feed(first.clone()) } else { feed(make(Some(r))) })
        .collect()
}

/// The most listing a profile's regions may take at start-up when the command has no
/// deadline of its own.
const REGIONS_AT_START: Duration = Duration::from_secs(60);

/// Extra tries of DescribeRegions after a transient failure, on top of the SDK's own retries,
/// as `--once` gives a poll.
const REGION_RETRIES: u32 = 3;

/// Every region the account has enabled, asked like any call: retried with backoff while the
/// failure is transient, within the deadline. A failure is an error naming the cause, and an
/// empty list is one too: nothing less than the account's list passes for it.
pub async fn list_regions(ec2: &Ec2, deadline: Option<Deadline>) -> Result<Vec<String>, FetchError> {
    let mut backoff = Duration::from_secs(1);
    let late = || deadline.map(|d| regions_error(&d.passed())).unwrap_or_else(|| FetchError::new(ErrorKind::Other, ""));
    let mut retries = 0;
    loop {
        let Some(res) = until(deadline, enabled_regions(ec2)).await else {
            return Err(late());
        };
        match res {
            Ok(r) if r.is_empty() => {
                return Err(FetchError::new(
                    ErrorKind::NoRegionList(Box::new(ErrorKind::BadResponse)),
                    "DescribeRegions answered with no region at all",
                ));
            }
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() && retries < REGION_RETRIES => {
                tracing::warn!(error = %e, detail = %e.detail, retry_in = ?backoff, "DescribeRegions failed; retrying");
                if until(deadline, tokio::time::sleep(backoff)).await.is_none() {
                    return Err(late());
                }
                backoff *= 2;
                retries += 1;
            }
            Err(e) => return Err(regions_error(&e)),
        }
    }
}

/// The error of a profile whose regions cannot be listed: the cause, in words that name
/// DescribeRegions and what to do (the cause's full detail goes to the log).
fn regions_error(cause: &FetchError) -> FetchError {
    tracing::warn!(error = %cause, detail = %cause.detail, "DescribeRegions failed");
    let why = match cause.kind {
        ErrorKind::Unauthorized => {
            "not authorized: the caller needs the IAM permission ec2:DescribeRegions".to_string()
        }
        _ => cause.summary(),
    };
    FetchError::new(ErrorKind::NoRegionList(Box::new(cause.kind.clone())), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_profile_account_and_region() {
        let mut i = FeedInfo { profile: Some("prod".into()), region: Some("eu-west-1".into()), ..FeedInfo::default() };
        assert_eq!(i.label(), "prod · eu-west-1");
        i.account = Some("111122223333".into());
        assert_eq!(i.label(), "prod (111122223333) · eu-west-1");
        i.endpoint = Some("http://127.0.0.1:1".into());
        assert_eq!(i.long_label(), "prod (111122223333) · eu-west-1 · http://127.0.0.1:1");
        assert_eq!(i.profile_label(), "prod (111122223333) · http://127.0.0.1:1");
        assert_eq!(FeedInfo::default().label(), "default · no region");
    }

    #[test]
    fn short_labels_keep_only_what_tells_feeds_apart() {
        let f = |p: &str, r: &str| FeedInfo { profile: Some(p.into()), region: Some(r.into()), ..FeedInfo::default() };
        let (a, b, c) = (f("prod", "us-east-1"), f("prod", "eu-west-1"), f("dev", "us-east-1"));
        assert_eq!(FeedInfo::short_labels(&[&a, &b]), ["us-east-1", "eu-west-1"]);
        assert_eq!(FeedInfo::short_labels(&[&a, &c]), ["prod", "dev"]);
        assert_eq!(FeedInfo::short_labels(&[&a, &b, &c]), ["prod · us-east-1", "prod · eu-west-1", "dev · us-east-1"]);
    }
}
