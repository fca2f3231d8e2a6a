//! A profile's one credentials cache: its credential source (SSO, `credential_process`, an
//! MFA prompt) asked once for all the profile's region clients and its account lookup, and a
//! failure shared for a while rather than asked again by each.

use std::time::Duration;

use aws_sdk_ec2::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};

/// How long before their expiry credentials are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// How long a failure of the credential source is the answer, before it is asked again: the
/// profile's regions (and their retries) share one failure rather than each running the
/// source (an SSO call, a prompt) again.
const FAILURE_KEPT: Duration = Duration::from_secs(30);

/// The profile's one cache: credentials fetched once, by one caller at a time, and kept until
/// shortly before they expire. The region clients and the account lookup all draw on it.
#[derive(Debug)]
pub struct OnceCredentials {
    source: SharedCredentialsProvider,
    last: tokio::sync::Mutex<Last>,
}

/// What the source last said.
#[derive(Debug, Default)]
struct Last {
    credentials: Option<Credentials>,
    /// When it last failed, how (found nothing, or failed otherwise), and its words.
    failure: Option<(std::time::Instant, bool, String)>,
}

impl OnceCredentials {
    pub fn new(source: SharedCredentialsProvider) -> Self {
        Self { source, last: tokio::sync::Mutex::new(Last::default()) }
    }
}

impl ProvideCredentials for OnceCredentials {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::error::CredentialsError;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            // Held across the fetch: callers who arrive meanwhile wait for its result.
            let mut last = self.last.lock().await;
            let fresh =
                |c: &Credentials| c.expiry().is_none_or(|e| e > std::time::SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if let Some(c) = last.credentials.as_ref().filter(|c| fresh(c)) {
                return Ok(c.clone());
            }
            if let Some((_, not_loaded, why)) = last.failure.as_ref().filter(|f| f.0.elapsed() < FAILURE_KEPT) {
                return Err(match not_loaded {
                    true => CredentialsError::not_loaded(why.clone()),
                    false => CredentialsError::provider_error(why.clone()),
                });
            }
            match self.source.provide_credentials().await {
                Ok(c) => {
                    *last = Last { credentials: Some(c.clone()), failure: None };
                    Ok(c)
                }
                Err(e) => {
                    // A timeout is the caller's limit, not the source's answer: not kept.
                    if !matches!(e, CredentialsError::ProviderTimedOut(_)) {
                        let not_loaded = matches!(e, CredentialsError::CredentialsNotLoaded(_));
                        // Its innermost words: the kept error wraps them as the source did.
                        let mut inner: &(dyn std::error::Error + 'static) = &e;
                        while let Some(next) = inner.source() {
                            inner = next;
                        }
                        let why = inner.to_string();
                        last.failure = Some((std::time::Instant::now(), not_loaded, why));
                    }
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A source that counts its runs, answering with credentials that expire in `life` (or
    /// never), or failing.
    #[derive(Debug)]
    struct Counting {
        runs: Arc<AtomicU32>,
        life: Option<Duration>,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::new(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                // So other callers come while it runs (one run either way: they wait, or find
                // its result kept).
                tokio::time::sleep(Duration::from_millis(50)).await;
                if self.fail {
                    return Err(CredentialsError::provider_error("session ended"));
                }
                let expiry = self.life.map(|l| std::time::SystemTime::now() + l);
                Ok(Credentials::new("AKID", "secret", None, expiry, "test"))
            })
        }
    }

    fn cache(life: Option<Duration>, fail: bool) -> (Arc<OnceCredentials>, Arc<AtomicU32>) {
        let runs = Arc::new(AtomicU32::new(0));
        let source = Counting { runs: runs.clone(), life, fail };
        (Arc::new(OnceCredentials::new(SharedCredentialsProvider::new(source))), runs)
    }

    async fn ask_17(c: &Arc<OnceCredentials>) -> Vec<Result<Credentials, CredentialsError>> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..17 {
            let c = c.clone();
            set.spawn(async move { c.provide_credentials().await });
        }
        set.join_all().await
    }

    #[tokio::test]
    async fn seventeen_callers_at_once_run_the_source_once() {
        let (c, runs) = cache(None, false);
        assert!(ask_17(&c).await.iter().all(Result::is_ok));
        assert!(ask_17(&c).await.iter().all(Result::is_ok));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_fetched_again() {
        let (c, runs) = cache(Some(Duration::from_secs(30)), false);
        c.provide_credentials().await.unwrap();
        c.provide_credentials().await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "30 s left is within the refresh margin");
        let (c, runs) = cache(Some(Duration::from_secs(3600)), false);
        c.provide_credentials().await.unwrap();
        c.provide_credentials().await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_is_shared_with_its_kind_and_words() {
        let (c, runs) = cache(None, true);
        let all = ask_17(&c).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        for r in all {
            let e = r.unwrap_err();
            assert!(matches!(e, CredentialsError::ProviderError(_)), "{e:?}");
            assert!(crate::ec2::error::causes(&e).contains("session ended"));
        }
    }
}
