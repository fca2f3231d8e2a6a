//! A scripted EC2 endpoint for the tests that need answers the embedded one does not give:
//! each request's form parameters go to a closure that picks the status and the body. It
//! speaks HTTP/1.1 through hyper, as the embedded endpoint does.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What one request asked: its parameters, and its number (1 = the first) among requests of
/// the same action.
pub struct Asked {
    pub params: HashMap<String, String>,
    pub n: u64,
}

impl Asked {
    pub fn action(&self) -> &str {
        self.params.get("Action").map_or("", String::as_str)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    /// The values of `Prefix.1`, `Prefix.2`, ... in order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..).map_while(|i| self.params.get(&format!("{prefix}.{i}")).cloned()).collect()
    }
}

pub type Answerer = dyn Fn(&Asked) -> (u16, Bytes) + Send + Sync;

/// A running fake endpoint; it serves until the runtime ends.
pub struct Fake {
    pub url: String,
    counts: Arc<std::sync::Mutex<HashMap<String, u64>>>,
    pub bytes_sent: Arc<AtomicU64>,
    /// Per action: (requests being answered now, the most ever at once).
    in_flight: Arc<std::sync::Mutex<HashMap<String, (u64, u64)>>>,
}

impl Fake {
    /// Requests of `action` so far.
    pub fn count(&self, action: &str) -> u64 {
        self.counts.lock().unwrap().get(action).copied().unwrap_or(0)
    }

    /// The most requests of `action` answered at once so far.
    pub fn most_at_once(&self, action: &str) -> u64 {
        self.in_flight.lock().unwrap().get(action).map_or(0, |v| v.1)
    }
}

pub async fn start(answer: impl Fn(&Asked) -> (u16, Bytes) + Send + Sync + 'static) -> Fake {
    start_slow(answer, |_| std::time::Duration::ZERO).await
}

/// As [`start`], each answer sent after `delay` of its request.
pub async fn start_slow(
    answer: impl Fn(&Asked) -> (u16, Bytes) + Send + Sync + 'static,
    delay: impl Fn(&Asked) -> std::time::Duration + Send + Sync + 'static,
) -> Fake {
    let delay: Arc<dyn Fn(&Asked) -> std::time::Duration + Send + Sync> = Arc::new(delay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer: Arc<Answerer> = Arc::new(answer);
    let counts = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let bytes_sent = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let (c, b, fl) = (counts.clone(), bytes_sent.clone(), in_flight.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (answer, counts, bytes_sent, delay, in_flight) =
                (answer.clone(), c.clone(), b.clone(), delay.clone(), fl.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (answer, counts, bytes_sent, delay, in_flight) =
                        (answer.clone(), counts.clone(), bytes_sent.clone(), delay.clone(), in_flight.clone());
                    async move {
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
                        let action = params.get("Action").cloned().unwrap_or_default();
                        let n = {
                            let mut g = counts.lock().unwrap();
                            let e = g.entry(action.clone()).or_insert(0);
                            *e += 1;
                            *e
                        };
                        {
                            let mut g = in_flight.lock().unwrap();
                            let e = g.entry(action.clone()).or_insert((0, 0));
                            e.0 += 1;
                            e.1 = e.1.max(e.0);
                        }
                        let asked = Asked { params, n };
                        tokio::time::sleep(delay(&asked)).await;
                        let (status, body) = answer(&asked);
                        in_flight.lock().unwrap().entry(action).or_insert((1, 1)).0 -= 1;
                        bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
                        let mut r = Response::new(Full::new(body));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        r.headers_mut().insert(hyper::header::CONTENT_TYPE, "text/xml;charset=UTF-8".parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    Fake { url, counts, bytes_sent, in_flight }
}

/// An EC2 error answer.
pub fn error(status: u16, code: &str, message: &str) -> (u16, Bytes) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    );
    (status, Bytes::from(body))
}

/// One task as the service lists it.
pub fn item(ami: &str, start: &str, state: &str, progress: u8) -> String {
    format!(
        "<item><amiId>{ami}</amiId><taskStartTime>{start}</taskStartTime><bucket>b</bucket><s3objectKey>{ami}.bin</s3objectKey><progressPercentage>{progress}</progressPercentage><storeTaskState>{state}</storeTaskState></item>"
    )
}

/// A `DescribeStoreImageTasks` page of these items.
pub fn tasks_page(items: &str, next: Option<&str>) -> (u16, Bytes) {
    let next = next.map(|t| format!("<nextToken>{t}</nextToken>")).unwrap_or_default();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeStoreImageTasksResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><storeImageTaskResultSet>{items}</storeImageTaskResultSet>{next}</DescribeStoreImageTasksResponse>"
    );
    (200, Bytes::from(body))
}

/// A `DescribeImages` answer naming these AMIs.
pub fn images_page(ids: &[String]) -> (u16, Bytes) {
    let items: String = ids
        .iter()
        .map(|id| {
            format!("<item><imageId>{id}</imageId><imageState>available</imageState><name>name-of-{id}</name></item>")
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><imagesSet>{items}</imagesSet></DescribeImagesResponse>"
    );
    (200, Bytes::from(body))
}
