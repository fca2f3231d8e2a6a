//! The embedded EC2 endpoint: a loopback HTTP server that speaks the EC2 Query protocol for
//! `DescribeStoreImageTasks` (and `DescribeImages`, `CreateStoreImageTask`, `DescribeRegions`),
//! over a simulated account whose tasks progress over time. The demo and the tests point the
//! real SDK client at it.

pub mod auth;
pub mod create;
pub mod faults;
pub mod fresh;
pub mod images;
pub mod protocol;
pub mod scenario;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{DEMO_DEV_KEY, DEMO_KEY, DEMO_SECRET, Keys};
pub use create::CreateRecord;
pub use faults::{Fault, FaultConfig, Hostile};
pub use fresh::FreshImage;
use protocol::{DescribeRequest, Ec2Error, Params};
use scenario::{Scenario, ScenarioShape, SimClock};

/// How to build the simulated account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Tasks per region.
    pub tasks: usize,
    pub seed: u64,
    /// Stop the clock: tasks stay where they are (benchmarks, snapshot tests).
    pub frozen: bool,
    /// How much faster than real time tasks progress.
    pub speed: f64,
    /// The regions `DescribeRegions` lists, the first one first. Any region signed for gets
    /// its own tasks.
    pub regions: Vec<String>,
    pub faults: FaultConfig,
    /// Each access key is an account of its own, with its own tasks (for several profiles);
    /// otherwise every key sees the one account.
    pub accounts_by_key: bool,
    /// Exports more per account and region that start within the first hour.
    pub upcoming: usize,
    /// Exactly this many tasks in progress per account and region (else the scenario's mix).
    pub moving: Option<usize>,
    /// The access keys whose signatures the endpoint checks (the demo's by default).
    pub keys: Keys,
    /// How far the endpoint's clock is ahead of this machine's (behind when negative): a
    /// client whose clock is off by more than five minutes gets `RequestExpired`.
    pub clock_offset: chrono::Duration,
    /// GB a second each moving export stores (from its AMI's size); `None`: today's fixed
    /// durations, no queue.
    pub gb_per_sec: Option<f64>,
    /// The store quota in GB: `CreateStoreImageTask` is refused while the exports in progress
    /// hold this much or more, and (with `gb_per_sec`) the service's queue holds a task at 0%
    /// while the moving ones do. `None`: no quota.
    pub store_quota_gb: Option<u64>,
    /// Percent of the AMIs that carry marketplace product codes: their export is refused for good.
    pub marketplace_percent: u32,
    /// AMIs per account and region that exist, are the account's own, and were never exported
    /// (`DescribeImages` with `Owner=self` lists them): generated from the seed ([`fresh::generate`]).
    pub fresh: usize,
    /// Exactly these fresh AMIs instead (when not empty), the same in every account and region.
    pub fresh_images: Vec<FreshImage>,
    /// With a store rate and quota: an export of the generated history that would have been
    /// refused (the quota held) starts when the quota frees, as a script that retries it does,
    /// instead of waiting in the queue ([`Scenario::schedule_with`]). The demo's.
    pub retry_refused: bool,
    /// Percent of the exports in progress that fail before they complete, instead of the
    /// scenario's (a benchmark sets 0 to see what failures alone cost an estimate).
    pub will_fail_percent: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        let shape = ScenarioShape::builtin();
        Self {
            tasks: shape.default_tasks,
            seed: 42,
            frozen: false,
            speed: 1.0,
            regions: shape.enabled_regions,
            faults: FaultConfig::default(),
            accounts_by_key: false,
            upcoming: 0,
            moving: None,
            keys: Keys::demo(),
            clock_offset: chrono::Duration::zero(),
            gb_per_sec: None,
            store_quota_gb: None,
            marketplace_percent: 0,
            fresh: 0,
            fresh_images: Vec::new(),
            retry_refused: false,
            will_fail_percent: None,
        }
    }
}

/// One export in progress as the endpoint knows it ([`SimHandle::in_progress`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub ami: String,
    pub size_gb: u64,
    pub deregistered: bool,
    pub progress: u8,
    /// The endpoint's own schedule, seconds from now: when it starts moving (0 when it moves
    /// now) and when it ends (completes, or fails).
    pub starts_in_secs: f64,
    pub ends_in_secs: f64,
    /// Whether it will fail before it completes (its end is then its failure).
    pub will_fail: bool,
}

/// Counters a test or a benchmark reads to check how many calls a client made.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub describe_store_image_tasks: AtomicU64,
    pub describe_regions: AtomicU64,
    pub describe_images: AtomicU64,
    pub create_store_image_task: AtomicU64,
    pub faults_injected: AtomicU64,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub describe_store_image_tasks: u64,
    pub describe_regions: u64,
    pub describe_images: u64,
    pub create_store_image_task: u64,
    pub faults_injected: u64,
}

struct State {
    config: SimConfig,
    shape: ScenarioShape,
    clock: SimClock,
    /// Per (account, region): the account is the access key with `accounts_by_key`.
    scenarios: Mutex<HashMap<(String, String), Arc<Scenario>>>,
    stats: Stats,
    outage: AtomicBool,
    faults: faults::FaultRoller,
    url: String,
    /// Every `CreateStoreImageTask` answered, oldest first (the latest [`create::KEPT_RECORDS`]).
    creates: Mutex<VecDeque<CreateRecord>>,
    /// Held while a task is added: one write at a time.
    writes: Mutex<()>,
}

impl State {
    /// The GB the exports in progress at `now` hold (those waiting in the queue too).
    fn in_flight_gb(&self, scenario: &Scenario, now: chrono::DateTime<Utc>) -> u64 {
        let moving = scenario.tasks.iter().filter(|t| t.start <= now && t.status_at(now).state == "InProgress");
        moving.map(|t| images::size_of(scenario, &t.ami_id, self.config.seed, self.clock.base())).sum()
    }

    /// With a store rate, each task's duration from its AMI's size and the queue's waits.
    fn reschedule(&self, scenario: &mut Scenario) {
        if let Some(rate) = self.config.gb_per_sec {
            let (seed, base) = (self.config.seed, self.clock.base());
            let fresh = scenario.fresh.clone();
            let size_of = |ami: &str| fresh.get(ami).map_or_else(|| images::size_gb(ami, seed, base), |f| f.size_gb);
            let (quota, retry) = (self.config.store_quota_gb, self.config.retry_refused);
            scenario.schedule_with(rate, quota, retry, size_of);
        }
    }

    /// Whose tasks a key sees: its own with `accounts_by_key`, else the one default account.
    /// The demo's own key is the default account in either mode, so the demo's first account
    /// shows the same tasks whether or not the demo's second account is there.
    fn account_of<'a>(&self, access_key: &'a str) -> &'a str {
        if self.config.accounts_by_key && access_key != DEMO_KEY { access_key } else { "" }
    }

    /// The ID of the account a key signs for (`imageOwnerId`): the demo's accounts have the
    /// IDs the demo's profiles give them (`ec2::feed`), any other a 12-digit number of its own.
    fn owner_id(&self, access_key: &str) -> String {
        match self.account_of(access_key) {
            "" => "123456789012".to_string(),
            DEMO_DEV_KEY => "210987654321".to_string(),
            other => format!("{:012}", crate::text::stable_hash(other) % 1_000_000_000_000),
        }
    }

    /// What an image lookup for the account `owner_id` needs, at `now`.
    fn view<'a>(&self, owner_id: &'a str, now: chrono::DateTime<Utc>) -> images::View<'a> {
        images::View {
            seed: self.config.seed,
            base: self.clock.base(),
            now,
            marketplace_percent: self.config.marketplace_percent,
            owner_id,
        }
    }

    fn scenario(&self, access_key: &str, region: &str) -> Arc<Scenario> {
        let account = self.account_of(access_key);
        let mut map = self.scenarios.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((account.to_string(), region.to_string()))
            .or_insert_with(|| {
                let seed = self.config.seed ^ crate::text::stable_hash(region) ^ crate::text::stable_hash(account);
                let c = &self.config;
                let plan = scenario::Plan { tasks: c.tasks, moving: c.moving, upcoming: c.upcoming };
                let mut s = Scenario::generate_with(&self.shape, &plan, seed, self.clock.base());
                let fresh = if c.fresh_images.is_empty() {
                    fresh::generate(c.fresh, seed, self.clock.base())
                } else {
                    c.fresh_images.clone()
                };
                s.fresh = Arc::new(fresh::FreshSet::new(fresh));
                self.reschedule(&mut s);
                Arc::new(s)
            })
            .clone()
    }
}

/// A running endpoint. Dropping the handle shuts it down.
pub struct SimHandle {
    state: Arc<State>,
    addr: SocketAddr,
    _shutdown: watch::Sender<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`: what to pass as the endpoint URL.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> StatsSnapshot {
        snapshot(&self.state.stats)
    }

    /// Makes every request fail (or stop failing): an outage to test recovery.
    pub fn set_outage(&self, on: bool) {
        self.state.outage.store(on, Ordering::SeqCst);
    }

    /// Moves the simulated clock forward (a frozen one too): tasks progress, end, and start.
    pub fn advance(&self, d: std::time::Duration) {
        self.state.clock.advance(chrono::Duration::from_std(d).unwrap_or_default());
    }

    /// The endpoint's truth about the store quota in `region` (the default account): each
    /// export in progress now, its AMI's size in GB, and whether the AMI is deregistered
    /// (`DescribeImages` no longer tells its size).
    pub fn in_progress(&self, region: &str) -> Vec<InFlight> {
        let s = &self.state;
        let scenario = s.scenario("", region);
        let now = s.clock.now();
        let moving = scenario.tasks.iter().filter(|t| t.start <= now && t.status_at(now).state == "InProgress");
        moving
            .map(|t| InFlight {
                ami: t.ami_id.clone(),
                size_gb: images::size_of(&scenario, &t.ami_id, s.config.seed, s.clock.base()),
                deregistered: scenario.fresh.get(&t.ami_id).is_none()
                    && images::image_of(&t.ami_id, s.config.seed, s.clock.base()).is_none(),
                progress: t.status_at(now).progress,
                starts_in_secs: (t.secs_from(now) + t.wait_secs).max(0.0),
                ends_in_secs: t.secs_from(now)
                    + t.wait_secs
                    + t.duration_secs * f64::from(t.fail_at.unwrap_or(100)) / 100.0,
                will_fail: t.fail_at.is_some(),
            })
            .collect()
    }

    /// The fresh AMIs (never exported when the endpoint started) of the account `access_key`
    /// signs for, in `region`: generated, or [`SimConfig::fresh_images`].
    pub fn fresh_images(&self, access_key: &str, region: &str) -> Vec<FreshImage> {
        self.state.scenario(access_key, region).fresh.images.clone()
    }

    /// Every `CreateStoreImageTask` the endpoint answered (dry runs and refusals too), oldest
    /// first; the latest [`create::KEPT_RECORDS`] of them.
    pub fn creates(&self) -> Vec<CreateRecord> {
        self.state.creates.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Changes the fault rates of a running endpoint.
    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.faults.set(faults);
    }
}

fn snapshot(s: &Stats) -> StatsSnapshot {
    StatsSnapshot {
        requests: s.requests.load(Ordering::Relaxed),
        describe_store_image_tasks: s.describe_store_image_tasks.load(Ordering::Relaxed),
        describe_regions: s.describe_regions.load(Ordering::Relaxed),
        describe_images: s.describe_images.load(Ordering::Relaxed),
        create_store_image_task: s.create_store_image_task.load(Ordering::Relaxed),
        faults_injected: s.faults_injected.load(Ordering::Relaxed),
    }
}

/// Binds `addr` (use port 0 for any free port) on loopback and serves until the handle drops.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<SimHandle> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the embedded endpoint binds to loopback only, not {addr}"),
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let clock = SimClock::new(Utc::now(), config.frozen, config.speed);
    let shape = ScenarioShape::builtin();
    let state = Arc::new(State {
        shape: ScenarioShape { will_fail_later: config.will_fail_percent.unwrap_or(shape.will_fail_later), ..shape },
        clock,
        scenarios: Mutex::new(HashMap::new()),
        stats: Stats::default(),
        outage: AtomicBool::new(false),
        faults: faults::FaultRoller::new(config.faults.clone(), config.seed),
        url,
        creates: Mutex::new(VecDeque::new()),
        writes: Mutex::new(()),
        config,
    });
    // Build the first region's tasks now, so the first request is not the slow one.
    if let Some(r) = state.config.regions.first().filter(|_| !state.config.accounts_by_key) {
        state.scenario("", r);
    }
    let (tx, rx) = watch::channel(());
    tokio::spawn(accept_loop(listener, state.clone(), rx));
    Ok(SimHandle { state, addr, _shutdown: tx })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut shutdown: watch::Receiver<()>) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    with_body(status, content_type, Full::new(body.into()).boxed())
}

fn with_body(status: u16, content_type: &str, body: BoxBody<Bytes, Infallible>) -> Answer {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn error_reply(e: &Ec2Error, request_id: &str) -> Answer {
    reply(e.status, "text/xml;charset=UTF-8", e.to_xml(request_id))
}

/// The error a dropped connection gives the client: hyper closes it without an answer.
#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (fault injection)")
    }
}
impl std::error::Error for Dropped {}

/// The endpoint's own clock, for signatures and the `Date` header (not the scenario's).
fn wall_clock(state: &State) -> chrono::DateTime<Utc> {
    Utc::now() + state.config.clock_offset
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Answer, Dropped> {
    let mut r = answer(state.clone(), req).await?;
    // The service's time, as AWS sends it: the SDK corrects its clock from it.
    let date = wall_clock(&state).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = date.parse() {
        r.headers_mut().insert(hyper::header::DATE, v);
    }
    Ok(r)
}

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Answer, Dropped> {
    let n = state.stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let request_id = format!("a1b2c3d4-0000-4000-8000-{n:012x}");
    let (parts, body) = req.into_parts();
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_sim/stats") => {
            let body = serde_json::to_string(&snapshot(&state.stats)).unwrap_or_default();
            return Ok(reply(200, "application/json", body));
        }
        (&Method::GET, "/_sim/creates") => {
            let records = state.creates.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let all: Vec<serde_json::Value> = records.iter().map(CreateRecord::to_json).collect();
            let body = serde_json::to_string(&all).unwrap_or_default();
            return Ok(reply(200, "application/json", body));
        }
        (&Method::POST, "/_sim/throttle") => {
            // ?percent=N: throttle that share of requests from now on (benchmarks switch it).
            let pct = parts.uri.query().and_then(|q| q.strip_prefix("percent=")).and_then(|p| p.parse::<f64>().ok());
            let Some(pct) = pct.filter(|p| (0.0..=100.0).contains(p)) else {
                return Ok(reply(400, "text/plain", "expected ?percent=0..100\n"));
            };
            let mut faults = state.faults.config();
            faults.throttle = pct;
            state.faults.set(faults);
            return Ok(reply(200, "text/plain", format!("throttle: {pct}%\n")));
        }
        (&Method::POST, "/_sim/outage") => {
            let on = parts.uri.query().is_none_or(|q| !q.contains("on=false"));
            state.outage.store(on, Ordering::SeqCst);
            return Ok(reply(200, "text/plain", format!("outage: {on}\n")));
        }
        (&Method::POST, "/") => {}
        _ => {
            let hint = "amiwatch embedded EC2 endpoint: POST / with the EC2 Query protocol\n";
            return Ok(reply(404, "text/plain", hint.to_string()));
        }
    }
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(Dropped);
    };
    let params = Params::parse(&body);

    if state.outage.load(Ordering::SeqCst) {
        let e = Ec2Error::new(503, "Unavailable", "The service is unavailable. Please try again shortly.");
        return Ok(error_reply(&e, &request_id));
    }
    let hostile = state.faults.hostile();
    match hostile {
        Hostile::Silent => std::future::pending::<()>().await,
        Hostile::EvilError => {
            let evil = "InvalidEvil\u{9b}31m";
            let body = format!(
                "<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>{evil}</Code><Message>{EVIL}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            );
            return Ok(reply(400, "text/xml;charset=UTF-8", body));
        }
        Hostile::HugeBody(n) => {
            let mut body = b"<DescribeStoreImageTasksResponse>".to_vec();
            body.resize(n, b' ');
            return Ok(reply(200, "text/xml;charset=UTF-8", body));
        }
        Hostile::EndlessBody => return Ok(with_body(200, "text/xml;charset=UTF-8", Endless.boxed())),
        _ => {}
    }
    let page_index = params.get("NextToken").map_or(0, |_| 1);
    if let Some(fault) = state.faults.roll(page_index) {
        state.stats.faults_injected.fetch_add(1, Ordering::Relaxed);
        match fault {
            Fault::Throttle => {
                let e = Ec2Error::new(503, "RequestLimitExceeded", "Request limit exceeded.");
                return Ok(error_reply(&e, &request_id));
            }
            Fault::Internal => {
                let e = Ec2Error::new(500, "InternalError", "An internal error has occurred.");
                return Ok(error_reply(&e, &request_id));
            }
            Fault::Slow(d) => tokio::time::sleep(d).await,
            Fault::Drop => return Err(Dropped),
            Fault::Malformed => {
                return Ok(reply(
                    200,
                    "text/xml;charset=UTF-8",
                    "<DescribeStoreImageTasksResponse><storeImageTaskResultSet><item><amiId>",
                ));
            }
        }
    }

    let signed = auth::Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let (access_key, region) = match auth::verify(&state.config.keys, &signed, wall_clock(&state)) {
        Ok(c) => (c.access_key, c.region),
        Err(e) => return Ok(error_reply(&e, &request_id)),
    };
    // Special access keys let tests reach the credential errors through the real client.
    if access_key.starts_with("EXPIRED") {
        let e = Ec2Error::new(400, "RequestExpired", "Request has expired.");
        return Ok(error_reply(&e, &request_id));
    }
    let denied = access_key.starts_with("DENIED");

    match params.action() {
        Some("DescribeStoreImageTasks") => {
            state.stats.describe_store_image_tasks.fetch_add(1, Ordering::Relaxed);
            if denied {
                return Ok(error_reply(&unauthorized("ec2:DescribeStoreImageTasks"), &request_id));
            }
            let req = match DescribeRequest::from_params(&params) {
                Ok(r) => r,
                Err(e) => return Ok(error_reply(&e, &request_id)),
            };
            if params.dry_run() {
                return Ok(error_reply(&dry_run_succeeded(), &request_id));
            }
            let scenario = state.scenario(&access_key, &region);
            let now = state.clock.now();
            let mut req = req;
            if hostile == Hostile::OverSend && req.max_results.is_some() {
                req.max_results = Some(protocol::DEFAULT_PAGE);
            }
            let mut page = protocol::describe(&scenario, &req, now);
            match hostile {
                Hostile::RepeatToken => page.next_token = Some(protocol::encode_token(1)),
                Hostile::CycleTokens => page.next_token = Some(protocol::encode_token(1 + (n as usize % 2))),
                Hostile::OverlapPages => {
                    let back_one = page.next_token.as_deref().and_then(protocol::decode_token).map(|i| i - 1);
                    page.next_token = back_one.map(protocol::encode_token);
                }
                _ => {}
            }
            let mut xml = protocol::describe_xml(&page, now, &request_id);
            if hostile == Hostile::EvilFields {
                for tag in ["storeTaskState>InProgress", "storeTaskState>Failed", "storeTaskState>Completed"] {
                    xml = xml.replace(&format!("{tag}</"), &format!("{tag}{EVIL}</"));
                }
                xml = xml.replace("</bucket>", &format!("{EVIL}</bucket>"));
                xml = xml.replace("</s3objectKey>", &format!("{EVIL}</s3objectKey>"));
            }
            Ok(reply(200, "text/xml;charset=UTF-8", xml))
        }
        Some("DescribeImages") => {
            state.stats.describe_images.fetch_add(1, Ordering::Relaxed);
            // A key starting with NOIMAGES may read tasks but not images.
            if denied || access_key.starts_with("NOIMAGES") {
                return Ok(error_reply(&unauthorized("ec2:DescribeImages"), &request_id));
            }
            let req = match images::ImagesRequest::from_params(&params) {
                Ok(r) => r,
                Err(e) => return Ok(error_reply(&e, &request_id)),
            };
            if params.dry_run() {
                return Ok(error_reply(&dry_run_succeeded(), &request_id));
            }
            let scenario = state.scenario(&access_key, &region);
            let unasked_page = state.faults.config().images_page;
            let owner = state.owner_id(&access_key);
            match images::describe(&scenario, &req, &state.view(&owner, state.clock.now()), unasked_page) {
                Ok(mut page) => {
                    if hostile == Hostile::RepeatToken {
                        page.next_token = Some(protocol::encode_token(1));
                    }
                    Ok(reply(200, "text/xml;charset=UTF-8", images::describe_xml(&page, &request_id)))
                }
                Err(e) => Ok(error_reply(&e, &request_id)),
            }
        }
        Some("CreateStoreImageTask") => {
            state.stats.create_store_image_task.fetch_add(1, Ordering::Relaxed);
            // Keys starting with READONLY (or DENIED) may read but not write.
            let allowed = !(denied || access_key.starts_with("READONLY") || access_key.starts_with("NOIMAGES"));
            match state.create_store_image_task(&access_key, &region, &params, allowed) {
                Ok(key) => {
                    let xml = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateStoreImageTaskResponse xmlns=\"{}\">\n    <requestId>{request_id}</requestId>\n    <objectKey>{}</objectKey>\n</CreateStoreImageTaskResponse>",
                        protocol::XMLNS,
                        protocol::escape(&key)
                    );
                    Ok(reply(200, "text/xml;charset=UTF-8", xml))
                }
                Err(e) => Ok(error_reply(&e, &request_id)),
            }
        }
        Some("DescribeRegions") => {
            state.stats.describe_regions.fetch_add(1, Ordering::Relaxed);
            // A key starting with NOREGIONS may read tasks but not list regions.
            if denied || access_key.starts_with("NOREGIONS") {
                return Ok(error_reply(&unauthorized("ec2:DescribeRegions"), &request_id));
            }
            let req = match protocol::RegionsRequest::from_params(&params) {
                Ok(r) => r,
                Err(e) => return Ok(error_reply(&e, &request_id)),
            };
            if params.dry_run() {
                return Ok(error_reply(&dry_run_succeeded(), &request_id));
            }
            match protocol::describe_regions(&state.config.regions, &req) {
                Ok(regions) => Ok(reply(200, "text/xml;charset=UTF-8", protocol::regions_xml(&regions, &request_id))),
                Err(e) => Ok(error_reply(&e, &request_id)),
            }
        }
        Some(other) => {
            let e =
                Ec2Error::new(400, "InvalidAction", format!("The action {other} is not valid for this web service."));
            Ok(error_reply(&e, &request_id))
        }
        None => {
            let e = Ec2Error::new(400, "MissingAction", "The request must contain the parameter Action");
            Ok(error_reply(&e, &request_id))
        }
    }
}

/// Text that retitles the window, writes the clipboard, clears the screen and reverses what
/// follows when a terminal gets it raw: what a hostile server puts in its answers. The 8-bit
/// forms of OSC, ST and CSI, because XML cannot carry ESC and BEL at all (the SDK refuses an
/// answer holding them), while these are legal XML characters that reach the client.
pub const EVIL: &str = "\u{9d}0;pwned\u{9c}\u{9d}52;c;ZXZpbA==\u{9c}\u{9b}2J\u{202e}";

/// A body that never ends.
struct Endless;

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        const CHUNK: &[u8] = &[b' '; 64 * 1024];
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(CHUNK)))))
    }
}

/// The answer to a caller without the permission for `action`.
fn unauthorized(action: &str) -> Ec2Error {
    let msg = format!("You are not authorized to perform this operation. User is not authorized to perform: {action}");
    Ec2Error::new(403, "UnauthorizedOperation", msg)
}

/// The answer to `DryRun=true` from a caller with the permission.
fn dry_run_succeeded() -> Ec2Error {
    Ec2Error::new(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}
