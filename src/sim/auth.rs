//! Signature Version 4 as EC2 checks it: the endpoint knows a set of access keys and their
//! secrets, recomputes each request's signature, and answers as the service does:
//! `AuthFailure` for a key it does not know, `RequestExpired` for a request dated more than
//! five minutes from its clock, `SignatureDoesNotMatch` for a wrong secret or a changed request.
//! So a wrong secret and a skewed clock reach the client exactly as AWS would send them.
//!
//! The signature is computed here from the specification (HMAC-SHA256 over the canonical
//! request), not with the SDK's signer, so a fault in either is seen.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::protocol::Ec2Error;

/// The demo's access key (`--demo` and [`crate::ec2::client::connect_embedded`]).
pub const DEMO_KEY: &str = "AKIDAMIWATCHDEMO";
/// The demo's secret: documented, so any EC2 client can sign for the demo's account.
pub const DEMO_SECRET: &str = "amiwatch-demo-secret";
/// The access key of the demo's second account (the dashboard's demo is a small organisation).
pub const DEMO_DEV_KEY: &str = "AKIDAMIWATCHDEMODEV";
/// How far a request's date may be from the service's clock.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// The access keys the endpoint knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    known: BTreeMap<String, String>,
    /// Accept a key the endpoint does not know, without checking its signature (benchmarks,
    /// `simulate --any-key`). Known keys are checked all the same.
    pub any_key: bool,
}

impl Default for Keys {
    fn default() -> Self {
        Self::demo()
    }
}

impl Keys {
    /// The demo's keys alone (its two accounts).
    pub fn demo() -> Self {
        Self { known: BTreeMap::new(), any_key: false }.with(DEMO_KEY, DEMO_SECRET).with(DEMO_DEV_KEY, DEMO_SECRET)
    }

    /// These keys known too, with this secret.
    pub fn with(mut self, key: &str, secret: &str) -> Self {
        self.known.insert(key.to_string(), secret.to_string());
        self
    }

    /// These keys known too, each with the demo's secret (the one every embedded client signs with).
    pub fn with_demo_secret<'a>(self, keys: impl IntoIterator<Item = &'a str>) -> Self {
        keys.into_iter().fold(self, |k, key| k.with(key, DEMO_SECRET))
    }

    /// Any key accepted (known ones still checked).
    pub fn accepting_any(mut self) -> Self {
        self.any_key = true;
        self
    }

    fn secret(&self, key: &str) -> Option<&str> {
        self.known.get(key).map(String::as_str)
    }
}

/// The parts of a request a signature covers.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a hyper::HeaderMap,
    pub body: &'a [u8],
}

/// Who signed: the access key and the region of its credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key: String,
    pub region: String,
}

fn auth_failure() -> Ec2Error {
    Ec2Error::new(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
}

fn mismatch() -> Ec2Error {
    Ec2Error::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(h: &str) -> Option<Authorization<'_>> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => return None,
        }
    }
    let mut scope = cred?.split('/');
    let (key, date, region, service, term) =
        (scope.next()?, scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    if scope.next().is_some() || term != "aws4_request" || key.is_empty() || region.is_empty() {
        return None;
    }
    Some(Authorization { key, date, region, service, signed_headers: signed?, signature: sig? })
}

/// The access key and region of a SigV4 `Authorization` header, unchecked.
pub fn credential_scope(h: &str) -> Option<(String, String)> {
    parse_authorization(h).map(|a| (a.key.to_string(), a.region.to_string()))
}

/// Checks a request's signature at the endpoint's time `now`.
pub fn verify(keys: &Keys, req: &Signed<'_>, now: DateTime<Utc>) -> Result<Caller, Ec2Error> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization").and_then(parse_authorization).ok_or_else(auth_failure)?;
    let caller = Caller { access_key: auth.key.to_string(), region: auth.region.to_string() };
    let secret = match keys.secret(auth.key) {
        Some(s) => s,
        None if keys.any_key => return Ok(caller),
        None => return Err(auth_failure()),
    };
    let amz_date = header("x-amz-date").ok_or_else(auth_failure)?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ").map_err(|_| auth_failure())?.and_utc();
    if (now - signed_at).num_seconds().abs() > MAX_SKEW_SECS {
        return Err(Ec2Error::new(400, "RequestExpired", format!("Request has expired. Timestamp date is {amz_date}")));
    }
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 || auth.service != "ec2" {
        return Err(mismatch());
    }
    let creq = canonical_request(req, auth.signed_headers).ok_or_else(mismatch)?;
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(creq.as_bytes())));
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let expected = hex::decode(auth.signature).map_err(|_| mismatch())?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&k).map_err(|_| mismatch())?;
    mac.update(to_sign.as_bytes());
    // Compared in constant time, as a service must.
    mac.verify_slice(&expected).map_err(|_| mismatch())?;
    Ok(caller)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The canonical request of SigV4; `None` when a signed header is missing.
fn canonical_request(req: &Signed<'_>, signed_headers: &str) -> Option<String> {
    let mut out = format!("{}\n{}\n{}\n", req.method, canonical_path(req.path), canonical_query(req.query));
    for name in signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect::<Result<_, _>>()
            .ok()?;
        if values.is_empty() {
            return None;
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = match req.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(req.body)),
    };
    out.push_str(&format!("\n{signed_headers}\n{payload}"));
    Some(out)
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest `%XX`.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes: Vec<u8> = form_urlencoded::parse(s.replace('+', "%2B").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Services other than S3 encode the path's segments twice: the path as sent, encoded again.
fn canonical_path(path: &str) -> String {
    if path.is_empty() { "/".into() } else { uri_encode(path, true) }
}

fn canonical_query(q: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = q
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), false), uri_encode(&percent_decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published SigV4 example ("get-vanilla" of the test suite): its signature must
    /// come out, so the computation is the specification's and not a mirror of the SDK's.
    #[test]
    fn the_specifications_example_verifies() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        headers.insert("authorization", auth.parse().unwrap());
        let req = Signed { method: "GET", path: "/", query: None, headers: &headers, body: b"" };
        let creq = canonical_request(&req, "host;x-amz-date").unwrap();
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The example's service is "service", not "ec2": check the arithmetic below the scope.
        let scope = "20150830/us-east-1/service/aws4_request";
        let to_sign = format!("AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{}", hex::encode(Sha256::digest(creq)));
        let mut k = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20150830");
        for part in ["us-east-1", "service", "aws4_request"] {
            k = hmac(&k, part.as_bytes());
        }
        assert_eq!(hex::encode(hmac(&k, to_sign.as_bytes())), sig);
    }

    #[test]
    fn authorization_headers_parse_or_are_refused() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(credential_scope(h), Some(("AKIDEXAMPLE".into(), "eu-west-1".into())));
        assert_eq!(credential_scope(""), None);
        assert_eq!(
            credential_scope("AWS4-HMAC-SHA256 Credential=K/d/r/ec2/nope, SignedHeaders=host, Signature=a"),
            None
        );
    }

    fn signed_headers(key: &str, date: &str) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        h.insert("host", "127.0.0.1:1".parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={key}/{}/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            &date[..8]
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    #[test]
    fn unknown_keys_wrong_signatures_and_old_dates_get_ec2s_codes() {
        let now = NaiveDateTime::parse_from_str("20261129T120000Z", "%Y%m%dT%H%M%SZ").unwrap().and_utc();
        let code = |keys: &Keys, key: &str, date: &str| {
            let h = signed_headers(key, date);
            let req = Signed { method: "POST", path: "/", query: None, headers: &h, body: b"Action=X" };
            verify(keys, &req, now).map(|c| c.access_key).map_err(|e| e.code)
        };
        let keys = Keys::demo();
        assert_eq!(code(&keys, "AKIDNOBODY", "20261129T120000Z"), Err("AuthFailure"));
        assert_eq!(code(&keys, DEMO_KEY, "20261129T120000Z"), Err("SignatureDoesNotMatch"));
        assert_eq!(code(&keys, DEMO_KEY, "20261129T115400Z"), Err("RequestExpired"));
        assert_eq!(code(&keys, DEMO_KEY, "19991231T235959Z"), Err("RequestExpired"));
        let any = Keys::demo().accepting_any();
        assert_eq!(code(&any, "AKIDNOBODY", "20261129T120000Z"), Ok("AKIDNOBODY".into()));
        assert_eq!(code(&any, DEMO_KEY, "20261129T120000Z"), Err("SignatureDoesNotMatch"), "known keys still checked");
    }
}
