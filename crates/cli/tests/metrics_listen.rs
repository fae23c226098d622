//! `spoolq daemon --metrics-listen ADDR`: GET /metrics over real TCP, its text read by
//! the OpenMetrics parser of Python's prometheus_client (the virtual environment
//! `.ci/run` makes, named by `SPOOLQ_METRICS_PYTHON`), its counters equal to the
//! journal's records; bad requests get 400, 404 and 405 and the server goes on; an
//! address that cannot be bound stops the start with exit 2 and one line.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{PATIENCE, SpawnDaemon, TempSpool, spoolq, wait_until};
use spoolq_spool::EventKind;

/// Sends `request` as it is and returns the whole response (the server closes).
fn http(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8(response).unwrap()
}

/// The status line and the body of a GET /metrics.
fn scrape(addr: &str) -> (String, String) {
    let response = http(addr, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The address the daemon logged it serves /metrics on.
fn bound_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("metrics: serving"))?;
    let at = line.find("address=")? + "address=".len();
    Some(line[at..].split_whitespace().next()?.to_owned())
}

#[test]
fn metrics_served_over_http_parse_as_openmetrics_and_match_the_journal() {
    let spool = TempSpool::new();
    let ok = spool.drop_jobs(2);
    let once = spool.drop_job("retry-once");
    let dead = spool.drop_job("permanent");
    std::fs::write(
        spool
            .folder("new")
            .join(spoolq_spool::JobId::generate().to_string()),
        b"not a job\n",
    )
    .unwrap();
    let handler = "payload=$(cat); case \"$payload\" in \
                   permanent) exit 100;; \
                   retry-once) [ \"$SPOOLQ_JOB_ATTEMPT\" = 1 ] && exit 75;; \
                   esac; exit 0";
    let mut daemon = spool.daemon(
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--retry-base",
            "10ms",
            "--retry-max",
            "10ms",
        ],
        &["sh", "-c", handler],
    );
    wait_until("the daemon logs its /metrics address", PATIENCE, || {
        bound_address(&daemon.log_text()).is_some()
    });
    let addr = bound_address(&daemon.log_text()).unwrap();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    wait_until("every job's outcome is journaled", PATIENCE, || {
        spool.events(EventKind::Done).len() == 3
            && spool.events(EventKind::Dead).len() == 1
            && spool.events(EventKind::Quarantined).len() == 1
    });
    assert!(ok.iter().chain([&once, &dead]).all(|job| {
        spool
            .events(EventKind::Claimed)
            .iter()
            .any(|r| r.job() == Some(*job))
    }));

    let journal = |kind| spool.events(kind).len() as f64;
    let expected = [
        ("claimed", journal(EventKind::Claimed)),
        ("done", journal(EventKind::Done)),
        ("retried", journal(EventKind::Retry)),
        ("dead", journal(EventKind::Dead)),
        ("quarantined", journal(EventKind::Quarantined)),
        ("released", journal(EventKind::Released)),
    ];
    assert_eq!(
        expected[0].1, 5.0,
        "two ok, the retried one twice, the dead one"
    );
    // A counter is bumped once its record is written: wait until the last one shows.
    let mut last = (String::new(), String::new());
    wait_until("/metrics counts every outcome", PATIENCE, || {
        last = scrape(&addr);
        last.1.contains("spoolq_daemon_done_total{") && {
            let done = last
                .1
                .lines()
                .find(|l| l.starts_with("spoolq_daemon_done_total{"))
                .unwrap();
            done.ends_with(" 3")
        }
    });
    let (head, body) = last;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    let Some(samples) = spoolq_testkit::openmetrics(&body).map(|parsed| {
        parsed.unwrap_or_else(|e| panic!("the parser refused the exposition: {e}\n{body}"))
    }) else {
        return;
    };
    let label = format!(
        "spool=\"{}\"",
        spool.path().canonicalize().unwrap().display()
    );
    let get = |key: String| -> f64 {
        samples
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {samples:#?}"))
            .parse()
            .unwrap()
    };
    for (name, count) in expected {
        assert_eq!(
            get(format!("spoolq_daemon_{name}_total{{{label}}}")),
            count,
            "{name}"
        );
        assert_eq!(
            samples
                .get(&format!("# TYPE spoolq_daemon_{name}"))
                .map(String::as_str),
            Some("counter")
        );
    }
    assert_eq!(
        get(format!(
            "spoolq_daemon_handler_duration_seconds_count{{{label}}}"
        )),
        5.0
    );
    assert_eq!(get(format!("spoolq_jobs{{{label},state=\"failed\"}}")), 2.0);
    assert_eq!(get(format!("spoolq_jobs{{{label},state=\"ready\"}}")), 0.0);
    assert_eq!(get(format!("spoolq_retry_due_jobs{{{label}}}")), 0.0);
    assert_eq!(get(format!("spoolq_paused{{{label}}}")), 0.0);
    assert!(samples.contains_key(&format!("spoolq_oldest_ready_age_seconds{{{label}}}")));

    // Bad requests are answered, and the server goes on.
    for (request, status) in [
        (&b"POST /metrics HTTP/1.1\r\n\r\n"[..], "405"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", "404"),
        (b"hello\r\n\r\n", "400"),
        (b"GET /metrics HTTP/9\r\n\r\n", "400"),
        (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", "400"),
        // A head longer than the server reads (all of it read, so no reset).
        (&[b'a'; 9000][..], "400"),
    ] {
        let response = http(&addr, request);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {response}"
        );
    }
    // A client that sends nothing and goes away.
    drop(TcpStream::connect(&addr).unwrap());
    assert!(scrape(&addr).0.starts_with("HTTP/1.1 200 OK"));

    daemon.signal("TERM");
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
}

#[test]
fn an_address_that_cannot_be_bound_stops_the_start_with_one_line() {
    let spool = TempSpool::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = spoolq()
        .args(["daemon", "--drain", "--metrics-listen", &addr, "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("spoolq daemon: cannot listen on") && last.contains("EADDRINUSE"),
        "{err}"
    );
    assert!(spool.events(EventKind::Start).is_empty());

    let bad = spoolq()
        .args(["daemon", "--metrics-listen", "localhost", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}
