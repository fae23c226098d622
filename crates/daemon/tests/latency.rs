//! How an idle daemon notices a new job: with the watcher, from the watcher's event alone
//! (the periodic rescan is an hour away); without it, at the next periodic rescan. The
//! latency is printed (`--nocapture`), never asserted: it depends on the machine's load.
//! A test binary of its own, so the printed figure is not disturbed by the other daemon
//! tests running in parallel.

mod common;

use std::time::Duration;

use common::*;
use spoolq_spool::EventKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_claims_a_dropped_job_through_the_watcher_alone() {
    let spool = TempSpool::new();
    let mut config = spool.config();
    // The first rescan is an hour away, far beyond PATIENCE: a job dropped after the
    // initial listing can only be found through the watcher.
    config.rescan_interval = Duration::from_secs(3600);
    let daemon = Running::start(config);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    })
    .await;
    // Once a first job is done, the initial listing is over.
    let first = spool.drop_job("first\n");
    wait_until("the first job is done", PATIENCE, || {
        spool.count_per_job(EventKind::Done).get(&first) == Some(&1)
    })
    .await;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let before = spoolq_os::monotonic_ns();
        let id = spool.drop_job("quick\n");
        wait_until("the watcher's event gets the job claimed", PATIENCE, || {
            spool
                .events(EventKind::Claimed)
                .iter()
                .any(|r| r.job() == Some(id))
        })
        .await;
        let claimed = spool
            .events(EventKind::Claimed)
            .into_iter()
            .find(|r| r.job() == Some(id))
            .unwrap();
        latencies.push(Duration::from_nanos(claimed.mono_ns.saturating_sub(before)));
    }
    let summary = daemon.stop().await;
    assert_eq!(summary.claimed, 6);
    eprintln!("drop-to-claim latency through the watcher: {latencies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_watcher_the_periodic_rescan_finds_a_job() {
    let spool = TempSpool::new();
    let mut config = spool.config();
    config.watch = false;
    config.rescan_interval = Duration::from_millis(200);
    let daemon = Running::start(config);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    })
    .await;
    // Once a first job is done, the initial scan is over: the second job can only be
    // found by a periodic rescan.
    for n in 1..=2 {
        let id = spool.drop_job("found by a scan\n");
        wait_until("the job is done", PATIENCE, || {
            spool.count_per_job(EventKind::Done).get(&id) == Some(&1)
        })
        .await;
        assert_eq!(spool.events(EventKind::Done).len(), n);
    }
    let summary = daemon.stop().await;
    assert_eq!(summary.completed, 2);
}
