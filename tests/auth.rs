//! Signatures, checked by the embedded endpoint as EC2 checks them, through the real SDK: the
//! keys it knows pass, an unknown key, a wrong secret and a clock more than five minutes off
//! are refused with the service's codes, and amiwatch says so and exits 1.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use amiwatch::ec2::client::connect_embedded_as;
use amiwatch::ec2::{self, ClientOptions, ErrorKind, Paging, Selection};
use amiwatch::sim::{self, Keys, SimConfig, SimHandle};

async fn endpoint(keys: Keys, clock_offset: chrono::Duration) -> SimHandle {
    let config = SimConfig { tasks: 12, seed: 4, frozen: true, keys, clock_offset, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

/// `amiwatch --once` against `url` signing with this key and secret: exit code and stderr.
fn once_as(url: &str, key: &str, secret: &str) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwatch"));
    for k in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_SESSION_TOKEN"] {
        c.env_remove(k);
    }
    c.envs(common::static_env())
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(["--endpoint-url", url, "--once", "-o", "csv", "--request-timeout", "5s"])
        .stdin(Stdio::null());
    let out = c.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into())
}

fn fast() -> ClientOptions {
    ClientOptions { attempt_timeout: Some(Duration::from_secs(5)), max_attempts: Some(1), ..ClientOptions::default() }
}

#[tokio::test]
async fn the_sdks_signature_passes_and_a_wrong_secret_is_signature_does_not_match() {
    let h = endpoint(Keys::demo().with("AKIDPROFILE", "right-secret"), chrono::Duration::zero()).await;
    let url = h.url().to_string();
    let (code, err) = tokio::task::spawn_blocking(move || once_as(&url, "AKIDPROFILE", "right-secret")).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let url = h.url().to_string();
    let (code, err) = tokio::task::spawn_blocking(move || once_as(&url, "AKIDPROFILE", "wrong-secret")).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rejected the credentials") && err.contains("SignatureDoesNotMatch"), "{err}");
    assert_eq!(h.stats().describe_store_image_tasks, 1, "a refused request reaches no action");
}

#[tokio::test]
async fn an_unknown_key_is_auth_failure_unless_any_key_is_asked_for() {
    let h = endpoint(Keys::demo(), chrono::Duration::zero()).await;
    let stranger = connect_embedded_as(h.url(), &fast(), "AKIDSTRANGER", "us-east-1");
    let err = ec2::fetch_all(&stranger, &Selection::default(), &Paging::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadCredentials, "{err:?}");
    assert!(format!("{err:?}").contains("AuthFailure"), "{err:?}");
    let url = h.url().to_string();
    let (code, err) = tokio::task::spawn_blocking(move || once_as(&url, "AKIDSTRANGER", "x")).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("AuthFailure"), "{err}");

    // Accepting any key is a mode asked for; the keys it knows are checked all the same.
    let open = endpoint(Keys::demo().accepting_any(), chrono::Duration::zero()).await;
    let url = open.url().to_string();
    let (code, err) = tokio::task::spawn_blocking(move || once_as(&url, "AKIDSTRANGER", "x")).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let url = open.url().to_string();
    let (code, err) =
        tokio::task::spawn_blocking(move || once_as(&url, sim::DEMO_KEY, "not-the-demo-secret")).await.unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
}

#[tokio::test]
async fn a_clock_more_than_five_minutes_off_is_request_expired() {
    // The endpoint's clock 10 minutes ahead: this machine's is 10 minutes behind it.
    let h = endpoint(Keys::demo(), chrono::Duration::minutes(10)).await;
    let url = h.url().to_string();
    let (code, err) =
        tokio::task::spawn_blocking(move || once_as(&url, sim::DEMO_KEY, sim::DEMO_SECRET)).await.unwrap();
    assert_eq!(code, 1, "{err}");
    let ec2 = connect_embedded_as(h.url(), &fast(), sim::DEMO_KEY, "us-east-1");
    let err = ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ExpiredCredentials, "{err:?}");
    assert!(format!("{err:?}").contains("RequestExpired"), "{err:?}");
    // As with AWS, the answer's Date tells the SDK the service's time, and the client's next
    // call is signed with it: the skew costs one failed call, not every call.
    ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap();

    // Four minutes off is within what the service allows.
    let near = endpoint(Keys::demo(), chrono::Duration::minutes(-4)).await;
    let ec2 = connect_embedded_as(near.url(), &fast(), sim::DEMO_KEY, "us-east-1");
    ec2::fetch_all(&ec2, &Selection::default(), &Paging::default()).await.unwrap();
}

#[test]
fn simulate_knows_the_demo_key_and_takes_any_key_only_when_asked() {
    use std::io::{BufRead, BufReader};
    let start = |extra: &[&str]| {
        let mut sim = Command::new(env!("CARGO_BIN_EXE_amiwatch"))
            .args(["simulate", "--tasks", "5", "--frozen"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(sim.stdout.take().unwrap()).read_line(&mut url).unwrap();
        (sim, url.trim().to_string())
    };
    let (mut strict, url) = start(&[]);
    let stranger = once_as(&url, "AKIDFROMENV", "secret");
    let demo = once_as(&url, sim::DEMO_KEY, sim::DEMO_SECRET);
    strict.kill().unwrap();
    let _ = strict.wait();
    assert_eq!(stranger.0, 1, "{}", stranger.1);
    assert!(stranger.1.contains("AuthFailure"), "{}", stranger.1);
    assert_eq!(demo.0, 0, "{}", demo.1);
    let (mut open, url) = start(&["--any-key"]);
    let stranger = once_as(&url, "AKIDFROMENV", "secret");
    open.kill().unwrap();
    let _ = open.wait();
    assert_eq!(stranger.0, 0, "{}", stranger.1);
}
