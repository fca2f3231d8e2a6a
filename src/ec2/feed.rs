//! Feeds: one (profile, region) pair each, with its own credentials and client. Every mode
//! (dashboard, `--once`, `--wait`, `--dry-run`) runs on a list of feeds, one or many alike.

use std::sync::Arc;
use std::time::Duration;

use super::client::{self, ClientOptions, Ec2};
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

/// Which feeds to connect: every profile in every region.
#[derive(Debug, Clone, Default)]
pub struct FeedPlan {
    /// Named profiles; empty means the default chain (one feed per region).
    pub profiles: Vec<String>,
    /// Regions; empty means each profile's own configured region.
    pub regions: Vec<String>,
    /// Every region each profile's account has enabled (asks DescribeRegions once per profile).
    pub all_regions: bool,
    /// Regions `all_regions` leaves out (`--exclude-region`).
    pub exclude_regions: Vec<String>,
    pub options: ClientOptions,
    /// The embedded endpoint of `--demo`: sealed static credentials, no profile.
    pub embedded: Option<String>,
}

/// How long reading a profile's credentials for its account ID may take at start-up.
const ACCOUNT_LOOKUP: Duration = Duration::from_secs(3);

/// Connects every feed of the plan, concurrently, in the order profile x region.
///
/// Nothing here fails: a profile whose credentials are missing or expired still gets its
/// feed, and its poller reports the error, named, beside the other feeds' data.
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

async fn connect_profile(plan: &FeedPlan, profile: Option<String>) -> Vec<Feed> {
    let base = ClientOptions { profile: profile.clone(), ..plan.options.clone() };
    let first = one(plan, &base, plan.regions.first().cloned(), true).await;
    let regions = if plan.all_regions {
        match enabled_regions(&first.ec2).await {
            Ok(r) => r.into_iter().filter(|r| !plan.exclude_regions.contains(r)).collect(),
            Err(e) => {
                // One feed keeps the profile on the screen, and its poller says what is wrong.
                tracing::warn!(profile = ?profile, error = %e, detail = %e.detail, "cannot list the enabled regions");
                Vec::new()
            }
        }
    } else {
        plan.regions.clone()
    };
    let mut feeds = Vec::with_capacity(regions.len().max(1));
    for r in regions {
        if first.info.region.as_deref() == Some(r.as_str()) {
            feeds.push(first.clone());
        } else {
            // The same credentials in another region: the account is already known.
            let f = one(plan, &base, Some(r), false).await;
            let info = FeedInfo { account: first.info.account.clone(), ..(*f.info).clone() };
            feeds.push(Feed { info: Arc::new(info), ec2: f.ec2 });
        }
    }
    if feeds.is_empty() {
        feeds.push(first);
    }
    feeds
}

async fn one(plan: &FeedPlan, base: &ClientOptions, region: Option<String>, lookup_account: bool) -> Feed {
    let opts = ClientOptions { region, ..base.clone() };
    match &plan.embedded {
        Some(url) => {
            let region = opts.region.clone().unwrap_or_else(|| client::DEMO_REGION.to_string());
            let (profile, key, account) =
                DEMO_ORG.into_iter().find(|(p, _, _)| opts.profile.as_deref() == Some(*p)).unwrap_or(DEMO_ORG[0]);
            let ec2 = client::connect_embedded_as(url, &opts, key, &region);
            let info = FeedInfo {
                profile: Some(profile.into()),
                region: Some(region),
                account: Some(account.into()),
                endpoint: Some(url.clone()),
            };
            Feed { info: Arc::new(info), ec2 }
        }
        None => {
            let (ec2, account) = client::connect_with_account(&opts, lookup_account.then_some(ACCOUNT_LOOKUP)).await;
            let info = FeedInfo {
                profile: opts.profile.clone(),
                region: ec2.region.clone(),
                account,
                endpoint: opts.endpoint_url.clone(),
            };
            Feed { info: Arc::new(info), ec2 }
        }
    }
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
