//! `CreateStoreImageTask` as the embedded endpoint checks and answers it: the parameters the
//! service requires, then their form, with the codes EC2 answers; then the AMI (it must exist,
//! and be storable), the export in progress, the store quota; and a record of every answer
//! ([`super::SimHandle::creates`]).
//!
//! Codes the guide does not name are assumed, as said where they are answered:
//! `ResourceLimitExceeded` (the store quota), `UnsupportedOperation` (an AMI that can never be
//! stored: marketplace product codes, an instance-store root, over 5,000 GB).

use chrono::{DateTime, SecondsFormat, Utc};

use super::images::{self, SimState};
use super::protocol::{Ec2Error, Params};
use super::scenario::{self, SimTask};
use crate::task::{is_ami_id, is_bucket_name};

/// The largest AMI the service stores: 5,000 GB (the sum of its EBS snapshots).
pub const MAX_STORE_GB: u64 = 5_000;
/// S3 takes at most 10 tags on an object.
pub const MAX_TAGS: usize = 10;
/// S3ObjectTag limits, in Unicode characters (EC2 API reference, `S3ObjectTag`).
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Where a fresh AMI that fails its first export fails, and why.
pub const FAILS_FIRST_AT: u8 = 50;
pub const FAILS_FIRST_REASON: &str =
    "An internal error occurred while the snapshot data was being copied. Try the request again.";
/// How many answers [`super::SimHandle::creates`] keeps: the latest ones.
pub const KEPT_RECORDS: usize = 100_000;

/// A validated `CreateStoreImageTask` request.
#[derive(Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub image_id: String,
    pub bucket: String,
    /// `S3ObjectTag.N.Key` / `.Value`, in order.
    pub tags: Vec<(String, String)>,
}

fn invalid(msg: String) -> Ec2Error {
    Ec2Error::new(400, "InvalidParameterValue", msg)
}

impl CreateRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let required = |name: &str| {
            p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                Ec2Error::new(400, "MissingParameter", format!("The request must contain the parameter {name}"))
            })
        };
        let (ami, bucket) = (required("ImageId")?, required("Bucket")?);
        if !is_ami_id(ami) {
            return Err(Ec2Error::new(400, "InvalidAMIID.Malformed", format!("Invalid id: \"{ami}\"")));
        }
        if !is_bucket_name(bucket) {
            return Err(invalid(format!("The bucket name '{bucket}' is not valid.")));
        }
        Ok(Self { image_id: ami.to_string(), bucket: bucket.to_string(), tags: tags_of(p)? })
    }
}

/// The `S3ObjectTag.N.Key` / `S3ObjectTag.N.Value` parameters, as EC2 and S3 check them: N from
/// 1 with no gap, at most [`MAX_TAGS`], each with a key of 1 to 128 characters that does not
/// start with `aws:` and is not repeated, a value of at most 256 (none: empty). Anything else
/// is `InvalidParameterValue`. Total: any parameters give tags or an error.
pub fn tags_of(p: &Params) -> Result<Vec<(String, String)>, Ec2Error> {
    const PREFIX: &str = "S3ObjectTag.";
    // (index, key, value) as sent, bounded by MAX_TAGS before anything grows with the input.
    let mut slots: Vec<(usize, Option<&str>, Option<&str>)> = Vec::new();
    for (name, value) in p.with_prefix(PREFIX) {
        let rest = &name[PREFIX.len()..];
        let parsed = rest.split_once('.').and_then(|(n, field)| {
            let canonical = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
            Some((n.parse::<usize>().ok().filter(|_| canonical)?, field))
        });
        let Some((n, field)) = parsed.filter(|(_, f)| matches!(*f, "Key" | "Value")) else {
            return Err(invalid(format!("The parameter {} is not valid.", crate::text::truncate(name, 64))));
        };
        let i = match slots.iter().position(|s| s.0 == n) {
            Some(i) => i,
            None if slots.len() == MAX_TAGS => {
                return Err(invalid(format!("At most {MAX_TAGS} S3 object tags can be given.")));
            }
            None => {
                slots.push((n, None, None));
                slots.len() - 1
            }
        };
        if field == "Key" { slots[i].1 = Some(value) } else { slots[i].2 = Some(value) }
    }
    slots.sort_by_key(|s| s.0);
    let mut tags: Vec<(String, String)> = Vec::with_capacity(slots.len());
    for (want, (n, key, value)) in (1..).zip(slots) {
        if n != want {
            return Err(invalid(format!("S3ObjectTag.{want} is missing: tags are numbered from 1.")));
        }
        let key = key.filter(|k| !k.is_empty()).ok_or_else(|| invalid(format!("S3ObjectTag.{n} has no Key.")))?;
        let value = value.unwrap_or_default();
        if key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(invalid(format!("The key of S3ObjectTag.{n} is longer than {MAX_TAG_KEY_CHARS} characters.")));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid(format!(
                "The value of S3ObjectTag.{n} is longer than {MAX_TAG_VALUE_CHARS} characters."
            )));
        }
        if key.starts_with("aws:") {
            return Err(invalid(format!("The key of S3ObjectTag.{n} may not begin with aws:.")));
        }
        if tags.iter().any(|(k, _)| k == key) {
            return Err(invalid(format!("S3ObjectTag.{n} repeats a key: each key once.")));
        }
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(tags)
}

/// One `CreateStoreImageTask` the endpoint answered, as a test or a benchmark checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRecord {
    /// The account's ID (as `DescribeImages` gives `imageOwnerId`).
    pub account: String,
    /// The access key that signed the request.
    pub access_key: String,
    pub region: String,
    /// `ImageId` and `Bucket` as sent (empty when missing).
    pub ami: String,
    pub bucket: String,
    pub tags: Vec<(String, String)>,
    pub dry_run: bool,
    /// The endpoint's clock.
    pub at: DateTime<Utc>,
    /// The object key, or the error code (`DryRunOperation` for an allowed dry run).
    pub outcome: Result<String, String>,
}

impl CreateRecord {
    /// As `GET /_sim/creates` serves it: `outcome` as `object_key` or `error`, the other null.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "account": self.account,
            "access_key": self.access_key,
            "region": self.region,
            "ami": self.ami,
            "bucket": self.bucket,
            "tags": self.tags,
            "dry_run": self.dry_run,
            "at": self.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "object_key": self.outcome.as_ref().ok(),
            "error": self.outcome.as_ref().err(),
        })
    }
}

impl super::State {
    /// Answers one `CreateStoreImageTask` from `access_key` in `region` (`allowed`: whether the
    /// key may write), and records the answer.
    pub(super) fn create_store_image_task(
        &self,
        access_key: &str,
        region: &str,
        params: &Params,
        allowed: bool,
    ) -> Result<String, Ec2Error> {
        let dry_run = params.dry_run();
        let req = CreateRequest::from_params(params);
        let outcome = match &req {
            _ if !allowed => Err(super::unauthorized("ec2:CreateStoreImageTask")),
            Err(e) => Err(e.clone()),
            Ok(_) if dry_run => Err(super::dry_run_succeeded()),
            Ok(req) => self.create(access_key, region, req),
        };
        let record = CreateRecord {
            account: self.owner_id(access_key),
            access_key: access_key.to_string(),
            region: region.to_string(),
            ami: params.get("ImageId").unwrap_or_default().to_string(),
            bucket: params.get("Bucket").unwrap_or_default().to_string(),
            tags: req.map(|r| r.tags).unwrap_or_default(),
            dry_run,
            at: self.clock.now(),
            outcome: outcome.clone().map_err(|e| e.code.to_string()),
        };
        let mut records = self.creates.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == KEPT_RECORDS {
            records.pop_front();
        }
        records.push_back(record);
        outcome
    }

    /// Starts an export of the AMI now, as `CreateStoreImageTask` does: the AMI must exist (a
    /// fresh one, or one the account exported, not deregistered), be storable, have no export
    /// in progress, and the store quota must not be held.
    fn create(&self, access_key: &str, region: &str, req: &CreateRequest) -> Result<String, Ec2Error> {
        let ami = req.image_id.as_str();
        // One write at a time: two at once would each add their task to the same old copy.
        let _one = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.scenario(access_key, region);
        let now = self.clock.now();
        let owner = self.owner_id(access_key);
        let view = self.view(&owner, now);
        let image = images::lookup(&current, ami, &view).filter(|i| !matches!(i.state, SimState::Deregistered(_)));
        let Some(image) = image else {
            let msg = format!("The image id '[{ami}]' does not exist");
            return Err(Ec2Error::new(400, "InvalidAMIID.NotFound", msg));
        };
        // Refused for good. Assumed: the guide says these AMIs cannot be stored but names no
        // code; EC2 answers UnsupportedOperation for a request it can never carry out.
        if !image.product_codes.is_empty() {
            let msg = format!("The image {ami} has product codes: AMIs from AWS Marketplace cannot be stored in S3.");
            return Err(Ec2Error::new(400, "UnsupportedOperation", msg));
        }
        if image.instance_store {
            let msg = format!("The image {ami} is backed by instance store: only EBS-backed AMIs can be stored in S3.");
            return Err(Ec2Error::new(400, "UnsupportedOperation", msg));
        }
        let size = images::size_of(&current, ami, self.config.seed, self.clock.base());
        if size > MAX_STORE_GB {
            let msg = format!("The image {ami} holds {size} GB: AMIs over {MAX_STORE_GB} GB cannot be stored in S3.");
            return Err(Ec2Error::new(400, "UnsupportedOperation", msg));
        }
        if current.tasks.iter().any(|t| t.ami_id == ami && t.start <= now && t.status_at(now).state == "InProgress") {
            let msg = format!("An export of {ami} to Amazon S3 is already in progress.");
            return Err(Ec2Error::new(400, "IncorrectState", msg));
        }
        if let Some(quota) = self.config.store_quota_gb {
            let held = self.in_flight_gb(&current, now);
            if held >= quota {
                // Assumed: the guide names no code for the store quota; this is EC2's code
                // for an exceeded limit.
                let msg = format!(
                    "The AMIs being stored hold {held} GB, at or over the limit of {quota} GB. Try again when an export in progress has finished."
                );
                return Err(Ec2Error::new(400, "ResourceLimitExceeded", msg));
            }
        }
        let first = !current.tasks.iter().any(|t| t.ami_id == ami);
        let fails = first && current.fresh.get(ami).is_some_and(|f| f.fails_first);
        let mut rng = scenario::Rng::new(crate::text::stable_hash(ami) ^ now.timestamp() as u64);
        let task = SimTask {
            ami_id: ami.to_string(),
            bucket: req.bucket.clone(),
            start: chrono::SubsecRound::trunc_subsecs(now, 0),
            duration_secs: rng.range(600, 3600) as f64,
            fail_at: fails.then_some(FAILS_FIRST_AT),
            failure_reason: if fails { FAILS_FIRST_REASON.to_string() } else { String::new() },
            wait_secs: 0.0,
        };
        let key = task.object_key();
        let mut next = (*current).clone();
        // Newest first: before the tasks that start later (upcoming ones) no more.
        let at = next.tasks.iter().position(|t| t.start <= task.start).unwrap_or(next.tasks.len());
        next.tasks.insert(at, task);
        self.reschedule(&mut next);
        let account = self.account_of(access_key);
        let mut map = self.scenarios.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((account.to_string(), region.to_string()), std::sync::Arc::new(next));
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(q: &str) -> &'static str {
        CreateRequest::from_params(&Params::parse(q.as_bytes())).unwrap_err().code
    }

    #[test]
    fn a_missing_required_parameter_is_missing_parameter() {
        assert_eq!(code("Bucket=my-bucket"), "MissingParameter");
        assert_eq!(code("ImageId=ami-12345678"), "MissingParameter");
        assert_eq!(code(""), "MissingParameter");
        // Present but malformed keeps its own code.
        assert_eq!(code("ImageId=ami-1&Bucket=my-bucket"), "InvalidAMIID.Malformed");
        assert_eq!(code("ImageId=ami-12345678&Bucket=B"), "InvalidParameterValue");
        let ok = CreateRequest::from_params(&Params::parse(b"ImageId=ami-12345678&Bucket=my-bucket")).unwrap();
        assert_eq!(ok, CreateRequest { image_id: "ami-12345678".into(), bucket: "my-bucket".into(), tags: vec![] });
    }

    fn tags(q: &str) -> Result<Vec<(String, String)>, &'static str> {
        tags_of(&Params::parse(q.as_bytes())).map_err(|e| e.code)
    }

    fn pairs(t: &[(&str, &str)]) -> Vec<(String, String)> {
        t.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tags_are_read_in_order_and_checked_as_ec2_and_s3_do() {
        let q = "S3ObjectTag.2.Key=b&S3ObjectTag.1.Value=x&S3ObjectTag.1.Key=a&S3ObjectTag.10.Key=j\
                 &S3ObjectTag.3.Key=c&S3ObjectTag.4.Key=d&S3ObjectTag.5.Key=e&S3ObjectTag.6.Key=f\
                 &S3ObjectTag.7.Key=g&S3ObjectTag.8.Key=h&S3ObjectTag.9.Key=i&S3ObjectTag.9.Value=";
        let got = tags(q).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(got[..2], pairs(&[("a", "x"), ("b", "")]));
        assert_eq!(got[9], ("j".to_string(), String::new()), "10 after 9, not after 1");
        assert_eq!(tags(&format!("{q}&S3ObjectTag.11.Key=k")), Err("InvalidParameterValue"), "11 tags");
        assert_eq!(tags(""), Ok(vec![]));
        for bad in [
            "S3ObjectTag.2.Key=a",                       // a gap
            "S3ObjectTag.1.Value=v",                     // no key
            "S3ObjectTag.1.Key=",                        // an empty key
            "S3ObjectTag.0.Key=a",                       // numbered from 1
            "S3ObjectTag.01.Key=a",                      // not canonical
            "S3ObjectTag.1.Name=a",                      // no such field
            "S3ObjectTag.1=a",                           // no field
            "S3ObjectTag.1.Key=aws:x",                   // reserved
            "S3ObjectTag.1.Key=a&S3ObjectTag.2.Key=a",   // repeated
            "S3ObjectTag.99999999999999999999999.Key=a", // beyond any index
        ] {
            assert_eq!(tags(bad), Err("InvalidParameterValue"), "{bad}");
        }
        let long = |n: usize| "é".repeat(n);
        assert!(tags(&format!("S3ObjectTag.1.Key={}&S3ObjectTag.1.Value={}", long(128), long(256))).is_ok());
        assert!(tags(&format!("S3ObjectTag.1.Key={}", long(129))).is_err());
        assert!(tags(&format!("S3ObjectTag.1.Key=k&S3ObjectTag.1.Value={}", long(257))).is_err());
        let req = CreateRequest::from_params(&Params::parse(
            b"ImageId=ami-12345678&Bucket=my-bucket&S3ObjectTag.1.Key=plan&S3ObjectTag.1.Value=p%201",
        ))
        .unwrap();
        assert_eq!(req.tags, pairs(&[("plan", "p 1")]));
    }

    proptest::proptest! {
        /// Whatever the parameters, the tags come out within the limits or the request is
        /// refused as `InvalidParameterValue`; it never panics.
        #[test]
        fn tag_parsing_is_total_and_keeps_the_limits(
            raw in ".{0,300}",
            fields in proptest::collection::vec((".{0,12}", ".{0,12}", ".{0,300}"), 0..14),
        ) {
            let mut q = form_urlencoded::Serializer::new(raw);
            for (n, field, value) in &fields {
                q.append_pair(&format!("S3ObjectTag.{n}.{field}"), value);
            }
            match tags_of(&Params::parse(q.finish().as_bytes())) {
                Ok(tags) => {
                    proptest::prop_assert!(tags.len() <= MAX_TAGS);
                    for (i, (k, v)) in tags.iter().enumerate() {
                        proptest::prop_assert!(!k.is_empty() && k.chars().count() <= MAX_TAG_KEY_CHARS);
                        proptest::prop_assert!(v.chars().count() <= MAX_TAG_VALUE_CHARS && !k.starts_with("aws:"));
                        proptest::prop_assert!(tags[..i].iter().all(|(other, _)| other != k));
                    }
                }
                Err(e) => proptest::prop_assert_eq!(e.code, "InvalidParameterValue"),
            }
        }

        /// Tags within the limits come back as sent, in order, whatever their text.
        #[test]
        fn tags_within_the_limits_round_trip(
            sent in proptest::collection::vec((".{1,128}", ".{0,256}"), 0..=10),
        ) {
            let mut seen = std::collections::HashSet::new();
            let sent: Vec<(String, String)> =
                sent.into_iter().filter(|(k, _)| !k.starts_with("aws:") && seen.insert(k.clone())).collect();
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (i, (k, v)) in sent.iter().enumerate() {
                q.append_pair(&format!("S3ObjectTag.{}.Key", i + 1), k);
                q.append_pair(&format!("S3ObjectTag.{}.Value", i + 1), v);
            }
            proptest::prop_assert_eq!(tags_of(&Params::parse(q.finish().as_bytes())).map_err(|e| e.message), Ok(sent));
        }
    }
}
