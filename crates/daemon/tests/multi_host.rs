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

/// Taken by each test that starts daemons, so that the latency one measures runs alone.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A job dropped through one mount into an idle spool is claimed by a daemon on another
/// mount, whose watcher never hears of it and whose rescan is an hour away: only the
/// remote-drop probe (new/'s change stamp on JuiceFS) can find it. The drop-to-claim
/// latency is printed (`--nocapture`), never asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_dropped_through_another_mount_is_claimed_without_a_rescan() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    dropped_through_one_mount_claimed_through_another(shared, Gap::Idle).await;
}

/// The same on GlusterFS, whose client answers the folder's stat from its md-cache: the
/// probe there is a listing of new/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_dropped_through_another_glusterfs_mount_is_claimed_without_a_rescan() {
    let Some(shared) = SharedMounts::glusterfs() else {
        return skip(
            "no GlusterFS mounts: run scripts/shared-fs.sh up glusterfs and export its variables",
        );
    };
    dropped_through_one_mount_claimed_through_another(shared, Gap::Idle).await;
}

/// A drop 50 to 100 ms after the daemon's own claim moved new/'s stamp: JuiceFS does not
/// update a folder's times again within `--skip-dir-mtime` (100 ms) of the last update,
/// so the drop leaves the stamp as the claim left it, and only the rule that a young
/// stamp counts as moved (`remote_drops::SETTLE`) finds it before the rescan, an hour
/// away. Each drop must still be claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_right_after_a_claim_is_found_though_the_stamp_did_not_move() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    dropped_through_one_mount_claimed_through_another(shared, Gap::AfterClaim).await;
}

/// When each job is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// 150 to 250 ms after the last claim was seen: the poller has backed off.
    Idle,
    /// 55 to 95 ms after the last claim was made (by its record's clock).
    AfterClaim,
}

async fn dropped_through_one_mount_claimed_through_another(shared: SharedMounts, gap: Gap) {
    let _alone = SERIAL.lock().await;
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
    let mut last_claim = spoolq_os::monotonic_ns();
    for n in 0..20u64 {
        // The gap varies so that the drops fall at every phase of the poll, not at one.
        let wait = match gap {
            Gap::Idle => Duration::from_millis(150 + (n * 37) % 100),
            Gap::AfterClaim => {
                let at = last_claim + 55_000_000 + (n * 13 % 40) * 1_000_000;
                Duration::from_nanos(at.saturating_sub(spoolq_os::monotonic_ns()))
            }
        };
        tokio::time::sleep(wait).await;
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
        last_claim = claimed.mono_ns;
        latencies.push(Duration::from_nanos(claimed.mono_ns.saturating_sub(before)));
    }
    let summary = daemon.stop().await;
    assert_eq!(summary.claimed, 20);
    assert_eq!(summary.completed, 20);
    latencies.sort();
    eprintln!(
        "{}: drop through one mount to claim through another, {}, 20 jobs: \
         p50 {:?}, p90 {:?}, max {:?}",
        shared.engine,
        match gap {
            Gap::Idle => "idle spool",
            Gap::AfterClaim => "each drop 55 to 95 ms after the last claim",
        },
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1]
    );
}

/// A producer that died between the link into new/ and the unlink of its tmp/ name (the
/// publish where the file system has no no-replace rename) left a valid job with two
/// links: the daemon finishes the publish (removes the tmp/ name) and runs the job, it
/// does not quarantine it as hard-linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_interrupted_between_link_and_unlink_is_finished_not_quarantined() {
    let spool = TempSpool::new();
    let id = JobId::generate();
    let mut bytes = spoolq_spool::JobHeader::new(id, 4).render();
    bytes.extend_from_slice(b"job\n");
    let tmp_name = spool.folder("tmp").join(format!("{id}.4242.0"));
    std::fs::write(&tmp_name, &bytes).unwrap();
    std::fs::hard_link(&tmp_name, spool.folder("new").join(id.to_string())).unwrap();

    let summary = drain(spool.config()).await;
    assert_eq!(
        (summary.completed, summary.quarantined),
        (1, 0),
        "{summary:?}"
    );
    assert!(spool.names("tmp").is_empty(), "{:?}", spool.names("tmp"));
    assert!(
        spool.names("failed").is_empty(),
        "{:?}",
        spool.names("failed")
    );
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
}

/// On GlusterFS, which has no RENAME_NOREPLACE, a producer publishes by link then unlink;
/// consumers on two other mounts claiming while it produces never quarantine one of its
/// valid jobs as hard-linked, and every job is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_through_glusterfs_while_consuming_quarantines_no_valid_job() {
    let Some(shared) = SharedMounts::glusterfs() else {
        return skip(
            "no GlusterFS mounts: run scripts/shared-fs.sh up glusterfs and export its variables",
        );
    };
    const JOBS: usize = 600;
    let _alone = SERIAL.lock().await;
    let scratch = shared.scratch();
    let spool = Spool::create(&scratch.paths[0].join("spool"), CreateOptions::default()).unwrap();
    let mut daemons = Vec::new();
    let mut sides = Vec::new();
    for path in &scratch.paths[1..3] {
        let side = path.join("spool");
        let mut config = spoolq_daemon::Config::new(&side);
        config.workers = 2;
        config.rescan_interval = Duration::from_millis(500);
        config.shutdown_grace = Duration::from_secs(5);
        daemons.push(Running::start(config));
        sides.push(side);
    }
    let producer = std::thread::spawn(move || {
        for n in 0..JOBS {
            spool
                .drop_job(
                    JobId::generate(),
                    &mut format!("job {n}\n").as_bytes(),
                    Durability::NEVER,
                )
                .unwrap();
        }
    });
    let done = || {
        let mut jobs = std::collections::HashSet::new();
        for side in &sides {
            for r in events(side, EventKind::Done) {
                jobs.extend(r.job());
            }
        }
        jobs.len()
    };
    wait_until("every job is done", PATIENCE * 4, || done() == JOBS).await;
    producer.join().unwrap();
    let mut quarantined = 0;
    for daemon in daemons {
        quarantined += daemon.stop().await.quarantined;
    }
    let failed = std::fs::read_dir(scratch.paths[0].join("spool/failed"))
        .unwrap()
        .count();
    assert_eq!((quarantined, failed), (0, 0));
}

/// The stale name the shared claim's listing check exists for, forced on JuiceFS with
/// its defaults: mount B looks a job up (and caches its name for a second), mount A
/// completes it and publishes a new job under the same name. Within B's cache, verified
/// claims the completed file (both of its checks are answered from B's cache: the bug);
/// the shared claim's rename moves the new job (the server resolves the name), the
/// listing of its private folder shows that inode, not the locked one, and the new job
/// goes back to new/ untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_name_makes_the_shared_claim_move_the_new_file_back() {
    use std::sync::Arc;

    use spoolq_claim::{Claimer, Dir, Outcome, StaleReason, Strategy};

    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    if shared.engine != "juicefs" {
        // The entry cache that keeps the stale name is JuiceFS's default; other engines
        // may refresh the name first, which proves nothing either way.
        return skip("the stale-name case is forced on JuiceFS only");
    }
    let _alone = SERIAL.lock().await;
    let scratch = shared.scratch();
    let (a, b) = (&scratch.paths[0], &scratch.paths[1]);
    std::fs::create_dir_all(a.join("new")).unwrap();
    std::fs::create_dir_all(a.join("claimed/b")).unwrap();
    let new_b = Arc::new(Dir::open(&b.join("new")).unwrap());
    let private_b = Arc::new(Dir::open(&b.join("claimed/b")).unwrap());
    // B's cache may expire before the claims on a loaded machine (nothing is forced
    // then): a few tries, each under a name of its own.
    for attempt in 0..5 {
        let name = format!("job-{attempt}");
        std::fs::write(a.join("new").join(&name), b"completed").unwrap();
        wait_until("B sees the job", PATIENCE, || {
            b.join("new").join(&name).exists()
        })
        .await;
        let old = std::fs::metadata(b.join("new").join(&name)).unwrap();

        // Through A: complete the job, publish another under the same name.
        std::fs::remove_file(a.join("new").join(&name)).unwrap();
        std::fs::write(a.join("new/.next"), b"published after").unwrap();
        std::fs::rename(a.join("new/.next"), a.join("new").join(&name)).unwrap();

        let verified = Claimer::new(new_b.clone(), Strategy::Verified)
            .claim(std::ffi::OsStr::new(&name))
            .unwrap();
        let stale_seen = match &verified {
            Outcome::Claimed(claim) => {
                use std::os::unix::fs::MetadataExt;
                claim.identity().1 == old.ino()
            }
            _ => false,
        };
        drop(verified);
        let shared_outcome = Claimer::shared(new_b.clone(), private_b.clone())
            .claim(std::ffi::OsStr::new(&name))
            .unwrap();
        eprintln!(
            "stale name through B, try {attempt}: verified claimed the completed file: \
             {stale_seen}; shared: {shared_outcome:?}"
        );
        if !stale_seen {
            continue;
        }
        assert!(
            matches!(shared_outcome, Outcome::Stale(StaleReason::TookAnother)),
            "{shared_outcome:?}"
        );
        drop(shared_outcome);
        assert_eq!(
            std::fs::read(a.join("new").join(&name)).unwrap(),
            b"published after",
            "the new job is back in new/, untouched"
        );
        assert!(!a.join("claimed/b").join(&name).exists());
        return;
    }
    skip("B's entry cache expired before the claims in five tries: the case was not forced");
}
