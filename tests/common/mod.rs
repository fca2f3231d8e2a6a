//! Shared by the integration tests: two accounts and a refused one behind the embedded
//! endpoint, reached through a config file of profiles and the standard credential chain.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, Paging, Selection};
use amiwatch::sim::{self, SimConfig, SimHandle};

/// Static credentials and a region, and nothing from this machine's AWS set-up.
pub fn static_env() -> Vec<(String, String)> {
    [
        // The demo's key, which every embedded endpoint knows (it checks signatures).
        ("AWS_ACCESS_KEY_ID", sim::DEMO_KEY),
        ("AWS_SECRET_ACCESS_KEY", sim::DEMO_SECRET),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/nonexistent/amiwatch-config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amiwatch-credentials"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The binary against an endpoint, with static credentials and a region, timed.
pub fn amiwatch_at(url: &str, args: &[&str]) -> (i32, String, String, std::time::Duration) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    for k in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_SESSION_TOKEN"] {
        c.env_remove(k);
    }
    c.envs(static_env()).args(["--endpoint-url", url]).args(args).stdin(Stdio::null());
    let t0 = std::time::Instant::now();
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
        t0.elapsed(),
    )
}

pub struct Accounts {
    pub sim: SimHandle,
    pub dir: PathBuf,
}

/// The variables of this machine's AWS and amiwatch set-up that a test's binary must not
/// inherit: each test says what it sets.
pub const MACHINE_ENV: &[&str] = &[
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AMIWATCH_CONFIG",
    "AMIWATCH_LOG",
];

/// `(AmiId, start)` of the rows of `--once -o json` whose account is `account`.
pub fn rows_of(json: &str, account: &str) -> BTreeSet<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["StoreImageTaskResults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["AccountId"] == account)
        .map(|t| {
            let start = chrono::DateTime::parse_from_rfc3339(t["TaskStartTime"].as_str().unwrap()).unwrap();
            (t["AmiId"].as_str().unwrap().to_string(), start.timestamp().to_string())
        })
        .collect()
}

/// Profile, access key, account: the endpoint refuses keys that start with DENIED.
pub const KEYS: [(&str, &str, &str); 3] = [
    ("alpha", "AKIDALPHA", "111111111111"),
    ("beta", "AKIDBETA", "222222222222"),
    ("gamma", "DENIEDGAMMA", "333333333333"),
];

/// A key the endpoint knows that no profile has: what `AWS_ACCESS_KEY_ID` may hold.
pub const ENV_KEY: &str = "AKIDENVIRONMENT";

impl Accounts {
    pub async fn start(name: &str) -> Self {
        // Every profile's key, and one more for credentials set in the environment.
        let keys = sim::Keys::demo().with_demo_secret(KEYS.map(|(_, key, _)| key)).with_demo_secret([ENV_KEY]);
        let config =
            SimConfig { tasks: 30, seed: 5, frozen: true, accounts_by_key: true, keys, ..SimConfig::default() };
        let sim = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
        let dir = std::env::temp_dir().join(format!("amiwatch-feeds-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = String::new();
        for (profile, key, account) in KEYS {
            cfg.push_str(&format!(
                "[profile {profile}]\nregion = us-east-1\naws_access_key_id = {key}\naws_secret_access_key = {}\naws_account_id = {account}\n\n",
                sim::DEMO_SECRET
            ));
        }
        std::fs::write(dir.join("config"), cfg).unwrap();
        std::fs::write(dir.join("credentials"), "").unwrap();
        Self { sim, dir }
    }

    /// The environment that points the standard chain at these profiles, and nothing else.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_CONFIG_FILE".into(), self.dir.join("config").display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), self.dir.join("credentials").display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Flags every run needs: the endpoint.
    pub fn endpoint_args(&self) -> Vec<String> {
        vec!["--endpoint-url".into(), self.sim.url().into(), "--request-timeout".into(), "5s".into()]
    }

    pub fn amiwatch(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
        for k in ["AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"] {
            c.env_remove(k);
        }
        c.envs(self.env()).args(self.endpoint_args()).args(args).stdin(Stdio::null());
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// What one account holds, read straight through the library with its key: (AMI, start).
    pub async fn tasks_of(&self, key: &str) -> BTreeSet<(String, String)> {
        let ec2 = connect_embedded_as(self.sim.url(), &ClientOptions::default(), key, "us-east-1");
        let f = ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap();
        f.tasks
            .iter()
            .map(|t| (t.ami_id.as_deref().unwrap().to_string(), t.start_time.unwrap().timestamp().to_string()))
            .collect()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
