//! The domain: what EC2 says of an AMI (`DescribeImages`), beside its store tasks.
//!
//! The only place that sees the SDK's `Image`; every field an honest `Option`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::Image;
use chrono::{DateTime, Utc};

/// A short value many AMIs or tasks share (`x86_64`, `available`, `/dev/xvda`, a bucket's
/// name), as one shared copy:
/// the first [`SHARED_MAX`] distinct values of at most [`SHARED_LONGEST`] bytes are kept and
/// handed out again; anything else (a server sending endless variety) gets a copy of its own.
pub fn shared(s: &str) -> Arc<str> {
    static SEEN: Mutex<Option<HashSet<Arc<str>>>> = Mutex::new(None);
    if s.len() > SHARED_LONGEST {
        return Arc::from(s);
    }
    let Ok(mut seen) = SEEN.lock() else { return Arc::from(s) };
    let seen = seen.get_or_insert_with(HashSet::new);
    if let Some(a) = seen.get(s) {
        return a.clone();
    }
    let a: Arc<str> = Arc::from(s);
    if seen.len() < SHARED_MAX {
        seen.insert(a.clone());
    }
    a
}

/// How many distinct values [`shared`] keeps, and how long each may be (a bucket name is at
/// most 63 bytes).
const SHARED_MAX: usize = 256;
const SHARED_LONGEST: usize = 63;

/// One EBS volume of an AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Shared between AMIs (see [`shared`]).
    pub device: Option<Arc<str>>,
    pub snapshot: Option<String>,
    pub size_gib: Option<i32>,
}

/// An AMI as `DescribeImages` describes it. A dashboard over an organisation keeps hundreds of
/// thousands: the ID is shared with the names map's key, and the short values most AMIs
/// have in common (architecture, state, device names) are one copy each ([`shared`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmiInfo {
    pub id: Arc<str>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub architecture: Option<Arc<str>>,
    pub state: Option<Arc<str>>,
    pub volumes: Vec<Volume>,
    pub deprecation: Option<DateTime<Utc>>,
}

impl AmiInfo {
    /// The AMI's size in GiB, what the store quota counts: the sum of its EBS volumes'
    /// `volumeSize`; `None` when it has no volume or a volume without a size.
    pub fn size_gib(&self) -> Option<u64> {
        if self.volumes.is_empty() {
            return None;
        }
        self.volumes.iter().try_fold(0u64, |sum, v| Some(sum + u64::try_from(v.size_gib?).ok()?))
    }
}

/// An AMI's state as `DescribeImages` says it (`imageState`), unknown states kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    Available,
    Pending,
    /// Disabled (it can be enabled again): it cannot launch instances, and `DescribeImages`
    /// returns it only with `IncludeDisabled`. Storing to S3 then disabling is an archive pattern.
    Disabled,
    /// Deregistered: EC2 returns it for a short while after, then not at all.
    Deregistered,
    Other(String),
}

impl ImageState {
    pub fn from_wire(s: &str) -> Self {
        match s {
            "available" => Self::Available,
            "pending" => Self::Pending,
            "disabled" => Self::Disabled,
            "deregistered" => Self::Deregistered,
            other => Self::Other(other.to_string()),
        }
    }
}

/// What is known of an AMI's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    Known(std::sync::Arc<AmiInfo>),
    /// `DescribeImages` does not know it: deregistered since its export (or never visible).
    Deregistered,
}

impl Naming {
    /// What an image `DescribeImages` returned says: one in the state `deregistered` (EC2
    /// returns them for a while after) is deregistered like one it no longer returns.
    pub fn of(info: std::sync::Arc<AmiInfo>) -> Self {
        if info.image_state() == Some(ImageState::Deregistered) { Self::Deregistered } else { Self::Known(info) }
    }

    /// The state to show beside the name, when it is not simply available: `disabled` or
    /// `deregistered`.
    pub fn state_label(&self) -> Option<&'static str> {
        match self {
            Self::Known(i) if i.image_state() == Some(ImageState::Disabled) => Some("disabled"),
            Self::Known(_) => None,
            Self::Deregistered => Some("deregistered"),
        }
    }

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
            id: Arc::from(i.image_id()?),
            name: i.name().map(str::to_string),
            description: i.description().map(str::to_string),
            created: time(i.creation_date()),
            architecture: i.architecture().map(|a| shared(a.as_str())),
            state: i.state().map(|s| shared(s.as_str())),
            volumes: i
                .block_device_mappings()
                .iter()
                .filter_map(|m| {
                    let ebs = m.ebs()?;
                    Some(Volume {
                        device: m.device_name().map(shared),
                        snapshot: ebs.snapshot_id().map(str::to_string),
                        size_gib: ebs.volume_size(),
                    })
                })
                .collect(),
            deprecation: time(i.deprecation_time()),
        })
    }

    pub fn image_state(&self) -> Option<ImageState> {
        self.state.as_deref().map(ImageState::from_wire)
    }

    pub fn state_is_disabled(&self) -> bool {
        self.image_state() == Some(ImageState::Disabled)
    }

    /// The name for a column: `-` without one, and `(disabled)` after a disabled AMI's.
    pub fn display_name(&self) -> String {
        let name = self.name.as_deref().unwrap_or("-");
        if self.state_is_disabled() { format!("{name} (disabled)") } else { name.to_string() }
    }

    /// The sum of the volumes' sizes, when every size is known.
    pub fn total_gib(&self) -> Option<i64> {
        self.volumes.iter().map(|v| v.size_gib.map(i64::from)).sum()
    }
}

/// What decides whether EC2 can store an AMI in S3 at all, beyond its size (the guide: AMIs
/// with product codes, paravirtual AMIs and instance-store AMIs are refused for good).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreFacts {
    /// Marketplace product codes the AMI carries.
    pub product_codes: Vec<String>,
    /// `ebs` or `instance-store`.
    pub root_device_type: Option<String>,
    /// `hvm` or `paravirtual`.
    pub virtualization_type: Option<String>,
}

impl StoreFacts {
    /// The one conversion from the SDK's type.
    pub fn from_sdk(i: &Image) -> Self {
        Self {
            product_codes: i.product_codes().iter().filter_map(|p| p.product_code_id().map(str::to_string)).collect(),
            root_device_type: i.root_device_type().map(|r| r.as_str().to_string()),
            virtualization_type: i.virtualization_type().map(|v| v.as_str().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_one_copy_and_long_or_new_ones_past_the_bound_their_own() {
        assert!(Arc::ptr_eq(&shared("x86_64"), &shared("x86_64")), "one copy of a common value");
        assert_eq!(&*shared("x86_64"), "x86_64");
        let long = "l".repeat(SHARED_LONGEST + 1);
        assert!(!Arc::ptr_eq(&shared(&long), &shared(&long)), "a long value is not kept");
        for n in 0..2 * SHARED_MAX {
            assert_eq!(*shared(&format!("v{n}")), *format!("v{n}"), "every value is itself, kept or not");
        }
    }
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

    #[test]
    fn disabled_is_its_own_state_and_deregistered_reads_as_deregistered() {
        let info = |state: &str| AmiInfo {
            id: "ami-12345678".into(),
            name: Some("base-al2023".into()),
            state: Some(state.into()),
            ..AmiInfo::default()
        };
        let disabled = Naming::of(std::sync::Arc::new(info("disabled")));
        assert_eq!(disabled.state_label(), Some("disabled"));
        assert_eq!(disabled.name(), Some("base-al2023"));
        assert_eq!(info("disabled").display_name(), "base-al2023 (disabled)");
        assert_eq!(Naming::of(std::sync::Arc::new(info("deregistered"))), Naming::Deregistered);
        assert_eq!(Naming::Deregistered.state_label(), Some("deregistered"));
        let available = Naming::of(std::sync::Arc::new(info("available")));
        assert_eq!((available.state_label(), info("available").display_name()), (None, "base-al2023".into()));
        assert_eq!(info("weird").image_state(), Some(ImageState::Other("weird".into())));
    }
}
