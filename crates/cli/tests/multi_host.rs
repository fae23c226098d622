//! The binary on a shared file system: one volume mounted several times on this machine
//! (`scripts/shared-fs.sh up`), each mount an independent client standing in for a host.
//! Without the mounts these tests skip, and fail under `CI=true`.

mod common;

use std::time::Duration;

use common::*;
use spoolq_testkit::SharedMounts;

/// `spoolq lab --mounts A,B,C` makes the spool through the first mount, starts its
/// consumers on the mounts in turn, and audits the run: every job completed at least
/// once and none lost, whatever duplicates the strategy allows (exit 0, or 1 when the
/// verified strategy showed duplicates, which today's verified claim does across mounts).
#[test]
fn the_lab_places_its_consumers_on_the_mounts_in_turn() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    let mounts: Vec<String> = shared
        .mounts
        .iter()
        .map(|m| m.display().to_string())
        .collect();
    let out = spoolq()
        .args([
            "lab",
            "--json",
            "--no-trace",
            "--jobs",
            "300",
            "--consumers",
            "3",
        ])
        .args(["--work", "1ms", "--strategy", "naive,verified"])
        .arg(format!("--mounts={}", mounts.join(",")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for run in report["runs"].as_array().unwrap() {
        assert_eq!(run["lost"], 0, "{run:#}");
        assert!(run["completed"].as_u64().unwrap() >= 300, "{run:#}");
        let spools: Vec<&str> = run["consumer_spools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(spools.len(), 3);
        for (index, spool) in spools.iter().enumerate() {
            let mount = &mounts[index % mounts.len()];
            assert!(
                spool.starts_with(mount.as_str()),
                "consumer {index}: {spool}"
            );
        }
        eprintln!(
            "{} lab across {} mounts, {}: completed {}, after completion {}, concurrent {}",
            shared.engine,
            mounts.len(),
            run["strategy"],
            run["completed"],
            run["dup_after_completion"],
            run["dup_concurrent"]
        );
    }
    // The run's folder on the volume is removed with it.
    let left: Vec<_> = std::fs::read_dir(&shared.mounts[0])
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("spoolq-lab-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `spoolq status` names a shared file system as one where spoolq's local assumptions
/// are not known to hold, and the daemon's start log says how it detects remote drops.
#[test]
fn status_and_the_daemon_say_what_file_system_the_spool_is_on() {
    let Some(shared) = SharedMounts::from_env() else {
        return skip("no shared file system: run scripts/shared-fs.sh up and export its variables");
    };
    let scratch = shared.scratch();
    let spool = scratch.paths[0].join("spool");
    assert!(spoolq().arg("init").arg(&spool).status().unwrap().success());
    let out = spoolq()
        .args(["status", "--json", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["file_system"]["local_assumptions_hold"], false);
    assert_eq!(status["in_flight_method"], "flock_probe");
    let text = spoolq()
        .args(["status", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("not known to hold"), "{text}");

    let log = scratch.path().join("daemon.log");
    let mut daemon = spoolq()
        .args(["daemon", "--drain", "--spool"])
        .arg(scratch.paths[1].join("spool"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drain did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("polling new/'s change time") && log.contains("fuse."),
        "{log}"
    );
}

/// On a local file system the daemon says that its watcher sees every drop, and polls
/// nothing.
#[test]
fn on_a_local_file_system_the_daemon_polls_nothing() {
    let spool = TempSpool::new();
    let log = spool.scratch().join("daemon.log");
    let status = spoolq()
        .args(["daemon", "--drain", "--spool"])
        .arg(spool.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("none: a local file system, the watcher sees every drop")
            && log.contains("one-host assumptions hold"),
        "{log}"
    );
}
