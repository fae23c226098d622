//! `/metrics` over HTTP (`--metrics-listen ADDR`): the spool's gauges and this daemon's
//! counters and handler durations, as the families of `spoolq-metrics` define them.
//!
//! A small HTTP/1.1 responder on tokio: one request per connection (`Connection:
//! close`), `GET /metrics` answered with the OpenMetrics text, anything else with 400,
//! 404 or 405; a request head larger than [`MAX_HEAD`] or slower than [`READ_TIMEOUT`] is
//! answered 400 or dropped. Each scrape takes a fresh [`Status`] of the spool on the
//! blocking pool and fills a fresh registry from it and from the daemon's counters
//! ([`Stats`]); the handler-duration histogram is the daemon's, kept for its life.
//!
//! There is no authentication: whoever reaches the address reads the spool's counts.
//! Binding is done before the daemon starts, so an address in use or not allowed is a
//! start-up error. The server claims nothing and changes nothing in the spool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use spoolq_metrics::{DaemonMetrics, SpoolGauges, encode, registry};
use spoolq_spool::status::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::state::{Shared, blocking};

/// The largest request head read.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// How long a client may take to send its request head.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The Content-Type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` (port 0: one the kernel picks) and logs the address bound.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(
        address = %bound,
        "metrics: serving GET /metrics on http://{bound}/metrics (no authentication: \
         reachable by whoever reaches this address)"
    );
    Ok(listener)
}

/// Serves until the daemon stops.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let mut lifecycle = shared.lifecycle.clone();
    loop {
        let accepted = tokio::select! {
            () = lifecycle.wait_stopping() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = respond(&shared, stream).await {
                        debug!(peer = %peer, error = %e, "metrics: connection ended early");
                    }
                });
            }
            Err(e) => {
                // Out of descriptors, say: wait a moment rather than spin.
                warn!(error = %e, "metrics: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics,
    NotFound,
    MethodNotAllowed,
    Bad(&'static str),
}

/// Reads one request head and answers it.
async fn respond(shared: &Arc<Shared>, mut stream: TcpStream) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request = match head {
        Some(head) => parse(&head),
        None => Request::Bad("request head too large or incomplete"),
    };
    let (status, content_type, body) = match request {
        Request::Metrics => match scrape(shared).await {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(e) => (
                "500 Internal Server Error",
                "text/plain; charset=utf-8",
                format!("{e}\n"),
            ),
        },
        Request::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only /metrics is served here\n".to_owned(),
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET is served here\n".to_owned(),
        ),
        Request::Bad(why) => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            format!("{why}\n"),
        ),
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {allow}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The request head, up to its blank line; None when it is larger than [`MAX_HEAD`] or
/// the client closed before its end.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find(&head, b"\r\n\r\n").or_else(|| find(&head, b"\n\n")) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the request line asks for.
fn parse(head: &[u8]) -> Request {
    let Ok(head) = std::str::from_utf8(head) else {
        return Request::Bad("the request head is not UTF-8");
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad("a request line is METHOD TARGET HTTP/1.x");
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad("only HTTP/1.0 and HTTP/1.1 are served");
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Request::Bad("the method is not a method");
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => Request::Metrics,
        (_, "/metrics") => Request::MethodNotAllowed,
        _ => Request::NotFound,
    }
}

/// The metrics text: a fresh status of the spool, this daemon's counters, its histogram.
async fn scrape(shared: &Arc<Shared>) -> Result<String, String> {
    let s = shared.clone();
    let status = blocking(move || Status::collect(&s.spool, SystemTime::now()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the spool failed: {e}"))?;
    let mut registry = registry(&status.spool);
    SpoolGauges::register(&mut registry).set(&status);
    let stats = &shared.stats;
    let daemon = DaemonMetrics {
        handler_duration_seconds: stats.handler_durations.histogram().clone(),
        ..DaemonMetrics::default()
    };
    for (counter, count) in [
        (&daemon.claimed, &stats.claimed),
        (&daemon.done, &stats.completed),
        (&daemon.retried, &stats.retried),
        (&daemon.dead, &stats.dead),
        (&daemon.quarantined, &stats.quarantined),
        (&daemon.released, &stats.released),
    ] {
        counter.inc_by(count.load(Ordering::Relaxed));
    }
    daemon.register_in(&mut registry);
    encode(&registry).map_err(|e| format!("rendering the metrics failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_answered_by_what_they_ask() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: x"), Request::Metrics);
        assert_eq!(parse(b"GET /metrics?x=1 HTTP/1.0"), Request::Metrics);
        assert_eq!(parse(b"POST /metrics HTTP/1.1"), Request::MethodNotAllowed);
        assert_eq!(parse(b"GET / HTTP/1.1"), Request::NotFound);
        assert!(matches!(parse(b"GET /metrics"), Request::Bad(_)));
        assert!(matches!(parse(b"GET /metrics SPDY/3"), Request::Bad(_)));
        assert!(matches!(parse(b"\xff\xfe"), Request::Bad(_)));
        assert!(matches!(parse(b""), Request::Bad(_)));
        assert!(matches!(parse(b"get /metrics HTTP/1.1"), Request::Bad(_)));
    }
}
