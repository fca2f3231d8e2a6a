//! Profile patterns and the config file, end to end: the real binary, the real SDK and the
//! standard credential chain, against the embedded endpoint in its account-per-key mode, with an
//! AWS config file of seven profiles, six of them named `acme-*`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, Paging, Selection};
use amiwatch::sim::{self, SimConfig, SimHandle};

/// Profile, access key, account, in the order of the AWS config file.
const PROFILES: [(&str, &str, &str); 7] = [
    ("acme-prod", "AKIDACMEPROD", "100000000001"),
    ("acme-dev", "AKIDACMEDEV", "100000000002"),
    ("other", "AKIDOTHER", "900000000009"),
    ("acme-zeta", "AKIDACMEZETA", "100000000003"),
    ("acme-alpha", "AKIDACMEALPHA", "100000000004"),
    ("acme-qa", "AKIDACMEQA", "100000000005"),
    ("acme-stage", "AKIDACMESTAGE", "100000000006"),
];

struct Org {
    sim: SimHandle,
    dir: PathBuf,
}

impl Org {
    async fn start(name: &str) -> Self {
        // The endpoint checks signatures: it knows every profile's key, with the demo's secret.
        let keys = sim::Keys::demo().with_demo_secret(PROFILES.map(|(_, key, _)| key));
        let config =
            SimConfig { tasks: 12, seed: 9, frozen: true, accounts_by_key: true, keys, ..SimConfig::default() };
        let sim = sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap();
        let dir = std::env::temp_dir().join(format!("amiwatch-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("xdg/amiwatch")).unwrap();
        let mut cfg = String::from("[sso-session corp]\nsso_region = us-east-1\n\n");
        for (profile, key, account) in PROFILES {
            cfg.push_str(&format!("[profile {profile}]\nregion = us-east-1\naws_account_id = {account}\n"));
            // One profile keeps its keys in the credentials file, as many do.
            if profile != "acme-stage" {
                cfg.push_str(&format!("aws_access_key_id = {key}\naws_secret_access_key = {}\n", sim::DEMO_SECRET));
            }
            cfg.push('\n');
        }
        std::fs::write(dir.join("aws-config"), cfg).unwrap();
        std::fs::write(
            dir.join("aws-credentials"),
            format!("[acme-stage]\naws_access_key_id = AKIDACMESTAGE\naws_secret_access_key = {}\n", sim::DEMO_SECRET),
        )
        .unwrap();
        Self { sim, dir }
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.dir.join("xdg/amiwatch/config.toml"), text).unwrap();
    }

    /// The binary with this organisation's files and nothing of this machine's set-up.
    fn amiwatch(&self, args: &[&str]) -> (i32, String, String) {
        self.amiwatch_env(&[], args)
    }

    fn amiwatch_env(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
        for k in common::MACHINE_ENV {
            c.env_remove(k);
        }
        c.env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["--endpoint-url", self.sim.url(), "--request-timeout", "5s"])
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null());
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// What each account holds, read straight through the library with its key.
    async fn tasks_of(&self, key: &str) -> BTreeSet<(String, String)> {
        let ec2 = connect_embedded_as(self.sim.url(), &ClientOptions::default(), key, "us-east-1");
        let f = ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap();
        f.tasks
            .iter()
            .map(|t| (t.ami_id.as_deref().unwrap().to_string(), t.start_time.unwrap().timestamp().to_string()))
            .collect()
    }

    /// Every account's tasks, by account, for the profiles `keep` selects.
    async fn want(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, BTreeSet<(String, String)>)> {
        let mut out = Vec::new();
        for (_, key, account) in PROFILES.iter().filter(|p| keep(p.0)) {
            out.push((account.to_string(), self.tasks_of(key).await));
        }
        out
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `--once -o json` rows, by account, in the order the accounts first appear.
fn by_account(json: &str) -> Vec<(String, BTreeSet<(String, String)>)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut out: Vec<(String, BTreeSet<(String, String)>)> = Vec::new();
    for t in v["StoreImageTaskResults"].as_array().unwrap() {
        // One feed: the JSON is exactly the AWS CLI's, with no AccountId.
        let account = t["AccountId"].as_str().unwrap_or("one feed").to_string();
        let start = chrono::DateTime::parse_from_rfc3339(t["TaskStartTime"].as_str().unwrap()).unwrap();
        let row = (t["AmiId"].as_str().unwrap().to_string(), start.timestamp().to_string());
        match out.iter_mut().find(|(a, _)| *a == account) {
            Some((_, rows)) => {
                rows.insert(row);
            }
            None => out.push((account, BTreeSet::from([row]))),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_reads_exactly_the_accounts_it_matches_in_the_files_order() {
    let org = Org::start("pattern").await;
    let acme = org.want(|p| p.starts_with("acme-")).await;
    assert_eq!(acme.len(), 6);
    assert!(acme.iter().all(|(_, rows)| !rows.is_empty()));

    let (code, out, err) = org.amiwatch(&["--once", "-o", "json", "--profile", "acme-*"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_account(&out), acme, "the six acme accounts, each whole, in the config file's order");

    // A pattern and a name that it also matches: each account once.
    let (code, out, err) =
        org.amiwatch(&["--once", "-o", "json", "--profile", "acme-stage,acme-*", "--profile", "acme-p?od"]);
    assert_eq!(code, 0, "{err}");
    let accounts: Vec<String> = by_account(&out).into_iter().map(|(a, _)| a).collect();
    assert_eq!(accounts[0], "100000000006", "the name given first comes first");
    assert_eq!(accounts.len(), 6, "{accounts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_alone_does_the_same_and_a_flag_wins_over_it() {
    let org = Org::start("file").await;
    org.write_config("# the organisation\nprofile = [\"acme-*\"]\ninterval = \"10s\"\nnotify = \"all\"\n");
    let acme = org.want(|p| p.starts_with("acme-")).await;
    let (code, out, err) = org.amiwatch(&["--once", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_account(&out), acme);

    // --profile on the command line replaces the file's list; interval and notify, which do
    // not apply to --once, are preferences of the file and refuse nothing.
    let (code, out, err) = org.amiwatch(&["--once", "-o", "json", "--profile", "other"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_account(&out)[0].1, org.want(|p| p == "other").await[0].1);

    // --config names another file; AMIWATCH_CONFIG too.
    std::fs::write(org.dir.join("team.toml"), "profile = \"acme-qa\"\n").unwrap();
    let team = org.dir.join("team.toml").display().to_string();
    let (code, out, err) = org.amiwatch(&["--config", &team, "--once", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_account(&out)[0].1, org.want(|p| p == "acme-qa").await[0].1);
    let (code, out, err) = org.amiwatch_env(&[("AMIWATCH_CONFIG", &team)], &["--once", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_account(&out)[0].1, org.want(|p| p == "acme-qa").await[0].1);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_wrong_is_named_with_exit_2_before_any_request() {
    let org = Org::start("bad").await;
    let before = org.sim.stats().requests;
    let (code, out, err) = org.amiwatch(&["--once", "--profile", "acme-*,nope-*"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("the profile pattern 'nope-*' matches no profile in"), "{err}");
    assert!(err.contains("acme-prod, acme-dev, other, acme-zeta, acme-alpha, acme-qa, acme-stage"), "{err}");

    let (code, _, err) = org.amiwatch(&["--once", "--profile", "acme-prd"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the profile 'acme-prd' is not in") && err.contains("(did you mean 'acme-prod'?)"), "{err}");

    org.write_config("profile = [\"acme-*\"]\n\nintervall = \"10s\"\n");
    let (code, _, err) = org.amiwatch(&["--once"]);
    assert_eq!(code, 2, "{err}");
    let file = org.dir.join("xdg/amiwatch/config.toml").display().to_string();
    assert!(
        err.contains(&format!("{file} line 3: key 'intervall' is not a setting (did you mean 'interval'?)")),
        "{err}"
    );

    org.write_config("profile = [\"acme-*\"]\ninterval = \"soon\"\n");
    let (code, _, err) = org.amiwatch(&["--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2: key 'interval' has a bad value: 'soon' is not a duration"), "{err}");

    org.write_config("all-regions = \"yes\"\n");
    let (code, _, err) = org.amiwatch(&["--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 1: key 'all-regions' takes true or false, not a string"), "{err}");

    let (code, _, err) = org.amiwatch(&["--config", "/nonexistent/amiwatch.toml", "--once"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the config file /nonexistent/amiwatch.toml"), "{err}");
    assert_eq!(org.sim.stats().requests, before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_shows_each_setting_and_where_it_came_from() {
    let org = Org::start("show").await;
    org.write_config("profile = [\"acme-*\"]\nregion = [\"us-east-1\", \"eu-west-1\"]\ninterval = \"10s\"\n");
    let log = org.dir.join("amiwatch.log").display().to_string();
    let (code, out, err) = org.amiwatch_env(&[("AMIWATCH_LOG", &log)], &["--interval", "7s", "config"]);
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| out.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_default().to_string();
    assert!(line("profile").contains("[\"acme-*\"]") && line("profile").ends_with("# file, line 1"), "{out}");
    assert!(line("region").contains("[\"us-east-1\", \"eu-west-1\"]") && line("region").ends_with("# file, line 2"));
    assert!(line("interval").contains("\"7s\"") && line("interval").ends_with("# command line"), "{out}");
    assert!(line("endpoint-url").ends_with("# command line"), "{out}");
    assert!(line("log-file").ends_with("# environment (AMIWATCH_LOG)"), "{out}");
    assert!(
        out.contains("# the profiles selected: acme-prod, acme-dev, acme-zeta, acme-alpha, acme-qa, acme-stage\n"),
        "{out}"
    );
    assert!(line("idle-interval").contains("\"30s\"") && line("idle-interval").ends_with("# default"), "{out}");
    assert!(out.starts_with(&format!("# config file: {}", org.dir.join("xdg/amiwatch/config.toml").display())));

    // What it prints is a config file that reads back to the same settings.
    std::fs::write(
        org.dir.join("back.toml"),
        out.lines().filter(|l| !l.contains("# command line")).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let back = org.dir.join("back.toml").display().to_string();
    let (code, again, err) =
        org.amiwatch_env(&[("AMIWATCH_LOG", &log)], &["--config", &back, "--interval", "7s", "config"]);
    assert_eq!(code, 0, "{err}");
    let settings =
        |s: &str| s.lines().skip(1).map(|l| l.split(" #").next().unwrap().trim().to_string()).collect::<Vec<_>>();
    assert_eq!(settings(&again), settings(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn profiles_lists_what_a_pattern_selects_with_region_and_account() {
    let org = Org::start("list").await;
    let (code, out, err) = org.amiwatch(&["profiles", "acme-*"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("PROFILE") && lines[0].contains("REGION") && lines[0].contains("ACCOUNT"));
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["acme-prod", "acme-dev", "acme-zeta", "acme-alpha", "acme-qa", "acme-stage"]);
    assert!(lines[1].contains("us-east-1") && lines[1].ends_with("100000000001"), "{out}");
    let (code, out, _) = org.amiwatch(&["profiles"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 8, "every profile, the SSO session not among them: {out}");
    let (code, _, err) = org.amiwatch(&["profiles", "zzz*"]);
    assert_eq!(code, 2);
    assert!(err.contains("'zzz*' matches no profile"), "{err}");
}

/// The regions of a `--once -o csv` listing with several feeds.
fn regions_of(csv: &str) -> BTreeSet<String> {
    assert!(csv.lines().next().unwrap_or_default().ends_with(",profile,region,account_id"), "{csv}");
    csv.lines().skip(1).map(|l| l.rsplit(',').nth(1).unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exclude_region_leaves_regions_out_of_all_regions() {
    let org = Org::start("exclude").await;
    let (code, out, err) = org.amiwatch(&[
        "--once",
        "-o",
        "csv",
        "--profile",
        "acme-prod",
        "--all-regions",
        "--exclude-region",
        "eu-west-1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(regions_of(&out), BTreeSet::from(["ap-southeast-2".to_string(), "us-east-1".to_string()]));

    // From the file, for every profile of a pattern.
    org.write_config(
        "profile = \"acme-*\"\nall-regions = true\nexclude-region = [\"eu-west-1\", \"ap-southeast-2\"]\n",
    );
    let (code, out, err) = org.amiwatch(&["--once", "-o", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(regions_of(&out), BTreeSet::from(["us-east-1".to_string()]));
    let profiles: BTreeSet<&str> = out.lines().skip(1).map(|l| l.rsplit(',').nth(2).unwrap()).collect();
    assert_eq!(profiles.len(), 6);

    // --region on the command line wins over the file's all-regions.
    let (code, out, err) = org.amiwatch(&["--once", "-o", "csv", "--region", "eu-west-1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(regions_of(&out), BTreeSet::from(["eu-west-1".to_string()]));

    std::fs::remove_file(org.dir.join("xdg/amiwatch/config.toml")).unwrap();
    let (code, _, err) = org.amiwatch(&["--once", "--exclude-region", "eu-west-1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--exclude-region narrows --all-regions"), "{err}");
}
