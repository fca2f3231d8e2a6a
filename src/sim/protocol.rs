//! The EC2 Query protocol as the embedded endpoint speaks it: form parameters in, XML out,
//! with the rules the real service enforces (see `../shared/API-NOTES.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::scenario::{Scenario, SimTask};
use crate::task::is_ami_id;

pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// The page size the endpoint uses when a request sends no `MaxResults`.
pub const DEFAULT_PAGE: usize = 200;
const MAX_IMAGE_IDS: usize = 20;

/// An EC2 error answer: HTTP status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Ec2Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            self.code,
            escape(&self.message),
            request_id
        )
    }
}

/// The parsed form parameters of one request.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Values of a flattened list: `Prefix.1`, `Prefix.2`, ... in order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..).map_while(|i| self.0.get(&format!("{prefix}.{i}")).cloned()).collect()
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    pub fn dry_run(&self) -> bool {
        self.get("DryRun").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// A validated `DescribeStoreImageTasks` request.
#[derive(Debug, Default)]
pub struct DescribeRequest {
    pub image_ids: Vec<String>,
    pub states: Option<Vec<String>>,
    pub buckets: Option<Vec<String>>,
    pub max_results: Option<usize>,
    pub next_token: Option<usize>,
}

impl DescribeRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let image_ids = p.list("ImageId");
        if image_ids.len() > MAX_IMAGE_IDS {
            return Err(Ec2Error::new(
                400,
                "InvalidParameterValue",
                format!("The maximum number of image IDs is {MAX_IMAGE_IDS}; {} were given.", image_ids.len()),
            ));
        }
        if let Some(bad) = image_ids.iter().find(|id| !is_ami_id(id)) {
            return Err(Ec2Error::new(400, "InvalidAMIID.Malformed", format!("Invalid id: \"{bad}\"")));
        }
        let max_results = match p.get("MaxResults") {
            None => None,
            Some(_) if !image_ids.is_empty() => {
                return Err(Ec2Error::new(
                    400,
                    "InvalidParameterCombination",
                    "The parameter MaxResults cannot be used with the parameter ImageIds.",
                ));
            }
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=200) => Some(n),
                _ => {
                    return Err(Ec2Error::new(
                        400,
                        "InvalidParameterValue",
                        format!(
                            "Value ( {v} ) for parameter maxResults is invalid. Expecting a value between 1 and 200."
                        ),
                    ));
                }
            },
        };
        let mut req = Self { image_ids, max_results, ..Self::default() };
        for i in 1.. {
            let Some(name) = p.get(&format!("Filter.{i}.Name")) else {
                break;
            };
            let values = p.list(&format!("Filter.{i}.Value"));
            let slot = match name {
                "task-state" => &mut req.states,
                "bucket" => &mut req.buckets,
                other => {
                    return Err(Ec2Error::new(
                        400,
                        "InvalidParameterValue",
                        format!("The filter '{other}' is invalid"),
                    ));
                }
            };
            // Two filters of one name are AND-ed: only values in both survive.
            *slot = Some(match slot.take() {
                None => values,
                Some(prev) => prev.into_iter().filter(|v| values.contains(v)).collect(),
            });
        }
        if let Some(t) = p.get("NextToken") {
            req.next_token =
                Some(decode_token(t).ok_or_else(|| {
                    Ec2Error::new(400, "InvalidPaginationToken", format!("The token '{t}' is invalid."))
                })?);
        }
        Ok(req)
    }
}

/// One answer page: the tasks shown and the token for the next page.
pub struct Page<'a> {
    pub tasks: Vec<&'a SimTask>,
    pub next_token: Option<String>,
}

/// Runs a describe request against the scenario at time `now`. A task whose start is still
/// to come does not exist yet: an export that starts while a client watches appears then.
pub fn describe<'a>(s: &'a Scenario, req: &DescribeRequest, now: DateTime<Utc>) -> Page<'a> {
    let started = |t: &SimTask| t.start <= now;
    if !req.image_ids.is_empty() {
        // With ImageIds the service ignores filters and returns each AMI's latest task.
        let mut seen = std::collections::HashSet::new();
        let tasks = s
            .tasks
            .iter()
            .filter(|t| started(t) && req.image_ids.contains(&t.ami_id))
            .filter(|t| seen.insert(t.ami_id.as_str()))
            .collect();
        return Page { tasks, next_token: None };
    }
    let limit = req.max_results.unwrap_or(DEFAULT_PAGE);
    let from = req.next_token.unwrap_or(0);
    let mut tasks = Vec::with_capacity(limit.min(s.tasks.len()));
    let mut next_token = None;
    for (i, t) in s.tasks.iter().enumerate().skip(from) {
        let keep = started(t)
            && req.buckets.as_ref().is_none_or(|b| b.contains(&t.bucket))
            && req.states.as_ref().is_none_or(|st| st.iter().any(|v| v == t.status_at(now).state));
        if !keep {
            continue;
        }
        if tasks.len() == limit {
            next_token = Some(encode_token(i));
            break;
        }
        tasks.push(t);
    }
    Page { tasks, next_token }
}

/// The XML answer for one page.
pub fn describe_xml(page: &Page<'_>, now: DateTime<Utc>, request_id: &str) -> String {
    let mut out = String::with_capacity(256 + page.tasks.len() * 420);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeStoreImageTasksResponse xmlns=\"{XMLNS}\">\n    <requestId>{request_id}</requestId>\n    <storeImageTaskResultSet>\n"
    );
    for t in &page.tasks {
        let st = t.status_at(now);
        let _ = write!(
            out,
            "        <item>\n            <amiId>{}</amiId>\n            <taskStartTime>{}</taskStartTime>\n            <bucket>{}</bucket>\n            <s3objectKey>{}</s3objectKey>\n            <progressPercentage>{}</progressPercentage>\n            <storeTaskState>{}</storeTaskState>\n",
            t.ami_id,
            t.start.to_rfc3339_opts(SecondsFormat::Millis, true),
            escape(&t.bucket),
            escape(&t.object_key()),
            st.progress,
            st.state
        );
        if st.state == "Failed" {
            let _ = writeln!(
                out,
                "            <storeTaskFailureReason>{}</storeTaskFailureReason>",
                escape(&t.failure_reason)
            );
        }
        out.push_str("        </item>\n");
    }
    out.push_str("    </storeImageTaskResultSet>\n");
    if let Some(tok) = &page.next_token {
        let _ = writeln!(out, "    <nextToken>{tok}</nextToken>");
    }
    out.push_str("</DescribeStoreImageTasksResponse>");
    out
}

/// The XML answer for `DescribeRegions`.
pub fn regions_xml(regions: &[String], endpoint: &str, request_id: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"{XMLNS}\">\n    <requestId>{request_id}</requestId>\n    <regionInfo>\n"
    );
    for r in regions {
        let _ = write!(
            out,
            "        <item>\n            <regionName>{}</regionName>\n            <regionEndpoint>{}</regionEndpoint>\n            <optInStatus>opt-in-not-required</optInStatus>\n        </item>\n",
            escape(r),
            escape(endpoint)
        );
    }
    out.push_str("    </regionInfo>\n</DescribeRegionsResponse>");
    out
}

/// Tokens are opaque to clients; inside, the index of the first task of the next page and a
/// check value, so a garbled token is refused like the real service refuses one.
pub(crate) fn encode_token(index: usize) -> String {
    format!("eyJ2IjoxfQ{index:x}x{:x}", check(index))
}

pub(crate) fn decode_token(t: &str) -> Option<usize> {
    let (idx, chk) = t.strip_prefix("eyJ2IjoxfQ")?.split_once('x')?;
    let index = usize::from_str_radix(idx, 16).ok()?;
    (u64::from_str_radix(chk, 16).ok()? == check(index)).then_some(index)
}

fn check(index: usize) -> u64 {
    (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D).rotate_left(17) & 0xffff_ffff
}

/// XML text escaping; characters XML 1.0 cannot carry at all become numeric references
/// where allowed, so whatever the scenario holds, the document stays well-formed.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {} // not representable in XML 1.0
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        for i in [0, 1, 199, 12_345] {
            assert_eq!(decode_token(&encode_token(i)), Some(i));
        }
        assert_eq!(decode_token("nope"), None);
        let mut t = encode_token(400);
        t.push('0');
        assert_eq!(decode_token(&t), None);
    }

    #[test]
    fn rules_of_the_service_are_enforced() {
        let ids: String = (1..=21).map(|i| format!("&ImageId.{i}=ami-{i:08x}")).collect();
        let e = DescribeRequest::from_params(&params(&ids)).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        let e = DescribeRequest::from_params(&params("ImageId.1=ami-12345678&MaxResults=5")).unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination");
        let e = DescribeRequest::from_params(&params("MaxResults=201")).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        let e = DescribeRequest::from_params(&params("NextToken=zzz")).unwrap_err();
        assert_eq!(e.code, "InvalidPaginationToken");
        let e = DescribeRequest::from_params(&params("Filter.1.Name=owner&Filter.1.Value.1=x")).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        let r = DescribeRequest::from_params(&params(
            "Filter.1.Name=task-state&Filter.1.Value.1=Failed&Filter.1.Value.2=Completed&Filter.2.Name=bucket&Filter.2.Value.1=b",
        ))
        .unwrap();
        assert_eq!(r.states, Some(vec!["Failed".into(), "Completed".into()]));
        assert_eq!(r.buckets, Some(vec!["b".into()]));
    }

    #[test]
    fn ami_ids_are_checked() {
        assert!(is_ami_id("ami-12345678"));
        assert!(is_ami_id("ami-0123456789abcdef0"));
        assert!(!is_ami_id("ami-123"));
        assert!(!is_ami_id("ami-0123456789ABCDEF0"));
        assert!(!is_ami_id("snap-12345678"));
    }

    #[test]
    fn escape_keeps_xml_well_formed() {
        assert_eq!(escape("a<b>&\"'\u{1b}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
