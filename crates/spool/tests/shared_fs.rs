//! The spool on a shared file system: one volume mounted several times on this machine
//! (`scripts/shared-fs.sh up`), each mount an independent client standing in for a
//! host. Without the mounts these tests skip, and fail under `CI=true`.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use spoolq_claim::{Claimer, Dir, Outcome, Step, StepHook, Strategy};
use spoolq_spool::status::{InFlightMethod, Status};
use spoolq_spool::{CreateOptions, Durability, JobId, Spool};
use spoolq_testkit::{SharedMounts, skip};

fn drop_one(spool: &Spool) -> JobId {
    let id = JobId::generate();
    spool
        .drop_job(id, &mut &b"payload\n"[..], Durability::NEVER)
        .unwrap();
    id
}

/// `spoolq status` through one mount counts a job whose claim lock is held through
/// another, by a lock probe (`/proc/locks` lists no lock of a FUSE file system), and
/// says the spool is on a file system where spoolq's local assumptions do not hold.
#[test]
fn status_counts_a_claim_held_through_another_mount() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    let scratch = shared.scratch();
    let here = Spool::create(&scratch.paths[0].join("spool"), CreateOptions::default()).unwrap();
    let id = drop_one(&here);
    let there = Spool::open(&scratch.paths[1].join("spool")).unwrap();
    let claimer = Claimer::new(there.new_dir().clone(), Strategy::Verified);
    let name = id.to_string();
    let claim = match claimer.claim(OsStr::new(&name)).unwrap() {
        Outcome::Claimed(claim) => claim,
        other => panic!("a job nobody holds is claimed through the other mount: {other:?}"),
    };

    let status = Status::collect(&here, SystemTime::now()).unwrap();
    assert!(!status.file_system.local_assumptions_hold, "{status:?}");
    assert_eq!(status.file_system.sharing, "shared");
    assert!(status.file_system.name.starts_with("fuse"), "{status:?}");
    assert_eq!(status.in_flight_method, InFlightMethod::FlockProbe);
    assert_eq!((status.in_flight, status.ready), (Some(1), 0), "{status:?}");

    claim.release();
    // A FUSE close returns before the client has handed the lock back (the kernel sends
    // the release on its own time), so the probe is polled until it sees the lock gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = Status::collect(&here, SystemTime::now()).unwrap();
        if (status.in_flight, status.ready) == (Some(0), 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the released claim still counted after 30 s: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A claimer that opened a job through one mount, while another mount completes (deletes)
/// it before the lock is taken, reports the job gone or stale: never a claim error (a
/// client answers ESTALE or ENOENT for the deleted file) and never claimed, on GlusterFS.
#[test]
fn a_job_deleted_through_another_mount_between_open_and_lock_is_gone_not_an_error() {
    let Some(shared) = SharedMounts::glusterfs() else {
        return skip(
            "no GlusterFS mounts: run scripts/shared-fs.sh up glusterfs and export its variables",
        );
    };
    let scratch = shared.scratch();
    let here = Spool::create(&scratch.paths[0].join("spool"), CreateOptions::default()).unwrap();
    let there_new = Arc::new(Dir::open(&scratch.paths[1].join("spool").join("new")).unwrap());
    for _ in 0..5 {
        let id = drop_one(&here);
        let name = id.to_string();
        // Warm the other client's caches with the live file first.
        assert!(there_new.stat_at(OsStr::new(&name)).is_ok());
        let completed_elsewhere = here.new_dir().path().join(&name);
        let errno_seen = Arc::new(Mutex::new(None));
        let seen = errno_seen.clone();
        let hook: StepHook = Arc::new(move |event| {
            if event.step == Step::AfterOpen && event.result.is_ok() {
                std::fs::remove_file(&completed_elsewhere).unwrap();
            }
            if event.step == Step::AfterLock {
                *seen.lock().unwrap() = Some(event.result);
            }
        });
        let claimer = Claimer::new(there_new.clone(), Strategy::Verified).with_hook(hook);
        let outcome = claimer.claim(OsStr::new(&name));
        let lock = *errno_seen.lock().unwrap();
        match outcome {
            Ok(Outcome::Gone | Outcome::Stale(_)) => {}
            other => panic!("{name}: lock {lock:?}, outcome {other:?}"),
        }
        eprintln!("glusterfs: flock after a delete through another mount: {lock:?}");
    }
}

/// The daemon's folders through each mount are the same folders (inode numbers agree
/// across the mounts of one volume, which status and the audit rely on).
#[test]
fn inode_numbers_agree_across_mounts() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    let scratch = shared.scratch();
    let here = Spool::create(&scratch.paths[0].join("spool"), CreateOptions::default()).unwrap();
    let id = drop_one(&here);
    let inode = |root: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(root.join("spool/new").join(id.to_string()))
            .unwrap()
            .ino()
    };
    let first = inode(&scratch.paths[0]);
    for path in &scratch.paths[1..] {
        assert_eq!(inode(path), first, "{}", path.display());
    }
}

/// A job dropped without fsync through one mount is complete through another from the
/// moment its name appears: the producer closes the file before the rename publishes
/// it (a JuiceFS client keeps written data until the file is closed, and a consumer
/// reading in between met the job empty and quarantined it).
#[test]
fn a_job_is_complete_through_another_mount_the_moment_it_is_published() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    const JOBS: usize = 200;
    let scratch = shared.scratch();
    let here = Spool::create(&scratch.paths[0].join("spool"), CreateOptions::default()).unwrap();
    let there_new = scratch.paths[1].join("spool").join("new");
    let produced = Arc::new(AtomicBool::new(false));
    let reader = {
        let produced = produced.clone();
        std::thread::spawn(move || {
            // Each name's length as first read through the other mount.
            let mut seen: HashMap<String, u64> = HashMap::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen.len() < JOBS || !produced.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "{} of {JOBS} seen", seen.len());
                for entry in std::fs::read_dir(&there_new).unwrap() {
                    let name = entry.unwrap().file_name().into_string().unwrap();
                    if !seen.contains_key(&name)
                        && let Ok(bytes) = std::fs::read(there_new.join(&name))
                    {
                        seen.insert(name, bytes.len() as u64);
                    }
                }
            }
            seen
        })
    };
    let mut lengths = HashMap::new();
    for n in 0..JOBS {
        let id = JobId::generate();
        let dropped = here
            .drop_job(
                id,
                &mut format!("job {n:0>90}\n").as_bytes(),
                Durability::NEVER,
            )
            .unwrap();
        lengths.insert(id.to_string(), dropped.header_len + dropped.payload_len);
    }
    produced.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();
    let short: Vec<_> = seen
        .iter()
        .filter(|(name, len)| lengths.get(*name) != Some(len))
        .collect();
    assert!(
        short.is_empty(),
        "{} of {JOBS} jobs read short through the other mount: {short:?}",
        short.len()
    );
}
