//! The domain: what EC2 says of an AMI (`DescribeImages`), beside its store tasks.
//!
//! The only place that sees the SDK's `Image`; every field an honest `Option`.

use aws_sdk_ec2::types::Image;
use chrono::{DateTime, Utc};

/// One EBS volume of an AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub device: Option<String>,
    pub snapshot: Option<String>,
    pub size_gib: Option<i32>,
}

/// An AMI as `DescribeImages` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmiInfo {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub architecture: Option<String>,
    pub state: Option<String>,
    pub volumes: Vec<Volume>,
    pub deprecation: Option<DateTime<Utc>>,
}

/// What is known of an AMI's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    Known(std::sync::Arc<AmiInfo>),
    /// `DescribeImages` does not know it: deregistered since its export (or never visible).
    Deregistered,
}

impl Naming {
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Known(i) => i.name.as_deref(),
            Self::Deregistered => None,
        }
    }
}

fn time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?).ok().map(|t| t.to_utc())
}

impl AmiInfo {
    /// The one conversion from the SDK's type; `None` without an image ID.
    pub fn from_sdk(i: &Image) -> Option<Self> {
        Some(Self {
            id: i.image_id()?.to_string(),
            name: i.name().map(str::to_string),
            description: i.description().map(str::to_string),
            created: time(i.creation_date()),
            architecture: i.architecture().map(|a| a.as_str().to_string()),
            state: i.state().map(|s| s.as_str().to_string()),
            volumes: i
                .block_device_mappings()
                .iter()
                .filter_map(|m| {
                    let ebs = m.ebs()?;
                    Some(Volume {
                        device: m.device_name().map(str::to_string),
                        snapshot: ebs.snapshot_id().map(str::to_string),
                        size_gib: ebs.volume_size(),
                    })
                })
                .collect(),
            deprecation: time(i.deprecation_time()),
        })
    }

    /// The sum of the volumes' sizes, when every size is known.
    pub fn total_gib(&self) -> Option<i64> {
        self.volumes.iter().map(|v| v.size_gib.map(i64::from)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice};

    #[test]
    fn conversion_keeps_every_field_and_sums_volumes() {
        let vol = |dev: &str, gib| {
            BlockDeviceMapping::builder()
                .device_name(dev)
                .ebs(EbsBlockDevice::builder().snapshot_id("snap-1").volume_size(gib).build())
                .build()
        };
        let img = Image::builder()
            .image_id("ami-12345678")
            .name("golden-ubuntu-24.04-20261120")
            .creation_date("2026-11-20T10:00:00.000Z")
            .deprecation_time("not a date")
            .block_device_mappings(vol("/dev/xvda", 8))
            .block_device_mappings(vol("/dev/sdb", 100))
            .build();
        let a = AmiInfo::from_sdk(&img).unwrap();
        assert_eq!(a.name.as_deref(), Some("golden-ubuntu-24.04-20261120"));
        assert_eq!(a.created.unwrap().timestamp(), 1_795_168_800);
        assert_eq!(a.deprecation, None, "a date that does not parse is unknown, not invented");
        assert_eq!(a.total_gib(), Some(108));
        assert_eq!(AmiInfo::from_sdk(&Image::builder().build()), None);
    }
}
