//! Client set-up: aws-config's standard chain for real accounts, a sealed configuration for
//! the embedded endpoint.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{
    ConfigBag, Credentials, Intercept, ProvideCredentials, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_types::body::SdkBody;

use super::error::FetchError;

/// The region the demo and the simulator sign for.
pub const DEMO_REGION: &str = "us-east-1";

/// How to reach EC2.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Per-attempt timeout; the whole operation gets room for every retry.
    pub attempt_timeout: Option<Duration>,
    /// Attempts per request, the first included (the SDK's standard retry mode).
    pub max_attempts: Option<u32>,
}

/// A ready client, the region it signs for and where its requests go.
#[derive(Debug, Clone)]
pub struct Ec2 {
    pub client: aws_sdk_ec2::Client,
    pub region: Option<String>,
    /// The endpoint URL, or EC2's regional host: named when nothing answers there.
    pub endpoint: String,
    /// Attempts the service answered with HTTP 503 (RequestLimitExceeded, Unavailable).
    throttled: Arc<AtomicU32>,
    /// Why this feed could not be set up, when it could not: every call fails with it.
    unusable: Option<Arc<FetchError>>,
    /// The credential chain found nothing at all when asked at start (an error no wait fixes).
    pub credentials_missing: bool,
}

impl Ec2 {
    /// Throttled attempts so far, retries included.
    pub fn throttled(&self) -> u32 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// This client, made to fail every call with `why`, before anything is sent: a feed whose
    /// set-up failed (its regions could not be listed) stays on the list and reports the cause
    /// through the same path as any failed call, in every mode.
    pub fn unusable(mut self, why: FetchError) -> Self {
        let why = Arc::new(why);
        let conf = self.client.config().to_builder().interceptor(Unusable(why.clone())).build();
        self.client = aws_sdk_ec2::Client::from_conf(conf);
        self.unusable = Some(why);
        self
    }

    /// A client that was never set up (the deadline came first): it sends nothing, and fails
    /// every call with `why`.
    pub fn never_connected(region: Option<&str>, why: FetchError) -> Self {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(region.map(|r| Region::new(r.to_string())))
            .build();
        let ec2 = Ec2 {
            client: aws_sdk_ec2::Client::from_conf(conf),
            region: region.map(str::to_string),
            endpoint: "(not connected)".into(),
            throttled: Arc::new(AtomicU32::new(0)),
            unusable: None,
            credentials_missing: false,
        };
        ec2.unusable(why)
    }

    /// Why this client fails every call, when it was made [`Ec2::unusable`].
    pub fn set_up_error(&self) -> Option<&FetchError> {
        self.unusable.as_deref()
    }
}

/// Fails every call of an unusable feed before it is sent; the classifier finds the cause in
/// the error chain and reports it as it is.
#[derive(Debug)]
struct Unusable(Arc<FetchError>);

/// The error [`Unusable`] gives.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetUpFailed(pub Arc<FetchError>);

impl Intercept for Unusable {
    fn name(&self) -> &'static str {
        "Unusable"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Err(SetUpFailed(self.0.clone()).into())
    }
}

/// Counts attempts answered with HTTP 503, which EC2 uses for RequestLimitExceeded: the SDK
/// retries them unseen, and the poller slows down when it hears of them.
#[derive(Debug)]
struct CountThrottled(Arc<AtomicU32>);

impl Intercept for CountThrottled {
    fn name(&self) -> &'static str {
        "CountThrottled"
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if ctx.response().is_some_and(|r| r.status().as_u16() == 503) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_ATTEMPTS: u32 = 4;

fn retry_and_timeouts(opts: &ClientOptions) -> (RetryConfig, TimeoutConfig) {
    let attempts = opts.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
    let attempt = opts.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
    let retry = RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5));
    let timeout = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3).min(attempt))
        .operation_attempt_timeout(attempt)
        // Every attempt, plus the backoff between them.
        .operation_timeout(attempt * attempts + Duration::from_secs(5) * (attempts - 1))
        .build();
    (retry, timeout)
}

/// Refuses a successful answer whose XML document is cut short. The SDK's XML reader takes
/// a truncated document without complaint and yields half-filled tasks, which would make a
/// partial list look complete; this check turns it into an error that is retried and reported.
#[derive(Debug)]
struct CompleteXml;

/// The error [`CompleteXml`] gives; the classifier knows it by its type.
#[derive(Debug, thiserror::Error)]
#[error("the answer was cut short: its XML document ends before its root element closes")]
pub struct IncompleteXml;

impl Intercept for CompleteXml {
    fn name(&self) -> &'static str {
        "CompleteXml"
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let resp = ctx.response();
        if !resp.status().is_success() {
            return Ok(());
        }
        match resp.body().bytes() {
            Some(body) if !xml_is_complete(body) => Err(IncompleteXml.into()),
            _ => Ok(()),
        }
    }
}

/// The largest answer read: a page of 200 tasks is about 100 KiB, so this is far more than
/// any real page, and far less than a broken or hostile server can send.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Refuses an answer larger than [`MAX_BODY`] before it is read whole: by its declared
/// length at once, and otherwise as its bytes arrive (a body without an end stops there).
#[derive(Debug)]
struct BoundedBody;

/// The error [`BoundedBody`] gives; the classifier knows it by its type.
#[derive(Debug, thiserror::Error)]
#[error("the answer was larger than {} MiB, far more than any page of tasks", MAX_BODY / 1024 / 1024)]
pub struct BodyTooLarge;

impl Intercept for BoundedBody {
    fn name(&self) -> &'static str {
        "BoundedBody"
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let resp = ctx.response_mut();
        let declared = resp.headers().get("content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(BodyTooLarge.into());
        }
        let body = std::mem::replace(resp.body_mut(), SdkBody::taken());
        // Only the limit is BodyTooLarge: any other error (a connection cut half way) stays what
        // it is, so it is reported as it happened and retried like any transient failure.
        let limited = http_body_util::BodyExt::map_err(http_body_util::Limited::new(body, MAX_BODY), |e: BoxError| {
            if e.is::<http_body_util::LengthLimitError>() { BoxError::from(BodyTooLarge) } else { e }
        });
        *resp.body_mut() = SdkBody::from_body_1_x(limited);
        Ok(())
    }
}

/// Whether a document's root element is closed at its end (`<Root ...>` ... `</Root>`).
pub fn xml_is_complete(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let mut rest = text.trim();
    // Skip the declaration and comments before the root.
    while let Some(r) = rest.strip_prefix("<?").or_else(|| rest.strip_prefix("<!--")) {
        let end = if rest.starts_with("<?") { "?>" } else { "-->" };
        match r.find(end) {
            Some(i) => rest = r[i + end.len()..].trim_start(),
            None => return false,
        }
    }
    let Some(open) = rest.strip_prefix('<') else { return false };
    let name: String = open.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
    if name.is_empty() {
        return false;
    }
    let body = rest.trim_end();
    // A root that closes itself (`<Root/>`) is complete too.
    body.ends_with(&format!("</{name}>")) || (body.ends_with("/>") && !body[1..].contains('<'))
}

/// A client from the standard chain (profile, environment, SSO, IMDS ...).
///
/// With `--region` or an endpoint the region chain never reaches the instance metadata
/// service, so start-up does not stall off EC2.
pub async fn connect(opts: &ClientOptions) -> Ec2 {
    let profile = load_profile(opts).await;
    profile.client(opts.region.as_deref())
}

/// One profile (or the default chain) loaded once: its settings, one credentials provider and
/// one cache. Every region client made from it shares them, so a profile watched in 17 regions
/// runs its credential source (SSO, `credential_process`, an MFA prompt) once, not 17 times.
#[derive(Debug, Clone)]
pub struct Profile {
    conf: aws_config::SdkConfig,
    credentials: Option<SharedCredentialsProvider>,
    /// The region the profile resolves to (flag, environment, profile, or the demo's).
    pub region: Option<String>,
    /// The endpoint URL in force, resolved once as the SDK does; `None` for AWS's own.
    pub endpoint_url: Option<String>,
    /// Why the endpoint cannot be used, when it is not a URL.
    bad_endpoint: Option<FetchError>,
}

/// Where the endpoint comes from, in the SDK's order: `--endpoint-url`, then
/// `AWS_ENDPOINT_URL_EC2`, then `AWS_ENDPOINT_URL`, then the profile's `endpoint_url`; none of
/// the configured ones when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
/// The endpoint and where it was set (named when it is not a URL).
pub async fn resolve_endpoint(opts: &ClientOptions) -> Option<(String, &'static str)> {
    resolve_endpoint_with(opts, |k| std::env::var(k).ok()).await
}

async fn resolve_endpoint_with(
    opts: &ClientOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    if let Some(e) = opts.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
        return Some((e.to_string(), "--endpoint-url"));
    }
    if env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    for k in ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"] {
        if let Some(e) = env(k).filter(|e| !e.trim().is_empty()) {
            return Some((e.trim().to_string(), k));
        }
    }
    // The profile's own `endpoint_url`, read by aws-config itself: a load with a fixed region
    // and no credentials, so nothing is probed and no credential source runs.
    let mut probe =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::from_static(DEMO_REGION)).no_credentials();
    if let Some(p) = &opts.profile {
        probe = probe.profile_name(p);
    }
    probe.load().await.endpoint_url().map(|e| (e.to_string(), "the profile's endpoint_url"))
}

/// Whether the SDK can send to this: an http or https URL with a host.
fn is_endpoint_url(s: &str) -> bool {
    s.parse::<hyper::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty()))
}

/// Loads a profile (or the default chain) once, for [`Profile::client`] to make its clients.
///
/// A named profile signs with its own credentials, as the AWS CLI does: its provider is built
/// from the profile itself, never the default chain, which would take `AWS_ACCESS_KEY_ID`
/// from the environment first.
pub async fn load_profile(opts: &ClientOptions) -> Profile {
    let (retry, timeout) = retry_and_timeouts(opts);
    let endpoint = resolve_endpoint(opts).await;
    // An endpoint from the environment or a profile that is not a URL fails the profile's
    // feeds with where it was set, before anything is sent (the SDK would fail each request
    // with its own dump of the request).
    let bad_endpoint = endpoint.as_ref().filter(|(url, _)| !is_endpoint_url(url)).map(|(url, from)| {
        let why =
            format!("{from} is not an endpoint URL: '{url}' (expected http://HOST[:PORT] or https://HOST[:PORT])");
        FetchError::new(super::error::ErrorKind::Other, why)
    });
    let endpoint_url = endpoint.map(|(url, _)| url);
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeout);
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    } else if endpoint_url.is_some() {
        // A custom endpoint still needs a region to sign for; skip IMDS, fall back to the demo's.
        let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
        if let Some(p) = &opts.profile {
            profile = profile.profile_name(p);
        }
        let chain = RegionProviderChain::first_try(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .or_else(profile.build())
            .or_else(Region::new(DEMO_REGION));
        loader = loader.region(chain);
    }
    if let Some(e) = &endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let conf = loader.load().await;
    let source = match &opts.profile {
        Some(p) => {
            // What an SSO or assume-role source needs to make its own calls, as the loader has it.
            let config = aws_config::provider_config::ProviderConfig::without_region()
                .with_region(conf.region().cloned())
                .with_behavior_version(Some(BehaviorVersion::latest()));
            let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .configure(&config)
                .build();
            Some(SharedCredentialsProvider::new(provider))
        }
        None => conf.credentials_provider(),
    };
    let credentials = source.map(|s| SharedCredentialsProvider::new(super::credentials::OnceCredentials::new(s)));
    let region = conf.region().map(|r| r.to_string());
    Profile { conf, credentials, region, endpoint_url, bad_endpoint }
}

impl Profile {
    /// A client of this profile in `region` (the profile's own when `None`), sharing the
    /// profile's credentials provider and cache.
    pub fn client(&self, region: Option<&str>) -> Ec2 {
        let throttled = Arc::new(AtomicU32::new(0));
        let mut b = aws_sdk_ec2::config::Builder::from(&self.conf);
        if let Some(r) = region {
            b = b.region(Region::new(r.to_string()));
        }
        if let Some(c) = &self.credentials {
            b = b.credentials_provider(c.clone());
        }
        if let Some(e) = &self.endpoint_url {
            b = b.endpoint_url(e);
        }
        let conf =
            b.interceptor(CompleteXml).interceptor(BoundedBody).interceptor(CountThrottled(throttled.clone())).build();
        let region = conf.region().map(|r| r.to_string());
        let endpoint = match &self.endpoint_url {
            Some(e) => e.clone(),
            None => format!("ec2.{}.amazonaws.com", region.as_deref().unwrap_or("REGION")),
        };
        let ec2 = Ec2 {
            client: aws_sdk_ec2::Client::from_conf(conf),
            region,
            endpoint,
            throttled,
            unusable: None,
            credentials_missing: false,
        };
        match &self.bad_endpoint {
            Some(why) => ec2.unusable(why.clone()),
            None => ec2,
        }
    }

    /// The account ID the credentials carry (SSO, `aws_account_id` in a profile,
    /// `AWS_ACCOUNT_ID`), read through the profile's cache within `limit`. `None` when they do
    /// not say or cannot be read now: the feed's poller reports credential problems, this
    /// only labels the feed.
    ///
    /// Also whether the credential chain found nothing at all (no keys, no profile, no SSO):
    /// an error that no wait fixes, so the dashboard says so before it starts.
    pub async fn account(&self, limit: Duration) -> (Option<String>, bool) {
        use aws_credential_types::provider::error::CredentialsError;
        let Some(provider) = self.credentials.clone() else { return (None, false) };
        // On a task of its own: when the lookup gives up, the credential source still
        // finishes and fills the cache, rather than being cut off and run again by the first
        // call.
        let fetch = tokio::spawn(async move { provider.provide_credentials().await });
        match tokio::time::timeout(limit, fetch).await {
            Ok(Ok(Ok(creds))) => (creds.account_id().map(|a| a.as_str().to_string()), false),
            Ok(Ok(Err(CredentialsError::CredentialsNotLoaded(_)))) => (None, true),
            _ => (None, false),
        }
    }
}

/// A client for the embedded endpoint: static fake credentials and a fixed region, sealed
/// from the environment, so the demo never sends a request anywhere else.
pub fn connect_embedded(endpoint_url: &str, opts: &ClientOptions) -> Ec2 {
    connect_embedded_as(endpoint_url, opts, crate::sim::DEMO_KEY, DEMO_REGION)
}

/// Like [`connect_embedded`], with a chosen access key (the simulator treats keys starting
/// with `DENIED` or `EXPIRED` specially) and region.
pub fn connect_embedded_as(endpoint_url: &str, opts: &ClientOptions, access_key: &str, region: &str) -> Ec2 {
    let (retry, timeout) = retry_and_timeouts(opts);
    let creds = Credentials::new(access_key, crate::sim::DEMO_SECRET, None, None, "amiwatch-embedded");
    let throttled = Arc::new(AtomicU32::new(0));
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .endpoint_url(endpoint_url)
        .retry_config(retry)
        .timeout_config(timeout)
        .interceptor(CompleteXml)
        .interceptor(BoundedBody)
        .interceptor(CountThrottled(throttled.clone()))
        .build();
    let (region, endpoint) = (Some(region.to_string()), endpoint_url.to_string());
    Ec2 {
        client: aws_sdk_ec2::Client::from_conf(conf),
        region,
        endpoint,
        throttled,
        unusable: None,
        credentials_missing: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_checked_before_use() {
        assert!(is_endpoint_url("http://127.0.0.1:4566"));
        assert!(is_endpoint_url("https://ec2.example.com/"));
        for bad in ["not a url", "127.0.0.1:4566", "ftp://host", "http://", "", "http:// x"] {
            assert!(!is_endpoint_url(bad), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn checking_an_endpoint_is_total(s in ".{0,80}") {
            let _ = is_endpoint_url(&s);
        }
    }

    #[tokio::test]
    async fn the_endpoint_is_taken_in_the_sdks_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let flag = ClientOptions { endpoint_url: Some("http://flag".into()), ..ClientOptions::default() };
        let both = env(&[("AWS_ENDPOINT_URL_EC2", "http://ec2"), ("AWS_ENDPOINT_URL", "http://all")]);
        assert_eq!(resolve_endpoint_with(&flag, &both).await.map(|e| e.0).as_deref(), Some("http://flag"));
        let none = ClientOptions::default();
        assert_eq!(resolve_endpoint_with(&none, &both).await, Some(("http://ec2".into(), "AWS_ENDPOINT_URL_EC2")));
        let global = env(&[("AWS_ENDPOINT_URL", "http://all"), ("AWS_ENDPOINT_URL_EC2", " ")]);
        assert_eq!(resolve_endpoint_with(&none, global).await, Some(("http://all".into(), "AWS_ENDPOINT_URL")));
        let ignored = env(&[("AWS_ENDPOINT_URL_EC2", "http://ec2"), ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]);
        assert_eq!(resolve_endpoint_with(&none, &ignored).await, None);
        assert_eq!(
            resolve_endpoint_with(&flag, &ignored).await,
            Some(("http://flag".into(), "--endpoint-url")),
            "the flag is not configured"
        );
    }

    #[test]
    fn truncated_documents_are_caught() {
        let full = "<?xml version=\"1.0\"?>\n<DescribeStoreImageTasksResponse xmlns=\"x\"><a/></DescribeStoreImageTasksResponse>\n";
        assert!(xml_is_complete(full.as_bytes()));
        assert!(!xml_is_complete(b"<DescribeStoreImageTasksResponse><storeImageTaskResultSet><item><amiId>"));
        assert!(!xml_is_complete(b""));
        assert!(!xml_is_complete(b"not xml at all"));
        assert!(xml_is_complete(b"<Empty/>"));
    }
}
