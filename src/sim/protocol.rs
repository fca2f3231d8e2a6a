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

    /// The parameters whose names start with `prefix`, in name order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
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

/// The rules EC2's Describe calls share for `ImageId.N` and `MaxResults`: every ID well formed
/// (`InvalidAMIID.Malformed`), `MaxResults` never beside IDs, and within `range`.
pub fn ids_and_max_results(
    p: &Params,
    image_ids: &[String],
    range: std::ops::RangeInclusive<usize>,
) -> Result<Option<usize>, Ec2Error> {
    if let Some(bad) = image_ids.iter().find(|id| !is_ami_id(id)) {
        return Err(Ec2Error::new(400, "InvalidAMIID.Malformed", format!("Invalid id: \"{bad}\"")));
    }
    match p.get("MaxResults") {
        None => Ok(None),
        Some(_) if !image_ids.is_empty() => Err(Ec2Error::new(
            400,
            "InvalidParameterCombination",
            "The parameter MaxResults cannot be used with the parameter ImageIds.",
        )),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(Ec2Error::new(
                400,
                "InvalidParameterValue",
                format!(
                    "Value ( {v} ) for parameter maxResults is invalid. Expecting a value between {} and {}.",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
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
        let max_results = ids_and_max_results(p, &image_ids, 1..=200)?;
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

/// Regions an account must opt in to (as AWS lists them): with `AllRegions=true`,
/// `DescribeRegions` lists those not enabled too, as `not-opted-in`.
pub const OPT_IN_REGIONS: [&str; 15] = [
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// One region as `DescribeRegions` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    pub name: String,
    pub endpoint: String,
    /// `opt-in-not-required`, `opted-in` or `not-opted-in`.
    pub opt_in_status: &'static str,
}

/// A validated `DescribeRegions` request: `RegionName.N`, `AllRegions`, and the filters
/// `region-name`, `endpoint` and `opt-in-status` (values OR-ed, filters AND-ed).
#[derive(Debug, Default)]
pub struct RegionsRequest {
    pub names: Vec<String>,
    pub all_regions: bool,
    pub filters: Vec<(String, Vec<String>)>,
}

impl RegionsRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let all_regions = match p.get("AllRegions") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(Ec2Error::new(
                    400,
                    "InvalidParameterValue",
                    format!("Value ({v}) for parameter AllRegions is invalid. Expecting a boolean."),
                ));
            }
        };
        let mut filters = Vec::new();
        for i in 1.. {
            let Some(name) = p.get(&format!("Filter.{i}.Name")) else {
                break;
            };
            if !matches!(name, "region-name" | "endpoint" | "opt-in-status") {
                return Err(Ec2Error::new(400, "InvalidParameterValue", format!("The filter '{name}' is invalid")));
            }
            filters.push((name.to_string(), p.list(&format!("Filter.{i}.Value"))));
        }
        Ok(Self { names: p.list("RegionName"), all_regions, filters })
    }
}

/// Answers a `DescribeRegions` request for an account with these regions enabled: the
/// enabled ones (opted in, or needing no opt-in), and with `AllRegions` the opt-in regions it
/// has not enabled too. A region name the service does not know is refused.
pub fn describe_regions(enabled: &[String], req: &RegionsRequest) -> Result<Vec<RegionInfo>, Ec2Error> {
    let known = |r: &str| enabled.iter().any(|e| e == r) || OPT_IN_REGIONS.contains(&r);
    let unknown: Vec<&str> = req.names.iter().map(String::as_str).filter(|r| !known(r)).collect();
    if !unknown.is_empty() {
        let msg = format!("Invalid region names: [{}]", unknown.join(", "));
        return Err(Ec2Error::new(400, "InvalidParameterValue", msg));
    }
    let mut all: Vec<RegionInfo> = enabled
        .iter()
        .map(|r| {
            let status = if OPT_IN_REGIONS.contains(&r.as_str()) { "opted-in" } else { "opt-in-not-required" };
            region_info(r, status)
        })
        .collect();
    if req.all_regions {
        let off = OPT_IN_REGIONS.iter().filter(|r| !enabled.iter().any(|e| e == *r));
        all.extend(off.map(|r| region_info(r, "not-opted-in")));
    }
    let keep = |r: &RegionInfo| {
        (req.names.is_empty() || req.names.contains(&r.name))
            && req.filters.iter().all(|(name, values)| {
                let field = match name.as_str() {
                    "region-name" => r.name.as_str(),
                    "endpoint" => r.endpoint.as_str(),
                    _ => r.opt_in_status,
                };
                values.iter().any(|v| v == field)
            })
    };
    all.retain(keep);
    Ok(all)
}

fn region_info(name: &str, opt_in_status: &'static str) -> RegionInfo {
    RegionInfo { name: name.to_string(), endpoint: format!("ec2.{name}.amazonaws.com"), opt_in_status }
}

/// The XML answer for `DescribeRegions`.
pub fn regions_xml(regions: &[RegionInfo], request_id: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"{XMLNS}\">\n    <requestId>{request_id}</requestId>\n    <regionInfo>\n"
    );
    for r in regions {
        let _ = write!(
            out,
            "        <item>\n            <regionName>{}</regionName>\n            <regionEndpoint>{}</regionEndpoint>\n            <optInStatus>{}</optInStatus>\n        </item>\n",
            escape(&r.name),
            escape(&r.endpoint),
            r.opt_in_status
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
    fn describe_regions_follows_the_service() {
        let enabled: Vec<String> = ["us-east-1", "eu-west-1", "me-south-1"].map(String::from).to_vec();
        let ask = |q: &str| describe_regions(&enabled, &RegionsRequest::from_params(&params(q))?);
        let names = |r: Vec<RegionInfo>| r.into_iter().map(|r| r.name).collect::<Vec<_>>();
        let all = ask("").unwrap();
        assert_eq!(names(all.clone()), ["us-east-1", "eu-west-1", "me-south-1"]);
        assert_eq!(all[0].endpoint, "ec2.us-east-1.amazonaws.com");
        assert_eq!(all[0].opt_in_status, "opt-in-not-required");
        assert_eq!(all[2].opt_in_status, "opted-in");
        assert_eq!(names(ask("RegionName.1=eu-west-1").unwrap()), ["eu-west-1"]);
        assert_eq!(ask("RegionName.1=xx-nowhere-1").unwrap_err().code, "InvalidParameterValue");
        let every = ask("AllRegions=true").unwrap();
        assert_eq!(every.len(), 3 + OPT_IN_REGIONS.len() - 1);
        assert!(every.iter().any(|r| r.name == "af-south-1" && r.opt_in_status == "not-opted-in"));
        let off = ask("AllRegions=true&Filter.1.Name=opt-in-status&Filter.1.Value.1=not-opted-in").unwrap();
        assert_eq!(off.len(), OPT_IN_REGIONS.len() - 1);
        let two = ask("Filter.1.Name=region-name&Filter.1.Value.1=us-east-1&Filter.1.Value.2=me-south-1").unwrap();
        assert_eq!(names(two), ["us-east-1", "me-south-1"]);
        let and = "Filter.1.Name=region-name&Filter.1.Value.1=us-east-1&Filter.2.Name=opt-in-status&Filter.2.Value.1=opted-in";
        assert!(ask(and).unwrap().is_empty());
        assert_eq!(ask("Filter.1.Name=owner&Filter.1.Value.1=x").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(ask("AllRegions=maybe").unwrap_err().code, "InvalidParameterValue");
    }

    proptest::proptest! {
        /// Whatever a client sends, DescribeRegions answers or refuses: it never panics, and
        /// lists only regions it knows, each once.
        #[test]
        fn describe_regions_is_total(query in ".{0,200}", names in proptest::collection::vec("[a-z0-9-]{0,16}", 0..4)) {
            let enabled: Vec<String> = ["us-east-1", "eu-west-1"].map(String::from).to_vec();
            let mut q = query;
            for (i, n) in names.iter().enumerate() {
                q.push_str(&format!("&RegionName.{}={n}&Filter.1.Name=region-name&Filter.1.Value.{}={n}", i + 1, i + 1));
            }
            let answer = RegionsRequest::from_params(&params(&q)).and_then(|req| describe_regions(&enabled, &req));
            if let Ok(found) = answer {
                let mut seen = std::collections::HashSet::new();
                for r in &found {
                    proptest::prop_assert!(enabled.contains(&r.name) || OPT_IN_REGIONS.contains(&r.name.as_str()));
                    proptest::prop_assert!(seen.insert(r.name.clone()));
                }
                let xml = regions_xml(&found, "id");
                proptest::prop_assert!(crate::ec2::client::xml_is_complete(xml.as_bytes()));
            }
        }
    }

    #[test]
    fn escape_keeps_xml_well_formed() {
        assert_eq!(escape("a<b>&\"'\u{1b}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
