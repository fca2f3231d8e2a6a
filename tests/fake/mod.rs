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
}

impl Fake {
    /// Requests of `action` so far.
    pub fn count(&self, action: &str) -> u64 {
        self.counts.lock().unwrap().get(action).copied().unwrap_or(0)
    }
}

pub async fn start(answer: impl Fn(&Asked) -> (u16, Bytes) + Send + Sync + 'static) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer: Arc<Answerer> = Arc::new(answer);
    let counts = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let bytes_sent = Arc::new(AtomicU64::new(0));
    let (c, b) = (counts.clone(), bytes_sent.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (answer, counts, bytes_sent) = (answer.clone(), c.clone(), b.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (answer, counts, bytes_sent) = (answer.clone(), counts.clone(), bytes_sent.clone());
                    async move {
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
                        let action = params.get("Action").cloned().unwrap_or_default();
                        let n = {
                            let mut g = counts.lock().unwrap();
                            let e = g.entry(action).or_insert(0);
                            *e += 1;
                            *e
                        };
                        let (status, body) = answer(&Asked { params, n });
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
    Fake { url, counts, bytes_sent }
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
