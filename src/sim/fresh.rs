//! Fresh AMIs: images an account owns that were never exported (`simulate --fresh N`), what
//! `amiwatch export` plans and stores. Generated from the seed, or scripted by a test
//! ([`super::SimConfig::fresh_images`]).
//!
//! An AMI's size is the sum of its EBS volumes as `DescribeImages` shows them: the volumes
//! here always add up to [`FreshImage::size_gb`] (up to 409,600 GB, 25 volumes of EBS's
//! 16 TiB; beyond that the last volume takes what fits in its field).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::scenario::Rng;

/// One AMI the account owns that no store task has touched (until one does).
#[derive(Debug, Clone, PartialEq)]
pub struct FreshImage {
    pub id: String,
    pub name: String,
    /// GB: the sum of its EBS volumes (what the store quota counts).
    pub size_gb: u64,
    pub created: DateTime<Utc>,
    /// Carries AWS Marketplace product codes: a store of it is refused for good.
    pub marketplace: bool,
    /// Its first export fails half way; the next one completes.
    pub fails_first: bool,
    /// Its root device is an instance store: a store of it is refused for good.
    pub instance_store: bool,
}

impl FreshImage {
    /// An ordinary EBS-backed AMI of `size_gb` GB, named after its ID, created at the Unix
    /// epoch: a test sets what else it needs.
    pub fn new(id: impl Into<String>, size_gb: u64) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            size_gb,
            created: DateTime::<Utc>::UNIX_EPOCH,
            marketplace: false,
            fails_first: false,
            instance_store: false,
        }
    }

    /// Its EBS volumes, as `DescribeImages` lists them: (device, snapshot, GiB), adding up to
    /// its size. The root volume first (for an instance-store AMI every volume is data).
    pub fn volumes(&self) -> Vec<(String, String, u32)> {
        let mut rng = Rng::new(crate::text::stable_hash(&self.id));
        let mut snap = || format!("snap-0{:016x}", rng.next_u64());
        let mut left = self.size_gb;
        let mut out = Vec::new();
        if !self.instance_store && left > 0 {
            let root = left.min(30);
            out.push(("/dev/xvda".to_string(), snap(), root as u32));
            left -= root;
        }
        for letter in 'b'..='z' {
            if left == 0 {
                break;
            }
            let size = if letter == 'z' { left.min(u64::from(u32::MAX)) } else { left.min(MAX_VOLUME_GB) };
            out.push((format!("/dev/sd{letter}"), snap(), size as u32));
            left -= size;
        }
        out
    }

    /// Its marketplace product code, when it has one.
    pub fn product_code(&self) -> Option<String> {
        self.marketplace.then(|| product_code(&self.id))
    }
}

/// The largest EBS volume: 16 TiB.
const MAX_VOLUME_GB: u64 = 16_384;

/// A product code as AWS Marketplace gives them: 25 lowercase letters and digits.
pub fn product_code(ami: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = Rng::new(crate::text::stable_hash(ami) ^ 0xC0DE);
    (0..25).map(|_| ALPHABET[rng.range(0, ALPHABET.len() as u64 - 1) as usize] as char).collect()
}

const STEMS: &[&str] = &[
    "web-frontend",
    "billing-batch",
    "golden-rhel9",
    "jenkins-agent",
    "kafka-broker",
    "postgres-replica",
    "legacy-erp",
    "analytics-notebook",
    "vpn-gateway",
    "search-indexer",
    "win2016-fileserver",
    "reporting-etl",
];

/// Percent of generated AMIs from AWS Marketplace, and of those that fail their first export.
const MARKETPLACE: u64 = 10;
const FAILS_FIRST: u64 = 10;
/// How far back generated AMIs were created: two years.
const OLDEST_DAYS: u64 = 730;

/// `n` fresh AMIs, the same for the same seed: 50-500 GB, created over the two years before
/// `base`. About 1 in 10 from AWS Marketplace and 1 in 10 failing their first export (never
/// both), and from 5 AMIs on at least one of each.
pub fn generate(n: usize, seed: u64, base: DateTime<Utc>) -> Vec<FreshImage> {
    let mut rng = Rng::new(seed ^ 0xF8E5_4A11);
    let mut ids = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let id = format!("ami-0{:016x}", rng.next_u64());
        if !ids.insert(id.clone()) {
            continue;
        }
        let size_gb = rng.range(50, 500);
        let created = base - Duration::minutes(rng.range(24 * 60, OLDEST_DAYS * 24 * 60) as i64);
        let stem = STEMS[rng.range(0, STEMS.len() as u64 - 1) as usize];
        let roll = rng.range(0, 99);
        out.push(FreshImage {
            id,
            name: format!("{stem}-{}", created.format("%Y%m%d")),
            size_gb,
            created,
            marketplace: roll < MARKETPLACE,
            fails_first: (MARKETPLACE..MARKETPLACE + FAILS_FIRST).contains(&roll),
            instance_store: false,
        });
    }
    if n >= 5 {
        // At least one of each, on AMIs that are neither yet, found from a point the seed picks.
        let from = rng.range(0, n as u64 - 1) as usize;
        let mut plain = (0..n).map(|i| (from + i) % n).filter(|&i| !out[i].marketplace && !out[i].fails_first);
        let (a, b) = (plain.next(), plain.next());
        if !out.iter().any(|f| f.marketplace)
            && let Some(i) = a
        {
            out[i].marketplace = true;
        }
        if !out.iter().any(|f| f.fails_first)
            && let Some(i) = b
        {
            out[i].fails_first = true;
        }
    }
    out
}

/// The fresh AMIs of one account and region, found by ID.
#[derive(Debug, Default)]
pub struct FreshSet {
    pub images: Vec<FreshImage>,
    index: HashMap<String, usize>,
}

impl FreshSet {
    pub fn new(images: Vec<FreshImage>) -> Self {
        let mut index = HashMap::with_capacity(images.len());
        for (i, f) in images.iter().enumerate() {
            // A scripted list naming an ID twice: the first one counts.
            index.entry(f.id.clone()).or_insert(i);
        }
        Self { images, index }
    }

    pub fn get(&self, id: &str) -> Option<&FreshImage> {
        self.index.get(id).map(|&i| &self.images[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    #[test]
    fn generated_amis_are_the_same_for_a_seed_and_as_promised() {
        let a = generate(2000, 9, at());
        assert_eq!(a, generate(2000, 9, at()));
        assert_ne!(a, generate(2000, 10, at()));
        let ids: HashSet<&str> = a.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids.len(), 2000, "every ID once");
        assert!(a.iter().all(|f| crate::task::is_ami_id(&f.id)));
        assert!(a.iter().all(|f| (50..=500).contains(&f.size_gb)));
        assert!(a.iter().all(|f| f.created < at() && at() - f.created <= Duration::days(730)));
        let old = a.iter().filter(|f| at() - f.created > Duration::days(180)).count();
        assert!(old > 1000 && old < 2000, "--older-than 180d picks some, not all: {old}");
        let market = a.iter().filter(|f| f.marketplace).count();
        let failing = a.iter().filter(|f| f.fails_first).count();
        assert!((150..=250).contains(&market) && (150..=250).contains(&failing), "{market} {failing}");
        assert!(!a.iter().any(|f| f.marketplace && f.fails_first));
        assert!(a.iter().all(|f| !f.instance_store));
        assert!(a.iter().all(|f| !f.name.is_empty() && f.name.is_ascii()));
    }

    #[test]
    fn from_five_amis_on_there_is_a_marketplace_one_and_one_that_fails_first() {
        for seed in 0..300 {
            for n in 5..12 {
                let a = generate(n, seed, at());
                assert_eq!(a.len(), n);
                assert!(a.iter().any(|f| f.marketplace), "seed {seed}, {n} AMIs");
                assert!(a.iter().any(|f| f.fails_first && !f.marketplace), "seed {seed}, {n} AMIs");
            }
        }
        assert!(generate(0, 1, at()).is_empty());
    }

    #[test]
    fn volumes_add_up_to_the_size_and_stay_within_ebs_limits() {
        for size in [0, 1, 30, 31, 50, 500, 5000, 16_414, 100_000, 409_600] {
            let mut f = FreshImage::new("ami-0123456789abcdef0", size);
            for instance_store in [false, true] {
                f.instance_store = instance_store;
                let v = f.volumes();
                assert_eq!(v.iter().map(|v| u64::from(v.2)).sum::<u64>(), size, "{size} {instance_store}");
                assert!(v.iter().all(|v| u64::from(v.2) <= MAX_VOLUME_GB && v.2 > 0));
                assert_eq!(!instance_store && size > 0, v.first().is_some_and(|v| v.0 == "/dev/xvda"));
            }
        }
        let huge = FreshImage::new("ami-0123456789abcdef0", u64::MAX).volumes();
        assert_eq!(huge.len(), 26, "bounded whatever a test asks");
        assert_eq!(
            FreshImage { marketplace: true, ..FreshImage::new("ami-12345678", 1) }.product_code().unwrap().len(),
            25
        );
        assert_eq!(FreshImage::new("ami-12345678", 1).product_code(), None);
    }
}
