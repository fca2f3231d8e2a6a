//! The export plan: which AMIs go to which bucket, and where each one stands. The file is the
//! truth: it is written whole and atomically after every change ([`crate::files::write_atomic`]),
//! an AMI is marked `starting` before its `CreateStoreImageTask` is sent, and a runner holds a
//! lock on it so a second one is refused. JSON, versioned, meant to be read by people too.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::files::{self, FileError};

/// The plan file's format. A file of another version is refused, never guessed at.
pub const VERSION: u32 = 1;

/// A plan file larger than this is not one amiwatch wrote (10,000 AMIs take about 5 MB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Most AMIs one plan may hold: beyond any archive one account and region holds (EC2's
/// default quota is 50,000 AMIs a region).
pub const MAX_AMIS: usize = 50_000;

/// The whole plan, as the file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    pub bucket: String,
    /// The profile the plan runs as (`None`: the default chain); resuming uses it.
    pub profile: Option<String>,
    pub region: String,
    pub store_quota_gb: u64,
    /// How many times a failed export is started again.
    pub retries: u32,
    /// Tags put on each S3 object (`S3ObjectTag`).
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub created: DateTime<Utc>,
    pub amis: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One AMI of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub ami: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The sum of its EBS volumes (what the store quota counts), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gb: Option<u64>,
    pub status: Status,
    /// Each export of it this plan started (or adopted), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

/// Where one AMI stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Status {
    /// Not started yet: it waits for its turn under the quota.
    Queued,
    /// `CreateStoreImageTask` is being sent, or was sent and its answer not written down. A
    /// runner that finds this asks the service whether an export began, and never sends the
    /// call again without that answer.
    Starting { since: DateTime<Utc> },
    /// An export of it runs in the service.
    InFlight,
    /// Stored in the bucket.
    Stored,
    /// Given up: its exports failed `retries + 1` times, or the service refused it for good.
    Failed { why: String },
    /// Never sent: EC2 cannot store it (found so when the plan was made).
    CannotStore { why: String },
}

impl Status {
    /// Whether nothing more will happen to it.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Stored | Self::Failed { .. } | Self::CannotStore { .. })
    }
}

/// One export the plan started or adopted: the service's task, by its start time (with the
/// AMI, a task's identity), and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// The task's start time as the service gives it; `None` until a poll has seen the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// Why it failed, as the service said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Counts of the plan's AMIs by where they stand (the plan line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub stored: usize,
    pub in_flight: usize,
    pub queued: usize,
    pub failed: usize,
    pub cannot_store: usize,
}

impl Counts {
    /// `plan: 12 of 40 stored · 3 in flight · 25 queued · 1 cannot be stored`.
    pub fn line(&self) -> String {
        let mut s = format!("plan: {} of {} stored", self.stored, self.total);
        for (n, what) in [(self.in_flight, "in flight"), (self.queued, "queued"), (self.failed, "failed")] {
            if n > 0 {
                s.push_str(&format!(" · {n} {what}"));
            }
        }
        if self.cannot_store > 0 {
            s.push_str(&format!(" · {} cannot be stored", self.cannot_store));
        }
        s
    }
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts { total: self.amis.len(), ..Counts::default() };
        for e in &self.amis {
            match e.status {
                Status::Queued => c.queued += 1,
                Status::Starting { .. } | Status::InFlight => c.in_flight += 1,
                Status::Stored => c.stored += 1,
                Status::Failed { .. } => c.failed += 1,
                Status::CannotStore { .. } => c.cannot_store += 1,
            }
        }
        c
    }

    /// Whether every AMI has reached its end.
    pub fn is_done(&self) -> bool {
        self.amis.iter().all(|e| e.status.is_final())
    }

    /// The plan as the file holds it.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a plan file's text; any text at all, never a panic.
    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Versioned {
            version: Option<u32>,
        }
        let v: Versioned = serde_json::from_str(text).map_err(|e| format!("it is not a plan file ({e})"))?;
        match v.version {
            Some(VERSION) => {}
            Some(n) => return Err(format!("it is a plan of version {n}, and this amiwatch reads version {VERSION}")),
            None => return Err("it is not a plan file (no \"version\")".into()),
        }
        let plan: Plan = serde_json::from_str(text).map_err(|e| format!("it is not a valid plan ({e})"))?;
        plan.check()?;
        Ok(plan)
    }

    /// What the types cannot say: the values a runner relies on.
    fn check(&self) -> Result<(), String> {
        if !crate::task::is_bucket_name(&self.bucket) {
            return Err(format!("its bucket {:?} is not a valid S3 bucket name", crate::text::safe(&self.bucket)));
        }
        if !(1..=1_000_000).contains(&self.store_quota_gb) {
            return Err(format!("its store_quota_gb {} is not 1 to 1000000", self.store_quota_gb));
        }
        if let Some(e) = self.amis.iter().find(|e| e.size_gb.is_some_and(|g| g > 1_000_000)) {
            return Err(format!("the size of {} is not a size an AMI has", e.ami));
        }
        if self.amis.len() > MAX_AMIS {
            return Err(format!("it holds {} AMIs, more than {MAX_AMIS}", self.amis.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.amis {
            if !crate::task::is_ami_id(&e.ami) {
                return Err(format!("{:?} is not an AMI ID", crate::text::safe(&e.ami)));
            }
            if !seen.insert(e.ami.as_str()) {
                return Err(format!("{} is in it twice", e.ami));
            }
        }
        if let Err(why) = check_tags(&self.tags) {
            return Err(format!("its tags: {why}"));
        }
        Ok(())
    }

    /// Reads the plan at `path`.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let bad = |why: String| PlanError::Bad { path: path.to_path_buf(), why };
        let file = open_plain(path, false).map_err(|source| PlanError::Read { path: path.to_path_buf(), source })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(bad(format!("it is {size} bytes, more than any plan ({MAX_FILE_BYTES})")));
        }
        let mut text = String::new();
        io::Read::read_to_string(&mut io::Read::take(file, MAX_FILE_BYTES), &mut text)
            .map_err(|source| PlanError::Read { path: path.to_path_buf(), source })?;
        Self::from_json(&text).map_err(bad)
    }

    /// Writes the plan to `path`: the old file or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        files::write_atomic(path, self.to_json().as_bytes())
    }
}

/// S3's rules for object tags: at most 10, keys 1-128 characters, values 0-256, no key twice.
pub fn check_tags(tags: &[Tag]) -> Result<(), String> {
    if tags.len() > 10 {
        return Err(format!("{} tags, and S3 takes at most 10 on an object", tags.len()));
    }
    let mut keys = std::collections::HashSet::new();
    for t in tags {
        let k = t.key.chars().count();
        if k == 0 || k > 128 {
            return Err(format!("a tag key must be 1 to 128 characters ({k})"));
        }
        if t.value.chars().count() > 256 {
            return Err(format!("the value of tag {} is over 256 characters", crate::text::safe(&t.key)));
        }
        if t.key.starts_with("aws:") {
            return Err(format!("tag {} starts with aws:, which AWS keeps for itself", crate::text::safe(&t.key)));
        }
        if !keys.insert(t.key.as_str()) {
            return Err(format!("tag {} is given twice", crate::text::safe(&t.key)));
        }
    }
    Ok(())
}

/// Parses `KEY=VALUE` (`--tag`); any text, never a panic.
pub fn parse_tag(s: &str) -> Result<Tag, String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("a tag is KEY=VALUE, and {:?} has no '='", crate::text::safe(s)));
    };
    let tag = Tag { key: key.to_string(), value: value.to_string() };
    check_tags(std::slice::from_ref(&tag))?;
    Ok(tag)
}

/// Why a plan file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the plan {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot use the plan {path}: {why}")]
    Bad { path: PathBuf, why: String },
    #[error(
        "another amiwatch export is running the plan {path}{}: wait for it, or stop it first",
        pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error("cannot lock the plan {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
}

/// The lock a runner holds on its plan, for as long as it lives: a second runner on the same
/// plan is refused. An advisory lock on `PLAN.lock`, which the system releases when the
/// process ends however it ends (kill -9 too), so a plan is never left locked by a dead runner.
/// The lock file itself stays: removing it could let two runners lock two different files.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    pub fn take(plan: &Path) -> Result<Self, PlanError> {
        let path = lock_path(plan);
        let locked = |pid| PlanError::Locked { path: plan.to_path_buf(), pid };
        let mut file = open_plain(&path, true).map_err(|source| PlanError::Lock { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = io::Read::read_to_string(&mut io::Read::take(&file, 32), &mut text);
                return Err(locked(text.trim().parse().ok()));
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(PlanError::Lock { path, source }),
        }
        // Temporary files a runner killed while writing the plan left beside it.
        clean_temporary_files(plan);
        // Who holds it, for the message a second runner gets.
        let _ = file.set_len(0);
        let _ = io::Write::write_all(&mut file, format!("{}\n", std::process::id()).as_bytes());
        Ok(Self { _file: file })
    }
}

/// Removes `.PLAN.tmp-PID-*.part` files ([`files::write_atomic`]'s) of processes that are gone.
fn clean_temporary_files(plan: &Path) {
    let Some(name) = plan.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let dir = match plan.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for entry in entries.flatten().take(10_000) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".part")) else { continue };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if pid.is_some() && !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub fn lock_path(plan: &Path) -> PathBuf {
    let mut name = plan.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    plan.with_file_name(name)
}

/// Opens a regular file, never through a symlink (a plan's directory may be shared);
/// `create`: made (0600) when missing, kept when there.
fn open_plain(path: &Path, create: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    if create {
        o.write(true).create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let file = o.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// The default plan file for a bucket: `./amiwatch-export-BUCKET.json`.
pub fn default_path(bucket: &str) -> PathBuf {
    PathBuf::from(format!("amiwatch-export-{bucket}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> Plan {
        let at = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap().to_utc();
        let entry =
            |ami: &str, status| Entry { ami: ami.into(), name: None, size_gb: Some(100), status, attempts: vec![] };
        Plan {
            version: VERSION,
            bucket: "acme-archive".into(),
            profile: Some("prod".into()),
            region: "eu-west-1".into(),
            store_quota_gb: 600,
            retries: 2,
            tags: vec![Tag { key: "team".into(), value: "infra".into() }],
            created: at,
            amis: vec![
                entry("ami-0000000a", Status::Queued),
                entry("ami-0000000b", Status::Starting { since: at }),
                entry("ami-0000000c", Status::InFlight),
                entry("ami-0000000d", Status::Stored),
                entry("ami-0000000e", Status::Failed { why: "failed 3 times".into() }),
                entry("ami-0000000f", Status::CannotStore { why: "marketplace".into() }),
            ],
        }
    }

    #[test]
    fn a_plan_reads_back_as_it_was_written() {
        let p = sample();
        let text = p.to_json();
        assert!(text.contains("\"state\": \"starting\""), "{text}");
        assert!(text.contains("\"state\": \"cannot-store\""), "{text}");
        assert_eq!(Plan::from_json(&text).unwrap(), p);
    }

    #[test]
    fn the_plan_line_counts_each_state() {
        let c = sample().counts();
        assert_eq!(c.line(), "plan: 1 of 6 stored · 2 in flight · 1 queued · 1 failed · 1 cannot be stored");
    }

    #[test]
    fn other_versions_and_broken_plans_are_refused_with_why() {
        let text = sample().to_json();
        let v2 = text.replace("\"version\": 1", "\"version\": 2");
        assert!(Plan::from_json(&v2).unwrap_err().contains("version 2"));
        let twice = text.replace("ami-0000000b", "ami-0000000a");
        assert!(Plan::from_json(&twice).unwrap_err().contains("twice"));
        let bucket = text.replace("acme-archive", "Bad_Bucket");
        assert!(Plan::from_json(&bucket).unwrap_err().contains("bucket"));
        assert!(Plan::from_json("[]").unwrap_err().contains("not a plan"));
    }

    #[test]
    fn a_second_lock_on_one_plan_is_refused_and_freed_with_the_first() {
        let dir = std::env::temp_dir().join(format!("amiwatch-plan-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plan = dir.join("p.json");
        let first = Lock::take(&plan).unwrap();
        let err = Lock::take(&plan).unwrap_err();
        assert!(matches!(err, PlanError::Locked { pid: Some(p), .. } if p == std::process::id()), "{err}");
        drop(first);
        Lock::take(&plan).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag("team=infra").unwrap(), Tag { key: "team".into(), value: "infra".into() });
        assert_eq!(parse_tag("note=a=b").unwrap().value, "a=b");
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
        let many: Vec<Tag> = (0..11).map(|i| Tag { key: format!("k{i}"), value: String::new() }).collect();
        assert!(check_tags(&many).is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_never_a_panic(s in ".*") {
            let _ = Plan::from_json(&s);
            let _ = parse_tag(&s);
        }

        #[test]
        fn any_cut_of_a_plan_is_refused_or_the_plan(cut in 0usize..2000) {
            let text = sample().to_json();
            let cut = cut.min(text.len());
            if text.is_char_boundary(cut) {
                let r = Plan::from_json(&text[..cut]);
                prop_assert!(r.is_err() || r.unwrap() == sample());
            }
        }
    }
}
