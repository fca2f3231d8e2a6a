//! Client set-up: aws-config's standard chain for real accounts, a sealed configuration for
//! the embedded endpoint.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents, SharedCredentialsProvider};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_types::body::SdkBody;

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
    /// The credential chain found nothing at all when asked at start (an error no wait fixes).
    pub credentials_missing: bool,
}

impl Ec2 {
    /// Throttled attempts so far, retries included.
    pub fn throttled(&self) -> u32 {
        self.throttled.load(Ordering::Relaxed)
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
        let limited = http_body_util::BodyExt::map_err(http_body_util::Limited::new(body, MAX_BODY), |_| BodyTooLarge);
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
/// With `--region` or `--endpoint-url` the region chain never reaches the instance metadata
/// service, so start-up does not stall off EC2.
pub async fn connect(opts: &ClientOptions) -> Ec2 {
    connect_with_account(opts, None).await.0
}

/// [`connect`], and the account ID the credentials carry (SSO, `aws_account_id` in a
/// profile, `AWS_ACCOUNT_ID`) when `lookup` gives the time to read them. `None` when they do
/// not say or cannot be read now: the feed's poller reports credential problems, this only
/// labels the feed.
pub async fn connect_with_account(opts: &ClientOptions, lookup: Option<Duration>) -> (Ec2, Option<String>) {
    let (retry, timeout) = retry_and_timeouts(opts);
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeout);
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    } else if opts.endpoint_url.is_some() {
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
    if let Some(e) = &opts.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let conf = loader.load().await;
    let region = conf.region().map(|r| r.to_string());
    let (account, credentials_missing) = match (lookup, conf.credentials_provider()) {
        (Some(limit), Some(provider)) => {
            use aws_credential_types::provider::error::CredentialsError;
            use aws_sdk_ec2::config::ProvideCredentials;
            let res = tokio::time::timeout(limit, provider.provide_credentials()).await;
            let missing = matches!(res, Ok(Err(CredentialsError::CredentialsNotLoaded(_))));
            let creds = res.ok().and_then(Result::ok);
            (creds.and_then(|c| c.account_id().map(|a| a.as_str().to_string())), missing)
        }
        _ => (None, false),
    };
    let endpoint = match conf.endpoint_url() {
        Some(e) => e.to_string(),
        None => format!("ec2.{}.amazonaws.com", region.as_deref().unwrap_or("REGION")),
    };
    let throttled = Arc::new(AtomicU32::new(0));
    let conf = aws_sdk_ec2::config::Builder::from(&conf)
        .interceptor(CompleteXml)
        .interceptor(BoundedBody)
        .interceptor(CountThrottled(throttled.clone()))
        .build();
    (Ec2 { client: aws_sdk_ec2::Client::from_conf(conf), region, endpoint, throttled, credentials_missing }, account)
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
    Ec2 { client: aws_sdk_ec2::Client::from_conf(conf), region, endpoint, throttled, credentials_missing: false }
}

#[cfg(test)]
mod tests {
    use super::xml_is_complete;

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
