//! Region names this build knows, to catch a typo (`us-east1`) before any request: without
//! this check the SDK sends the request to a host that does not exist, retries, and ends with
//! "cannot reach the EC2 endpoint", which reads like a network fault.
//!
//! The list is the partition metadata of aws-sdk-ec2 1.274.0 (`src/endpoint_lib.rs`, the
//! `regions` of each partition), which the SDK keeps private. A region newer than this build is
//! still accepted when its area is known (`ap-southeast-9` beside `ap-southeast-7`): new
//! regions mostly take a new number in a known area. A custom endpoint takes any name.

/// Every region of the SDK's partitions (aws, aws-cn, aws-eusc, aws-iso*, aws-us-gov).
pub const KNOWN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// `ap-southeast` of `ap-southeast-7`: the name without its number.
fn area(region: &str) -> Option<&str> {
    let (area, num) = region.rsplit_once('-')?;
    (!num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) && !area.is_empty()).then_some(area)
}

/// `Ok` for a region this build knows, or a new number in a known area; otherwise the one line
/// that says so, with the closest known region.
pub fn check(region: &str) -> Result<(), String> {
    if KNOWN.contains(&region) || area(region).is_some_and(|a| KNOWN.iter().any(|k| area(k) == Some(a))) {
        return Ok(());
    }
    let hint = match crate::profiles::closest(region, KNOWN.iter().copied()) {
        Some(c) => format!("did you mean {c}?"),
        None => "regions look like us-east-1 or eu-west-2".into(),
    };
    Err(format!("'{}' is not an AWS region: {hint} (with --endpoint-url any name is taken)", crate::text::safe(region)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_region_and_new_numbers_pass() {
        assert!(check("eu-west-1").is_ok());
        assert!(check("ap-southeast-9").is_ok(), "a new region of a known area");
        assert!(check("us-gov-east-1").is_ok());
        let e = check("us-east1").unwrap_err();
        assert!(e.contains("'us-east1' is not an AWS region: did you mean us-east-1?"), "{e}");
        assert!(check("eu-wset-1").unwrap_err().contains("eu-west-1"));
        assert!(check("qqqqqqqq").unwrap_err().contains("look like"));
    }
}
