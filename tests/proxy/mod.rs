//! A small HTTP/1.1 proxy in front of the embedded endpoint that fails, delays or cuts chosen
//! actions, for the failures the endpoint itself does not make: a body cut half way, an
//! error code it never sends, the first few answers of one action refused.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Pass it to the endpoint and its answer back.
    Forward,
    /// Answer this status and XML body instead.
    Answer(u16, String),
    /// Pass it on, then send back the answer's head and half its body, and close.
    CutBody,
}

/// The rule: the action (`DescribeRegions` ...) and how many requests of it came so far,
/// this one included.
pub type Rule = dyn Fn(&str, usize) -> Verdict + Send + Sync;

pub struct Proxy {
    pub url: String,
    /// Every action asked, in order.
    pub actions: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, rule: impl Fn(&str, usize) -> Verdict + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let actions = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let seen = actions.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, upstream, rule.clone(), seen.clone()));
            }
        });
        Self { url, actions }
    }

    /// How many requests of `action` came.
    pub fn count(&self, action: &str) -> usize {
        self.actions.lock().unwrap().iter().filter(|a| *a == action).count()
    }
}

/// The answer to an error: EC2's error document with this code and message.
pub fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
    )
}

async fn serve(mut conn: TcpStream, upstream: SocketAddr, rule: Arc<Rule>, seen: Arc<Mutex<Vec<String>>>) {
    while let Some((head, body)) = read_message(&mut conn).await {
        let action =
            form_urlencoded::parse(&body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned()).unwrap_or_default();
        let n = {
            let mut s = seen.lock().unwrap();
            s.push(action.clone());
            s.iter().filter(|a| **a == action).count()
        };
        match rule(&action, n) {
            Verdict::Answer(status, xml) => {
                let head = format!(
                    "HTTP/1.1 {status} Refused\r\ncontent-type: text/xml;charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
                    xml.len()
                );
                if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(xml.as_bytes()).await.is_err() {
                    return;
                }
            }
            verdict => {
                let Some((rhead, rbody)) = forward(upstream, &head, &body).await else { return };
                let cut = matches!(verdict, Verdict::CutBody);
                let body = if cut { &rbody[..rbody.len() / 2] } else { &rbody[..] };
                if conn.write_all(&rhead).await.is_err() || conn.write_all(body).await.is_err() {
                    return;
                }
                if cut {
                    let _ = conn.shutdown().await;
                    return;
                }
            }
        }
    }
}

async fn forward(upstream: SocketAddr, head: &[u8], body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.write_all(head).await.ok()?;
    up.write_all(body).await.ok()?;
    tokio::time::timeout(Duration::from_secs(60), read_message(&mut up)).await.ok()?
}

/// One HTTP/1.1 message: its head (up to the blank line, included) and its body, by its
/// declared length.
async fn read_message(conn: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head_text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[end..end + len].to_vec();
    buf.truncate(end);
    Some((buf, body))
}
