//! Credentials as the AWS CLI takes them, through the real binary, the real SDK and a config
//! file of profiles, against the embedded endpoint with one account per access key: a named
//! profile signs with its own keys whatever the environment holds, and one profile watched in
//! many regions runs its credential source once.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use amiwatch::sim::{self, SimConfig, SimHandle};
use common::{Accounts, rows_of};

/// The binary with exactly this environment (plus PATH), nothing of this machine's AWS set-up.
fn amiwatch(env: &[(String, String)], args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    c.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        c.env("PATH", path);
    }
    c.envs(env.iter().cloned()).args(args).stdin(Stdio::null());
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_profile_signs_with_its_own_keys_not_the_environments() {
    let acc = Accounts::start("creds-env").await;
    let (alpha, beta) = (acc.tasks_of("AKIDALPHA").await, acc.tasks_of("AKIDBETA").await);
    let theirs = acc.tasks_of(common::ENV_KEY).await;
    assert!(alpha != theirs && beta != theirs && alpha != beta, "three accounts, three task sets");

    let mut env = acc.env();
    env.push(("AWS_ACCESS_KEY_ID".into(), common::ENV_KEY.into()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), sim::DEMO_SECRET.into()));
    let url = acc.sim.url().to_string();
    let (code, out, err) = amiwatch(&env, &["--endpoint-url", &url, "--once", "-o", "json", "--profile", "alpha,beta"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows_of(&out, "111111111111"), alpha, "alpha's feed shows alpha's account");
    assert_eq!(rows_of(&out, "222222222222"), beta, "beta's feed shows beta's account");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["StoreImageTaskResults"].as_array().unwrap().len(), alpha.len() + beta.len());

    // Without a profile, the environment's keys are the ones used, as the CLI does.
    let (code, out, err) = amiwatch(&env, &["--endpoint-url", &url, "--region", "us-east-1", "--once", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: BTreeSet<(String, String)> = v["StoreImageTaskResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let start = chrono::DateTime::parse_from_rfc3339(t["TaskStartTime"].as_str().unwrap()).unwrap();
            (t["AmiId"].as_str().unwrap().to_string(), start.timestamp().to_string())
        })
        .collect();
    assert_eq!(got, theirs);
}

/// The endpoint's 17 regions, as a real account's default set.
const SEVENTEEN: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "sa-east-1",
];

struct Counted {
    sim: SimHandle,
    dir: PathBuf,
}

impl Counted {
    /// An endpoint in 17 regions, and a profile whose `credential_process` appends a line
    /// to a file each time it runs.
    async fn start(name: &str) -> Self {
        let regions = SEVENTEEN.map(String::from).to_vec();
        let keys = sim::Keys::demo().with_demo_secret(["AKIDPROCESS"]);
        let config =
            SimConfig { tasks: 5, seed: 9, frozen: true, accounts_by_key: true, regions, keys, ..SimConfig::default() };
        let sim = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
        let dir = std::env::temp_dir().join(format!("amiwatch-creds-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("creds.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> '{}'\nprintf '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"{}\"}}'\n",
                dir.join("runs").display(),
                sim::DEMO_SECRET
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        // A second source that fails, as an ended SSO session or a cancelled prompt does.
        let failing = dir.join("fails.sh");
        std::fs::write(
            &failing,
            format!("#!/bin/sh\necho run >> '{}'\necho 'session ended' >&2\nexit 1\n", dir.join("runs").display()),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let cfg = format!(
            "[profile proc]\nregion = us-east-1\ncredential_process = {}\n\n[profile fails]\nregion = us-east-1\ncredential_process = {}\n",
            script.display(),
            failing.display()
        );
        std::fs::write(dir.join("config"), cfg).unwrap();
        std::fs::write(dir.join("credentials"), "").unwrap();
        Self { sim, dir }
    }

    fn env(&self) -> Vec<(String, String)> {
        let p = |f: &str| self.dir.join(f).display().to_string();
        vec![
            ("AWS_CONFIG_FILE".into(), p("config")),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), p("credentials")),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    fn runs(&self) -> usize {
        runs_in(&self.dir)
    }
}

fn runs_in(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).map(|s| s.lines().count()).unwrap_or(0)
}

impl Drop for Counted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_profile_in_17_regions_runs_its_credential_source_once() {
    let c = Counted::start("once").await;
    let url = c.sim.url().to_string();
    let (code, out, err) =
        amiwatch(&c.env(), &["--endpoint-url", &url, "--once", "-o", "json", "--all-regions", "--profile", "proc"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let regions: BTreeSet<&str> =
        v["StoreImageTaskResults"].as_array().unwrap().iter().map(|t| t["Region"].as_str().unwrap()).collect();
    assert_eq!(regions, SEVENTEEN.into_iter().collect(), "every region was read");
    assert_eq!(c.sim.stats().describe_regions, 1);
    assert_eq!(c.runs(), 1, "one identity for the profile, shared by its 17 region clients");

    // The dry run too: 17 permission checks, one run of the credential source.
    let before = c.runs();
    let (code, out, err) =
        amiwatch(&c.env(), &["--endpoint-url", &url, "--dry-run", "--all-regions", "--profile", "proc"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("allowed: the caller may call ec2:DescribeStoreImageTasks").count(), 17, "{out}");
    assert_eq!(c.runs() - before, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_credential_source_runs_once_for_all_its_regions() {
    let c = Counted::start("fails").await;
    let url = c.sim.url().to_string();
    let regions = SEVENTEEN.join(",");
    let (code, out, err) =
        amiwatch(&c.env(), &["--endpoint-url", &url, "--once", "--region", &regions, "--profile", "fails"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("cannot get AWS credentials from the profile"), "{err}");
    assert!(err.contains("17 of 17 feeds failed"), "{err}");
    assert_eq!(c.runs(), 1, "one failure shared by the 17 regions, not 17 runs: {err}");
    assert_eq!(c.sim.stats().requests, 0, "nothing is sent without credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_credential_source_counts_against_max_time() {
    let c = Counted::start("slow").await;
    let script = c.dir.join("slow.sh");
    // Longer than --max-time, short enough not to outlive the test run by much.
    std::fs::write(&script, "#!/bin/sh\nsleep 8\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let cfg = format!("[profile slow]\nregion = us-east-1\ncredential_process = {}\n", script.display());
    std::fs::write(c.dir.join("config"), cfg).unwrap();
    let url = c.sim.url().to_string();
    let started = std::time::Instant::now();
    let (code, out, err) =
        amiwatch(&c.env(), &["--endpoint-url", &url, "--once", "--max-time", "4s", "--profile", "slow"]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("within 4s (--max-time)"), "{err}");
    // The account lookup's 3 s and the fetch share the 4 s, rather than adding up to 7 s.
    assert!(took < std::time::Duration::from_secs(6), "{took:?}");
}
