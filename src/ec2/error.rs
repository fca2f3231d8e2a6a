//! Errors of a fetch, told apart and explained in words a user can act on.

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::text::{safe, truncate};

/// The most of the detail kept (for the log): an answer can be any size.
pub const MAX_DETAIL: usize = 2_000;
/// The most of the server's own words a one-line summary quotes.
pub const MAX_QUOTE: usize = 200;

/// What went wrong, in the categories a user acts on differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    NoCredentials,
    /// The profile's credential source failed (an SSO session that ended, a process that
    /// failed, an assume-role call refused).
    CredentialSource,
    ExpiredCredentials,
    /// Credentials the service does not accept (wrong key, bad signature).
    BadCredentials,
    Unauthorized,
    NoRegion,
    Unreachable,
    Timeout,
    /// The command's whole deadline (`--max-time`) passed before this was done.
    OutOfTime,
    Throttled,
    /// The request broke a rule of the API (a bug, or a bad flag that slipped through).
    InvalidRequest(String),
    /// The service failed (5xx) with this code.
    Service(String),
    /// The service refused the request (a 4xx) with a code not known here: waiting will not
    /// change its answer (`UnsupportedOperation`, `OptInRequired`, `Blocked` ...).
    Refused(String),
    /// The account's regions could not be listed (DescribeRegions), so `--all-regions` cannot
    /// say which regions to watch: the detail says why, this is the cause's kind.
    NoRegionList(Box<ErrorKind>),
    /// An answer that could not be read.
    BadResponse,
    /// Pages that would never end: a token sent again, or more pages than any account has.
    EndlessListing,
    /// A listing past what any account holds in 31 days (tasks or bytes): stopped.
    ListingTooLarge,
    /// An answer far larger than any page: refused unread, not retried by `--once`.
    TooLarge,
    Other,
}

/// A failed fetch: its kind and the underlying detail. Shown as its [`FetchError::summary`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct FetchError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl FetchError {
    /// An error with its detail made safe to show and log: terminal controls escaped, and cut
    /// to [`MAX_DETAIL`] characters whatever the server sent.
    pub fn new(kind: ErrorKind, detail: impl AsRef<str>) -> Self {
        let detail = truncate(&safe(detail.as_ref()), MAX_DETAIL).into_owned();
        Self { kind, detail }
    }

    /// Names where the request went, for the errors where it matters (nothing answered).
    pub fn at(mut self, endpoint: &str) -> Self {
        if matches!(self.kind, ErrorKind::Unreachable | ErrorKind::Timeout) {
            self.detail = Self::new(self.kind.clone(), format!("{} at {endpoint}", self.detail)).detail;
        }
        self
    }

    /// Whether waiting and trying again may help (the poller backs off and retries either
    /// way; this only shapes the message).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Unreachable
                | ErrorKind::Timeout
                | ErrorKind::Throttled
                | ErrorKind::Service(_)
                | ErrorKind::BadResponse
        )
    }

    /// One line: what happened and what to do, then the root cause in plain words.
    pub fn summary(&self) -> String {
        let first = truncate(self.detail.lines().next().unwrap_or_default(), MAX_QUOTE);
        match &self.kind {
            ErrorKind::NoCredentials => "no AWS credentials found: pass --profile NAME, run `aws sso login`, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
            ErrorKind::CredentialSource => format!("cannot get AWS credentials from the profile: fix its credential source (for SSO, `aws sso login --profile NAME`) ({first})"),
            ErrorKind::ExpiredCredentials => "AWS credentials have expired: refresh them (for SSO, `aws sso login --profile NAME`)".into(),
            ErrorKind::BadCredentials => format!("AWS rejected the credentials: check the profile or keys (the server said {first})"),
            ErrorKind::Unauthorized => "not authorized: the caller needs the IAM permission ec2:DescribeStoreImageTasks".into(),
            ErrorKind::NoRegion => "no AWS region set: pass --region (for example --region us-east-1) or set AWS_REGION".into(),
            ErrorKind::Unreachable => format!("cannot reach the EC2 endpoint: check the network or --endpoint-url ({first})"),
            ErrorKind::Timeout => format!("the EC2 endpoint did not answer in time: raise --request-timeout, or check the network ({first})"),
            ErrorKind::Throttled => "throttled by EC2 (RequestLimitExceeded): the account's API rate limit was hit".into(),
            ErrorKind::InvalidRequest(_) => format!("EC2 refused the request: check the flags (the server said {first})"),
            ErrorKind::Service(_) => format!("EC2 failed on its side: try again later (the server said {first})"),
            ErrorKind::Refused(_) => format!("EC2 refused the request: waiting will not change its answer (the server said {first})"),
            ErrorKind::NoRegionList(_) => format!(
                "cannot list the account's regions for --all-regions (name them with --region instead): {}",
                truncate(self.detail.lines().next().unwrap_or_default(), 2 * MAX_QUOTE)
            ),
            ErrorKind::OutOfTime => format!("not done within --max-time: raise it, or check the network ({first})"),
            ErrorKind::BadResponse => format!("EC2 sent an answer that could not be read: try again, or check --endpoint-url ({first})"),
            ErrorKind::TooLarge => format!("EC2 sent an answer far larger than any page, so it was not read: check --endpoint-url ({first})"),
            ErrorKind::EndlessListing => format!("EC2's pages would never end, so the listing was stopped: try again later ({first})"),
            ErrorKind::ListingTooLarge => format!("EC2's listing grew past what any account holds in 31 days, so it was stopped: check --endpoint-url, or narrow it with --image-id, --state or --bucket ({first})"),
            ErrorKind::Other => first.to_string(),
        }
    }

    /// Classifies an SDK error.
    pub fn from_sdk<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        // A feed that could not be set up says why, as it was said then.
        if let Some(e) = set_up_error(err) {
            return e;
        }
        let kind = match err {
            SdkError::ServiceError(se) => {
                let raw: &dyn std::any::Any = se.raw();
                let http = raw.downcast_ref::<aws_sdk_ec2::config::http::HttpResponse>();
                let status = http.map_or(0, |r| r.status().as_u16());
                kind_of_code(se.err().code().unwrap_or(""), se.err().message().unwrap_or(""), status)
            }
            _ => match kind_in_chain(err) {
                Some(kind) => kind,
                None => match err {
                    SdkError::TimeoutError(_) => ErrorKind::Timeout,
                    SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::Timeout,
                    SdkError::ResponseError(_) => ErrorKind::BadResponse,
                    SdkError::DispatchFailure(_) => ErrorKind::Unreachable,
                    _ => ErrorKind::Other,
                },
            },
        };
        // The server's code and message, or the chain of causes in plain words: never the
        // SDK's Debug dump, which holds whole bodies and headers.
        let detail = match err {
            SdkError::ServiceError(se) => match (se.err().code(), se.err().message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => causes(err),
            },
            _ => causes(err),
        };
        Self::new(kind, detail)
    }
}

/// Every cause in the chain, outermost first, by its Display only, each said once:
/// "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused".
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // A wrapper often repeats its source's words; say each thing once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text.as_str())) {
            parts.push(text);
        }
        next = e.source();
    }
    // The innermost cause says the most: put it first, the context after it.
    parts.reverse();
    parts.join(" ← ")
}

/// The error an unusable feed's client fails with, found in the chain.
fn set_up_error(err: &(dyn std::error::Error + 'static)) -> Option<FetchError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(failed) = e.downcast_ref::<super::client::SetUpFailed>() {
            return Some((*failed.0).clone());
        }
        next = e.source();
    }
    None
}

/// The kind told by the type of an error in the chain: a credentials failure, an endpoint
/// that cannot be resolved (no region), or the interceptor's refusal of a truncated answer.
fn kind_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => ErrorKind::NoCredentials,
                CredentialsError::ProviderTimedOut(_) => ErrorKind::Timeout,
                _ => ErrorKind::CredentialSource,
            });
        }
        if e.is::<aws_smithy_http::endpoint::ResolveEndpointError>() {
            return Some(ErrorKind::NoRegion);
        }
        if e.is::<super::client::IncompleteXml>() {
            return Some(ErrorKind::BadResponse);
        }
        if e.is::<super::client::BodyTooLarge>() {
            return Some(ErrorKind::TooLarge);
        }
        next = e.source();
    }
    None
}

/// The kind of a service error by its code, and by its HTTP status when the code is not known
/// here: a 4xx is a refusal (no retry helps), a 5xx the service's own failure.
fn kind_of_code(code: &str, message: &str, status: u16) -> ErrorKind {
    match code {
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => ErrorKind::Throttled,
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => ErrorKind::Unauthorized,
        "RequestExpired" | "ExpiredToken" | "ExpiredTokenException" => ErrorKind::ExpiredCredentials,
        "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" | "UnrecognizedClientException" => {
            ErrorKind::BadCredentials
        }
        "InternalError" | "InternalFailure" | "Unavailable" | "ServiceUnavailable" => ErrorKind::Service(code.into()),
        "" if message.is_empty() => ErrorKind::BadResponse,
        c if c.starts_with("Invalid") || c.starts_with("Missing") || c == "IncorrectState" => {
            ErrorKind::InvalidRequest(c.into())
        }
        c if (400..500).contains(&status) => ErrorKind::Refused(c.into()),
        c => ErrorKind::Service(c.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_users_act_on() {
        assert_eq!(kind_of_code("RequestLimitExceeded", "x", 503), ErrorKind::Throttled);
        assert_eq!(kind_of_code("UnauthorizedOperation", "x", 403), ErrorKind::Unauthorized);
        assert_eq!(kind_of_code("RequestExpired", "x", 400), ErrorKind::ExpiredCredentials);
        assert_eq!(kind_of_code("AuthFailure", "x", 401), ErrorKind::BadCredentials);
        assert_eq!(kind_of_code("InternalError", "x", 500), ErrorKind::Service("InternalError".into()));
        assert_eq!(
            kind_of_code("InvalidPaginationToken", "x", 400),
            ErrorKind::InvalidRequest("InvalidPaginationToken".into())
        );
    }

    #[test]
    fn an_unknown_code_is_a_refusal_under_4xx_and_the_servers_fault_under_5xx() {
        for code in ["UnsupportedOperation", "OptInRequired", "Blocked"] {
            let kind = kind_of_code(code, "m", 400);
            assert_eq!(kind, ErrorKind::Refused(code.into()));
            let e = FetchError::new(kind, format!("{code}: m"));
            assert!(!e.is_transient(), "{code}");
            assert!(e.summary().contains(code) && !e.summary().contains("on its side"), "{}", e.summary());
        }
        assert_eq!(kind_of_code("SomethingNew", "m", 502), ErrorKind::Service("SomethingNew".into()));
        assert!(FetchError::new(kind_of_code("SomethingNew", "m", 502), "").is_transient());
        assert_eq!(kind_of_code("Throttling", "m", 400), ErrorKind::Throttled);
    }

    #[test]
    fn details_are_bounded_and_escaped() {
        let huge = format!("\u{1b}]0;evil\u{7}{}", "x".repeat(50_000));
        let e = FetchError::new(ErrorKind::BadResponse, &huge);
        assert!(e.detail.chars().count() <= MAX_DETAIL);
        assert!(!e.detail.contains('\u{1b}') && !e.detail.contains('\u{7}'));
        let s = e.summary();
        assert!(s.chars().count() < MAX_QUOTE + 120, "{s}");
        assert_eq!(s.lines().count(), 1);
    }

    #[test]
    fn causes_read_innermost_first_without_repeats() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl fmt::Display for E {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E("dispatch failure", Some(Box::new(E("io error", Some(Box::new(E("Connection refused", None)))))));
        assert_eq!(causes(&e), "Connection refused ← io error ← dispatch failure");
    }

    #[test]
    fn summaries_say_what_to_do() {
        let e = FetchError::new(ErrorKind::Unauthorized, "");
        assert!(e.summary().contains("ec2:DescribeStoreImageTasks"));
        let e = FetchError::new(ErrorKind::NoRegion, "");
        assert!(e.summary().contains("--region"));
        assert!(!e.is_transient());
        assert!(FetchError::new(ErrorKind::Throttled, "").is_transient());
    }
}
