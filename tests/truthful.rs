//! Failures told truthfully, through the real binary and the real SDK: a body cut half way,
//! an error code the client does not know, one deadline for the whole command, and the
//! endpoint named as the SDK resolves it.

mod common;
mod proxy;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amiwatch::sim::{self, FaultConfig, SimConfig, SimHandle};
use proxy::{Proxy, Verdict, ec2_error};

async fn endpoint(faults: FaultConfig) -> SimHandle {
    let config = SimConfig { tasks: 30, seed: 21, frozen: true, faults, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

/// The binary with static credentials, a region and these variables more, nothing else of
/// this machine's AWS set-up; `None` removes one.
fn amiwatch(env: &[(&str, Option<&str>)], args: &[&str]) -> (i32, String, String, Duration) {
    let mut vars: HashMap<String, String> = common::static_env().into_iter().collect();
    for (k, v) in env {
        match v {
            Some(v) => vars.insert(k.to_string(), v.to_string()),
            None => vars.remove(*k),
        };
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    c.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        c.env("PATH", path);
    }
    c.envs(vars).args(args).stdin(Stdio::null());
    let t0 = Instant::now();
    let out = c.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr), t0.elapsed())
}

fn task_count(json: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["StoreImageTaskResults"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_half_way_is_a_transient_read_error_not_an_oversized_answer() {
    let h = endpoint(FaultConfig::default()).await;
    // The first answer cut: retried, and the list comes whole.
    let once = Proxy::start(h.addr(), |action, n| match action {
        "DescribeStoreImageTasks" if n == 1 => Verdict::CutBody,
        _ => Verdict::Forward,
    })
    .await;
    let (code, out, err, _) = amiwatch(&[], &["--endpoint-url", &once.url, "--once", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(task_count(&out), 30);
    assert!(!err.contains("larger than"), "{err}");
    assert!(once.count("DescribeStoreImageTasks") >= 2);

    // Every answer cut: a read error named as one, after the retries a 500 gets.
    let always = Proxy::start(h.addr(), |_, _| Verdict::CutBody).await;
    let (code, out, err, _) = amiwatch(&[], &["--endpoint-url", &always.url, "--once", "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(!err.contains("larger than") && !err.contains("MiB"), "{err}");
    assert!(err.contains("retrying"), "a cut is retried like a 500: {err}");
    assert!(always.count("DescribeStoreImageTasks") > 4, "more than one poll's attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_code_under_4xx_is_a_refusal_not_retried() {
    let h = endpoint(FaultConfig::default()).await;
    let refusing = Proxy::start(h.addr(), |action, _| match action {
        "DescribeStoreImageTasks" => {
            Verdict::Answer(400, ec2_error("UnsupportedOperation", "The operation is not supported in this Region."))
        }
        _ => Verdict::Forward,
    })
    .await;
    let (code, out, err, _) = amiwatch(&[], &["--endpoint-url", &refusing.url, "--once"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("EC2 refused the request") && err.contains("UnsupportedOperation"), "{err}");
    assert!(!err.contains("on its side") && !err.contains("retrying"), "{err}");
    assert_eq!(refusing.count("DescribeStoreImageTasks"), 1, "a refusal is asked once");

    // --wait ends at once too, rather than backing off until --timeout.
    let (code, _, err, _) = amiwatch(&[], &["--endpoint-url", &refusing.url, "--wait", "--timeout", "60s"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("UnsupportedOperation"), "{err}");
    assert_eq!(refusing.count("DescribeStoreImageTasks"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_time_bounds_the_whole_command_connecting_and_names_included() {
    // Every answer 4 s late, --max-time 6s: one answer fits, two do not (2 s either side).
    let slow = FaultConfig { slow: 100.0, slow_delay: Duration::from_secs(4), ..FaultConfig::default() };
    let h = endpoint(slow).await;

    // DescribeRegions takes 4 s of the 6: the listing cannot finish in the 2 s left.
    let args = ["--endpoint-url", h.url(), "--once", "-o", "json", "--max-time", "6s", "--all-regions"];
    let (code, out, err, took) = amiwatch(&[], &args);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("within 6s (--max-time)"), "{err}");
    assert!(took < Duration::from_secs(10), "one deadline, not one per stage: {took:?}");

    // The listing takes 4 s; the names lookup gets what is left, not 6 s more.
    let args = ["--endpoint-url", h.url(), "--once", "--max-time", "6s"];
    let (code, out, err, took) = amiwatch(&[], &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 31, "{out}");
    assert!(err.contains("names are not shown: DescribeImages did not answer within 6s (--max-time)"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_is_resolved_once_as_the_sdk_does_and_named() {
    let h = endpoint(FaultConfig::default()).await;
    let dead = "http://127.0.0.1:1";

    // AWS_ENDPOINT_URL_EC2: errors name it, not EC2's regional host.
    let (code, _, err, _) = amiwatch(&[("AWS_ENDPOINT_URL_EC2", Some(dead))], &["--once", "--request-timeout", "2s"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("127.0.0.1:1") && !err.contains("amazonaws.com"), "{err}");

    // One that is not a URL is named with where it was set, once, not retried.
    let (code, out, err, _) = amiwatch(&[("AWS_ENDPOINT_URL_EC2", Some("not a url"))], &["--once"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("AWS_ENDPOINT_URL_EC2 is not an endpoint URL: 'not a url'"), "{err}");
    assert!(!err.contains("retrying") && !err.contains("Request {"), "{err}");

    // It counts as an endpoint given: no region needed (no instance-metadata probe), and the
    // dry run's label names it.
    let env = [("AWS_ENDPOINT_URL_EC2", Some(h.url())), ("AWS_REGION", None)];
    let (code, out, err, _) = amiwatch(&env, &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("default · us-east-1 · {}", h.url())), "{out}");

    // The order: --endpoint-url, then AWS_ENDPOINT_URL_EC2, then AWS_ENDPOINT_URL.
    let env = [("AWS_ENDPOINT_URL", Some(dead)), ("AWS_ENDPOINT_URL_EC2", Some(h.url()))];
    let (code, out, err, _) = amiwatch(&env, &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(h.url()), "{out}");
    let env = [("AWS_ENDPOINT_URL", Some(h.url()))];
    let (code, out, err, _) = amiwatch(&env, &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(h.url()), "{out}");
    let env = [("AWS_ENDPOINT_URL", Some(dead)), ("AWS_ENDPOINT_URL_EC2", Some(dead))];
    let (code, out, err, _) = amiwatch(&env, &["--endpoint-url", h.url(), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(h.url()), "{out}");

    // A profile's endpoint_url.
    let dir = std::env::temp_dir().join(format!("amiwatch-endpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = format!(
        "[profile e]\nregion = eu-west-1\nendpoint_url = {}\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        h.url(),
        sim::DEMO_KEY,
        sim::DEMO_SECRET
    );
    std::fs::write(dir.join("config"), cfg).unwrap();
    let config = dir.join("config").display().to_string();
    let env = [("AWS_CONFIG_FILE", Some(config.as_str())), ("AWS_REGION", None)];
    let (code, out, err, _) = amiwatch(&env, &["--dry-run", "--profile", "e"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("e · eu-west-1 · {}", h.url())), "{out}");
}
