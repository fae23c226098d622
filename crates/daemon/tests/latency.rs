//! How fast an idle daemon notices a new job: with the watcher, within 100 ms of the
//! drop; without it, at the next periodic rescan. A test binary of its own, so the
//! timing is not disturbed by the other daemon tests running in parallel.

mod common;

use std::time::Duration;

use common::*;
use spoolq_spool::EventKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_claims_a_dropped_job_within_100ms() {
    let spool = TempSpool::new();
    let mut config = spool.config();
    // A rescan every minute: only the watcher can be this fast.
    config.rescan_interval = Duration::from_secs(60);
    let daemon = Running::start(config);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    })
    .await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let before = spoolq_claim::monotonic_ns();
        let id = spool.drop_job("quick\n");
        wait_until("the job is claimed", PATIENCE, || {
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
        worst = worst.max(Duration::from_nanos(claimed.mono_ns.saturating_sub(before)));
    }
    daemon.stop().await;
    assert!(
        worst < Duration::from_millis(100),
        "slowest claim took {worst:?}"
    );
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
