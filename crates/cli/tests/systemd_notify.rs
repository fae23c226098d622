//! systemd readiness (`Type=notify`) against a socket the test listens on, as systemd
//! would: READY=1 once the daemon watches and has listed new/ (its status counts the job
//! dropped before the start), WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 after
//! SIGTERM; no pings when WATCHDOG_PID names another process; nothing sent and nothing
//! logged without NOTIFY_SOCKET.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Instant;

use common::{PATIENCE, SpawnDaemon, TempSpool};
use spoolq_spool::EventKind;

/// Reads datagrams until one contains `want`, returning every message read; panics at
/// the deadline.
fn read_until(socket: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {want:?} in time; got {seen:?}");
        socket.set_read_timeout(Some(left)).unwrap();
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => panic!("{e}"),
        };
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = message.lines().any(|l| l == want);
        seen.push(message);
        if found {
            return;
        }
    }
}

fn listen(spool: &TempSpool) -> (UnixDatagram, String) {
    let path = spool.scratch().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    (socket, path.display().to_string())
}

#[test]
fn the_daemon_reports_ready_after_listing_pings_the_watchdog_and_reports_stopping() {
    let spool = TempSpool::new();
    let before = spool.drop_job("dropped before the start");
    let (socket, path) = listen(&spool);
    let mut daemon = spool.daemon_with_env(
        &[],
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "200000")],
        &["sh", "-c", "cat > /dev/null"],
    );
    let mut seen = Vec::new();
    read_until(&socket, "READY=1", &mut seen);
    let ready = seen.last().unwrap();
    assert!(
        ready.contains("STATUS=ready: watching new/; 1 name(s) found by the first listing"),
        "{ready:?}"
    );
    // Two pings in a row after READY.
    let mut pings = Vec::new();
    read_until(&socket, "WATCHDOG=1", &mut pings);
    read_until(&socket, "WATCHDOG=1", &mut pings);
    assert!(!pings.iter().any(|m| m.contains("STOPPING=1")), "{pings:?}");
    common::wait_until("the job dropped before the start is done", PATIENCE, || {
        spool
            .events(EventKind::Done)
            .iter()
            .any(|r| r.job() == Some(before))
    });

    daemon.signal("TERM");
    let mut last = Vec::new();
    read_until(&socket, "STOPPING=1", &mut last);
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    assert!(
        daemon.log_text().contains("systemd watchdog: pinging"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn no_watchdog_pings_for_another_pid_and_nothing_without_notify_socket() {
    let spool = TempSpool::new();
    let job = spool.drop_job("one");
    let (socket, path) = listen(&spool);
    // A watchdog for pid 1: not this daemon's, so never pinged, however short.
    let mut daemon = spool.daemon_with_env(
        &[],
        &[
            ("NOTIFY_SOCKET", &path),
            ("WATCHDOG_USEC", "1000"),
            ("WATCHDOG_PID", "1"),
        ],
        &["sh", "-c", "cat > /dev/null"],
    );
    let mut seen = Vec::new();
    read_until(&socket, "READY=1", &mut seen);
    common::wait_until("the job is done", PATIENCE, || {
        spool
            .events(EventKind::Done)
            .iter()
            .any(|r| r.job() == Some(job))
    });
    daemon.signal("TERM");
    read_until(&socket, "STOPPING=1", &mut seen);
    assert!(daemon.wait(PATIENCE).success());
    assert!(
        !seen.iter().any(|m| m.contains("WATCHDOG=1")),
        "pinged a watchdog meant for pid 1: {seen:?}"
    );

    // Without NOTIFY_SOCKET the daemon neither sends nor complains.
    let spool = TempSpool::new();
    spool.drop_job("two");
    let mut daemon = spool.daemon_with_env(
        &["--drain"],
        &[("WATCHDOG_USEC", "1000")],
        &["sh", "-c", "cat > /dev/null"],
    );
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        !log.contains("NOTIFY_SOCKET") && !log.contains("watchdog"),
        "{log}"
    );
}

#[test]
fn an_unreachable_notify_socket_is_logged_once_and_the_daemon_goes_on() {
    let spool = TempSpool::new();
    let job = spool.drop_job("one");
    let missing = spool.scratch().join("no-such.sock");
    let mut daemon = spool.daemon_with_env(
        &["--drain"],
        &[("NOTIFY_SOCKET", &missing.display().to_string())],
        &["sh", "-c", "cat > /dev/null"],
    );
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    assert!(
        spool
            .events(EventKind::Done)
            .iter()
            .any(|r| r.job() == Some(job))
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("cannot notify the service manager").count(),
        1,
        "{log}"
    );
}
