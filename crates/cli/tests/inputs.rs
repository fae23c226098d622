//! What the binary does with bad input before any work: flags outside the values the
//! daemon accepts, producer settings that cannot be honoured, spool modes and mounts
//! that would break the removal of jobs, and the messages that name the fix.

mod common;

use std::time::Duration;

use common::*;
use spoolq_spool::EventKind;

/// Runs `spoolq daemon --drain --spool SPOOL ARGS...` to its end; a daemon that does
/// not end (one that deadlocked on its flags) fails the test instead of hanging it.
fn daemon_exit(spool: &TempSpool, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["--drain"];
    all.extend_from_slice(args);
    let mut daemon = spool.daemon(&all, &[]);
    let status = daemon.wait(PATIENCE);
    (status.code(), daemon.log_text())
}

#[test]
fn daemon_flags_outside_their_range_are_refused_at_parse_time_naming_the_range() {
    let spool = TempSpool::new();
    spool.drop_jobs(3);
    for (args, range) in [
        // 600 inline workers would hold every thread of the blocking pool: deadlock.
        (&["--workers", "600"][..], "from 1 to 256"),
        (&["--workers", "100000000"], "from 1 to 256"),
        // 0 silently meant one per CPU: auto says so.
        (&["--workers", "0"], "auto"),
        // 1ns makes the rescan spin.
        (&["--rescan-interval", "1ns"], "from 10ms to 1day"),
        (
            &["--rescan-interval", "500000000000years"],
            "from 10ms to 1day",
        ),
        (&["--job-timeout", "0s"], "from 1ms to 1year"),
        (&["--retry-base", "500000000000years"], "from 0s to 1year"),
        (&["--max-attempts", "0"], "from 1 to 1000"),
        (&["--tmp-max-age", "0s"], "from 1s to 1year"),
    ] {
        let (code, log) = daemon_exit(&spool, args);
        assert_eq!(code, Some(2), "{args:?}: {log}");
        assert!(log.contains(range), "{args:?} names {range:?}: {log}");
        assert!(log.contains(args[0]), "{args:?} names its flag: {log}");
        assert!(log.contains("--help"), "{args:?} points to --help: {log}");
    }
    // Nothing started: no journal, every job still waiting.
    assert!(spool.events(EventKind::Start).is_empty());
    assert_eq!(spool.names("new").len(), 3);

    // The bounds themselves and auto are accepted, and the daemon runs.
    let (code, log) = daemon_exit(
        &spool,
        &[
            "--workers",
            "256",
            "--rescan-interval",
            "10ms",
            "--max-attempts",
            "1000",
        ],
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(spool.names("new").is_empty(), "{log}");
    let (code, log) = daemon_exit(&spool, &["--workers", "auto"]);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn the_library_refuses_what_the_command_line_refuses() {
    let mut config = spoolq_daemon::Config::new("/nonexistent");
    assert!(config.check().is_ok(), "the defaults are accepted");
    config.workers = 600;
    let e = config.check().unwrap_err().to_string();
    assert!(
        e.contains("workers 600") && e.contains("from 1 to 256"),
        "{e}"
    );
    config.workers = 0;
    config.rescan_interval = Duration::from_nanos(1);
    let e = config.check().unwrap_err().to_string();
    assert!(
        e.contains("rescan interval 1ns") && e.contains("10ms"),
        "{e}"
    );
}
