//! `spoolq status` names who holds the locks of jobs in flight: a spoolq daemon of this
//! spool, or another process, which blocks the job for as long as it holds the lock.
//! Linux only: macOS keeps no lock table that names a holder.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use spoolq_spool::EventKind;

/// A python3 process holding a shared flock on `path` (any reader of a job file may),
/// until its stdin closes. With `pass_on`, the process that took the lock forks a child
/// that keeps the descriptor, and exits at once: the lock outlives its taker.
struct Holder {
    child: Child,
    /// The pid that stays and holds the descriptor.
    keeper: u32,
}

impl Holder {
    fn lock(path: &std::path::Path, pass_on: bool) -> Option<Holder> {
        let script = "import fcntl, os, sys\n\
                      f = open(sys.argv[1], 'rb')\n\
                      fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)\n\
                      if sys.argv[2] == 'pass' and os.fork() != 0:\n\
                      \x20   os._exit(0)\n\
                      print(os.getpid(), flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .arg(if pass_on { "pass" } else { "keep" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let keeper = line.trim().parse().expect("the holder's pid");
        if pass_on {
            // The taker exits at once; its child keeps the lock until its stdin closes
            // (`wait` closes the stdin it holds: keep it open meanwhile).
            let stdin = child.stdin.take();
            child.wait().unwrap();
            child.stdin = stdin;
        }
        Some(Holder { child, keeper })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        // The keeper of a passed-on lock is not our child: it ends when its stdin (the
        // pipe above, now closed) does.
    }
}

fn status_json(spool: &TempSpool) -> serde_json::Value {
    let out = spoolq()
        .args(["status", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn held<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["lock_holders"]["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {json:#}"))
}

#[test]
fn status_names_the_process_holding_a_jobs_lock_and_whether_it_is_a_spoolq_daemon() {
    let spool = TempSpool::new();
    let blocked = spool.drop_job("held by a reader\n").to_string();
    let passed = spool.drop_job("held by a reader's child\n").to_string();
    let Some(reader) = Holder::lock(&spool.folder("new").join(&blocked), false) else {
        return skip("python3, to hold a job's lock from another process");
    };
    let keeper = Holder::lock(&spool.folder("new").join(&passed), true).unwrap();
    // A daemon at work on a third job; the two held ones are busy to it.
    let started = spool.scratch().join("started");
    let working = spool.drop_job("handled\n").to_string();
    let script = format!("touch '{}'; exec sleep 30", started.display());
    let mut daemon = spool.daemon(
        &["--workers", "3", "--shutdown-grace", "0s"],
        &["sh", "-c", &script],
    );
    wait_until("the handler started", PATIENCE, || started.exists());
    assert_eq!(
        spool.count_per_job(EventKind::Claimed).len(),
        1,
        "only the free job was claimed"
    );

    let json = status_json(&spool);
    assert_eq!(json["in_flight"], 3, "{json:#}");
    let holders = &json["lock_holders"];
    assert_eq!(holders["by_spoolq_daemons"], 1, "{json:#}");
    assert_eq!(holders["by_others"], 2, "{json:#}");
    // Renamed under its lock to count the attempt its handler started.
    let mine = held(&json, &format!("{working}.1"));
    assert_eq!(mine["pid"], daemon.pid(), "{json:#}");
    assert_eq!(mine["spoolq_daemon"], true, "{json:#}");
    assert_eq!(mine["exclusive"], true, "{json:#}");
    let theirs = held(&json, &blocked);
    assert_eq!(theirs["pid"], reader.keeper, "{json:#}");
    assert_eq!(theirs["spoolq_daemon"], false, "{json:#}");
    assert_eq!(theirs["running"], true, "{json:#}");
    assert_eq!(theirs["exclusive"], false, "{json:#}");
    assert!(
        theirs["command"].as_str().unwrap().starts_with("python3"),
        "{json:#}"
    );
    let gone = held(&json, &passed);
    assert_eq!(gone["running"], false, "the taker exited: {json:#}");
    assert_eq!(gone["spoolq_daemon"], false, "{json:#}");
    assert_ne!(
        gone["pid"], keeper.keeper,
        "/proc/locks names the taker: {json:#}"
    );

    let out = spoolq()
        .args(["status", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("in flight  3"), "{human}");
    assert!(
        human.contains(&format!(
            "1 by spoolq daemons of this spool (pid {})",
            daemon.pid()
        )),
        "{human}"
    );
    assert!(
        human.contains(&format!(
            "{blocked}: a shared lock is held by pid {} (python3",
            reader.keeper
        )) && human.contains("not a spoolq daemon of this spool"),
        "{human}"
    );
    assert!(
        human.contains(&format!("{passed}: a shared lock was taken by pid"))
            && human.contains("which has exited"),
        "{human}"
    );

    daemon.signal("TERM");
    drop(reader);
    drop(keeper);
    assert_eq!(
        daemon.wait(PATIENCE).code(),
        Some(0),
        "{}",
        daemon.log_text()
    );
}
