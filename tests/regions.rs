//! DescribeRegions as EC2 answers it, through the real SDK against the embedded endpoint; and
//! `--all-regions` telling its failures truthfully through the real binary.

mod common;
mod proxy;

use std::collections::BTreeSet;

use amiwatch::ec2::ClientOptions;
use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::sim::{self, SimConfig, SimHandle};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;

async fn endpoint(accounts_by_key: bool) -> SimHandle {
    // Signatures are tests/auth.rs's concern: here any key is an account of its own.
    let keys = sim::Keys::demo().accepting_any();
    let config = SimConfig { tasks: 20, seed: 3, frozen: true, accounts_by_key, keys, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn names(r: &aws_sdk_ec2::operation::describe_regions::DescribeRegionsOutput) -> Vec<String> {
    r.regions().iter().map(|r| r.region_name().unwrap().to_string()).collect()
}

#[tokio::test]
async fn describe_regions_answers_as_ec2_does() {
    let h = endpoint(false).await;
    let ec2 = connect_embedded_as(h.url(), &ClientOptions::default(), "AKIDREGIONS", "us-east-1");
    let c = &ec2.client;

    let r = c.describe_regions().send().await.unwrap();
    assert_eq!(names(&r), ["us-east-1", "eu-west-1", "ap-southeast-2"]);
    let first = &r.regions()[0];
    assert_eq!(first.endpoint(), Some("ec2.us-east-1.amazonaws.com"), "EC2's regional host, not the endpoint's");
    assert_eq!(first.opt_in_status(), Some("opt-in-not-required"));

    let r = c.describe_regions().region_names("eu-west-1").send().await.unwrap();
    assert_eq!(names(&r), ["eu-west-1"]);
    let e = c.describe_regions().region_names("xx-nowhere-1").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    let every = c.describe_regions().all_regions(true).send().await.unwrap();
    assert!(every.regions().len() > 3);
    let off: Vec<_> = every.regions().iter().filter(|r| r.opt_in_status() == Some("not-opted-in")).collect();
    assert!(off.iter().any(|r| r.region_name() == Some("af-south-1")), "{off:?}");
    assert_eq!(off.len(), every.regions().len() - 3);

    let f = Filter::builder().name("opt-in-status").values("not-opted-in").build();
    let r = c.describe_regions().all_regions(true).filters(f).send().await.unwrap();
    assert_eq!(r.regions().len(), off.len());
    let f = Filter::builder().name("region-name").values("ap-southeast-2").values("us-east-1").build();
    let r = c.describe_regions().filters(f).send().await.unwrap();
    assert_eq!(names(&r), ["us-east-1", "ap-southeast-2"]);
    let f = Filter::builder().name("owner-id").values("x").build();
    let e = c.describe_regions().filters(f).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    // DryRun: allowed callers hear DryRunOperation (412), refused ones UnauthorizedOperation.
    let e = c.describe_regions().dry_run(true).send().await.unwrap_err();
    assert_eq!(e.code(), Some("DryRunOperation"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);
    for key in ["DENIEDREGIONS", "NOREGIONSKEY"] {
        let denied = connect_embedded_as(h.url(), &ClientOptions::default(), key, "us-east-1");
        let e = denied.client.describe_regions().send().await.unwrap_err();
        assert_eq!(e.code(), Some("UnauthorizedOperation"), "{key}");
        let e = denied.client.describe_regions().dry_run(true).send().await.unwrap_err();
        assert_eq!(e.code(), Some("UnauthorizedOperation"), "{key}");
    }
    // READONLY keys may read, and listing regions is reading.
    let ro = connect_embedded_as(h.url(), &ClientOptions::default(), "READONLYKEY", "us-east-1");
    assert_eq!(names(&ro.client.describe_regions().send().await.unwrap()).len(), 3);
}

/// Profiles for the binary: `alpha` may do everything, `noreg` may read tasks but not list
/// regions.
struct Profiles {
    sim: SimHandle,
    dir: std::path::PathBuf,
}

impl Profiles {
    async fn start(name: &str, sim: SimHandle) -> Self {
        let dir = std::env::temp_dir().join(format!("amiwatch-regions-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = String::new();
        for (profile, key) in [("alpha", "AKIDALPHA"), ("noreg", "NOREGIONSKEY")] {
            cfg.push_str(&format!(
                "[profile {profile}]\nregion = us-east-1\naws_access_key_id = {key}\naws_secret_access_key = s\n\n"
            ));
        }
        std::fs::write(dir.join("config"), cfg).unwrap();
        std::fs::write(dir.join("credentials"), "").unwrap();
        Self { sim, dir }
    }

    fn amiwatch_at(&self, url: &str, args: &[&str]) -> (i32, String, String) {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_amiwatch"));
        c.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            c.env("PATH", path);
        }
        c.env("AWS_CONFIG_FILE", self.dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["--endpoint-url", url, "--request-timeout", "5s"])
            .args(args)
            .stdin(std::process::Stdio::null());
        let out = c.output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    fn amiwatch(&self, args: &[&str]) -> (i32, String, String) {
        self.amiwatch_at(self.sim.url(), args)
    }
}

impl Drop for Profiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn regions_in(json: &str, profile: &str) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["StoreImageTaskResults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Profile"] == profile)
        .map(|t| t["Region"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_regions_refused_is_said_never_passed_off_as_one_region() {
    let p = Profiles::start("refused", endpoint(true).await).await;

    // The caller may read tasks but not list regions: no list at all, exit 1, the cause named.
    let (code, out, err) = p.amiwatch(&["--once", "-o", "json", "--all-regions", "--profile", "noreg"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "one region is not every region: {out}");
    assert!(err.contains("cannot list the account's regions") && err.contains("ec2:DescribeRegions"), "{err}");
    assert_eq!(p.sim.stats().describe_store_image_tasks, 0, "nothing read for a profile without its regions");

    // Beside a profile that works: that one complete in every region; the other named failing.
    let (code, out, err) =
        p.amiwatch(&["--once", "-o", "json", "--all-regions", "--profile", "alpha,noreg", "--partial"]);
    assert_eq!(code, 1, "{err}");
    let want: BTreeSet<String> = ["us-east-1", "eu-west-1", "ap-southeast-2"].map(String::from).into();
    assert_eq!(regions_in(&out, "alpha"), want);
    assert!(regions_in(&out, "noreg").is_empty());
    assert!(err.contains("noreg · us-east-1: cannot list the account's regions"), "{err}");

    // --wait ends at once with the cause: waiting will not grant the permission.
    let (code, out, err) = p.amiwatch(&["--wait", "--all-regions", "--profile", "noreg", "--timeout", "60s"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("ec2:DescribeRegions"), "{err}");

    // The dry run checks DescribeRegions too.
    let (code, out, err) = p.amiwatch(&["--dry-run", "--all-regions", "--profile", "alpha,noreg"]);
    assert_eq!(code, 1, "{err}");
    let url = p.sim.url();
    assert!(out.contains(&format!("allowed: the caller may call ec2:DescribeRegions (alpha · {url})")), "{out}");
    assert!(out.contains(&format!("denied: the caller may not call ec2:DescribeRegions (noreg · {url})")), "{out}");
    assert_eq!(out.matches("allowed: the caller may call ec2:DescribeStoreImageTasks (alpha").count(), 3, "{out}");
    assert!(!out.contains("DescribeStoreImageTasks (noreg"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_describe_regions_failure_is_retried_then_named() {
    use proxy::{Proxy, Verdict, ec2_error};
    let p = Profiles::start("transient", endpoint(true).await).await;
    let internal = || Verdict::Answer(500, ec2_error("InternalError", "An internal error has occurred."));

    // Five failures: the SDK's four attempts, then one more try of amiwatch's own: the sixth
    // answers, and every region is read.
    let flaky = Proxy::start(p.sim.addr(), move |action, n| match action {
        "DescribeRegions" if n <= 5 => internal(),
        _ => Verdict::Forward,
    })
    .await;
    let (code, out, err) = p.amiwatch_at(&flaky.url, &["--once", "-o", "json", "--all-regions", "--profile", "alpha"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let regions: BTreeSet<&str> =
        v["StoreImageTaskResults"].as_array().unwrap().iter().map(|t| t["Region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1", "ap-southeast-2"].into());
    assert_eq!(flaky.count("DescribeRegions"), 6);

    // Never answered: a bounded number of tries, then the profile fails with the cause.
    let down = Proxy::start(p.sim.addr(), move |action, _| match action {
        "DescribeRegions" => internal(),
        _ => Verdict::Forward,
    })
    .await;
    let (code, out, err) = p.amiwatch_at(&down.url, &["--once", "-o", "json", "--all-regions", "--profile", "alpha"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("cannot list the account's regions") && err.contains("InternalError"), "{err}");
    assert_eq!(down.count("DescribeRegions"), 16, "4 tries of 4 attempts each");
    assert_eq!(down.count("DescribeStoreImageTasks"), 0);
}

#[tokio::test]
async fn a_profile_without_its_regions_polls_as_a_failing_feed_and_sends_nothing() {
    use amiwatch::ec2::poller::{Ec2Source, Schedule};
    use amiwatch::ec2::{ErrorKind, Paging, PollEvent, Pollers, Selection, feed};
    use std::sync::Arc;
    use std::time::Duration;

    let h = endpoint(true).await;
    let ec2 = connect_embedded_as(h.url(), &ClientOptions::default(), "NOREGIONSKEY", "us-east-1");
    let err = feed::list_regions(&ec2, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoRegionList(Box::new(ErrorKind::Unauthorized)));
    assert!(err.summary().contains("ec2:DescribeRegions"), "{}", err.summary());
    assert!(!err.is_transient(), "DescribeRegions was already retried");

    // The dashboard's path: the feed's poller reports that error at each poll, as any failure.
    let source = Ec2Source {
        ec2: ec2.unusable(err.clone()),
        selection: Selection::default(),
        paging: Paging::default(),
        names: true,
    };
    let mut pollers = Pollers::spawn(vec![Arc::new(source) as _], Schedule::default());
    let failed = loop {
        let (_, event) = tokio::time::timeout(Duration::from_secs(20), pollers.recv()).await.unwrap().unwrap();
        let event = event.expect("the poller runs");
        match event {
            PollEvent::Polling => continue,
            PollEvent::Failed { error, .. } => break error,
            other => panic!("a feed without regions has no data: {other:?}"),
        }
    };
    assert_eq!(failed, err);
    assert_eq!(h.stats().describe_store_image_tasks, 0, "nothing is sent for it");
}
