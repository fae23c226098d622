//! The daemon on a shared file system: one volume mounted several times on this machine
//! (`scripts/shared-fs.sh up`), each mount an independent client standing in for a host.
//! Without the mounts these tests skip, and fail under `CI=true`.
//!
//! A test binary of its own, so that the latency it prints is not disturbed by the other
//! daemon tests running in parallel.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use spoolq_spool::{CreateOptions, Durability, EventKind, JobId, Record, Spool};
use spoolq_testkit::{SharedMounts, skip};

/// The records of one kind in the journals under `spool`, read through that path.
fn events(spool: &Path, kind: EventKind) -> Vec<Record> {
    let (entries, _) = spoolq_spool::journal::read_all(&[spool.join("journal")]).unwrap();
    entries
        .into_iter()
        .map(|e| e.record)
        .filter(|r| r.kind() == kind)
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A job dropped through one mount into an idle spool is claimed by a daemon on another
/// mount, whose watcher never hears of it and whose rescan is an hour away: only the
/// poll of new/'s change stamp can find it. The drop-to-claim latency is printed
/// (`--nocapture`), never asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_dropped_through_another_mount_is_claimed_without_a_rescan() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    let scratch = shared.scratch();
    let producer_side: PathBuf = scratch.paths[0].join("spool");
    let spool = Spool::create(&producer_side, CreateOptions::default()).unwrap();
    let consumer_side = scratch.paths[1].join("spool");
    let mut config = spoolq_daemon::Config::new(&consumer_side);
    config.workers = 2;
    config.rescan_interval = Duration::from_secs(3600);
    config.shutdown_grace = Duration::from_secs(5);
    let daemon = Running::start(config);
    wait_until("the daemon started", PATIENCE, || {
        !events(&consumer_side, EventKind::Start).is_empty()
    })
    .await;

    let mut latencies = Vec::new();
    for n in 0..20 {
        // Idle between drops, so that each one meets the poller backed off.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let id = JobId::generate();
        let before = spoolq_os::monotonic_ns();
        spool
            .drop_job(id, &mut format!("job {n}\n").as_bytes(), Durability::NEVER)
            .unwrap();
        wait_until(
            "the job is claimed through the other mount",
            PATIENCE,
            || {
                events(&consumer_side, EventKind::Claimed)
                    .iter()
                    .any(|r| r.job() == Some(id))
            },
        )
        .await;
        let claimed = events(&consumer_side, EventKind::Claimed)
            .into_iter()
            .find(|r| r.job() == Some(id))
            .unwrap();
        latencies.push(Duration::from_nanos(claimed.mono_ns.saturating_sub(before)));
    }
    let summary = daemon.stop().await;
    assert_eq!(summary.claimed, 20);
    assert_eq!(summary.completed, 20);
    latencies.sort();
    eprintln!(
        "{}: drop through one mount to claim through another, idle spool, 20 jobs: \
         p50 {:?}, p90 {:?}, max {:?}",
        shared.engine,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1]
    );
}
