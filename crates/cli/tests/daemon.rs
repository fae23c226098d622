//! `spoolq daemon` as a real process: several daemons on one spool, signals, kill -9,
//! exit codes and error messages.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use spoolq_spool::{DoneResult, Event, EventKind};

#[test]
fn three_daemons_and_a_producer_complete_every_job_exactly_once() {
    const JOBS: usize = 5000;
    let spool = TempSpool::new();
    let mut daemons: Vec<Daemon> = (0..3)
        .map(|_| spool.daemon(&["--workers", "2", "--claim", "verified"], &[]))
        .collect();
    wait_until("three daemons started", PATIENCE, || {
        spool.events(EventKind::Start).len() == 3
    });

    // The producer drops jobs while the daemons run.
    let producer = {
        let spool = spoolq_spool::Spool::open(&spool.path()).unwrap();
        std::thread::spawn(move || {
            (0..JOBS)
                .map(|i| {
                    let id = spoolq_spool::JobId::generate();
                    spool
                        .drop_job(
                            id,
                            &mut format!("job {i}\n").as_bytes(),
                            spoolq_spool::Durability::NEVER,
                        )
                        .unwrap();
                    id
                })
                .collect::<Vec<_>>()
        })
    };
    let ids = producer.join().unwrap();
    // A job keeps its name in new/ until it is completed, so an empty new/ means done.
    wait_until("new/ is empty", Duration::from_secs(120), || {
        spool.names("new").is_empty()
    });
    for daemon in &daemons {
        daemon.signal("TERM");
    }
    for daemon in &mut daemons {
        let status = daemon.wait(PATIENCE);
        assert_eq!(status.code(), Some(0), "log:\n{}", daemon.log_text());
    }

    let done = spool.count_per_job(EventKind::Done);
    let claimed = spool.count_per_job(EventKind::Claimed);
    let missing: Vec<_> = ids.iter().filter(|id| !done.contains_key(id)).collect();
    assert!(missing.is_empty(), "{} jobs never done", missing.len());
    let twice: Vec<_> = done.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs done more than once: {twice:?}");
    let claimed_twice: Vec<_> = claimed.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        claimed_twice.is_empty(),
        "jobs claimed more than once: {claimed_twice:?}"
    );
    assert_eq!(done.len(), JOBS);
    // Every daemon took part, and each journaled a clean stop.
    let processes: HashSet<u32> = spool
        .events(EventKind::Done)
        .iter()
        .map(|r| r.pid)
        .collect();
    assert!(processes.len() >= 2, "work was shared: {processes:?}");
    assert_eq!(spool.events(EventKind::Stop).len(), 3);
    assert!(
        spool
            .events(EventKind::Done)
            .iter()
            .all(|r| matches!(&r.event, Event::Done(done) if done.result == DoneResult::Ok))
    );
}

#[test]
fn sigterm_during_a_long_handler_releases_the_job_for_the_next_daemon() {
    let spool = TempSpool::new();
    let started = spool.scratch().join("started");
    let id = spool.drop_job("long\n");
    let script = format!("touch '{}'; exec sleep 30", started.display());
    let mut first = spool.daemon(
        &["--shutdown-grace", "200ms", "--kill-grace", "1s"],
        &["sh", "-c", &script],
    );
    wait_until("the handler started", PATIENCE, || started.exists());
    first.signal("TERM");
    let status = first.wait(PATIENCE);
    assert_eq!(status.code(), Some(0), "log:\n{}", first.log_text());
    // The attempt started, so its name counts it.
    assert_eq!(spool.names("new"), vec![format!("{id}.1")]);
    let released = spool.events(EventKind::Released);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].job(), Some(id));

    let mut second = spool.daemon(&["--drain"], &["sh", "-c", "cat > /dev/null"]);
    let status = second.wait(PATIENCE);
    assert_eq!(status.code(), Some(0), "log:\n{}", second.log_text());
    assert!(spool.names("new").is_empty());
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
}

#[test]
fn a_handler_finishing_within_the_shutdown_grace_completes_its_job() {
    let spool = TempSpool::new();
    let started = spool.scratch().join("started");
    let release = spool.scratch().join("release");
    let id = spool.drop_job("short\n");
    // Runs until the test lets it go (after the signal), well within the grace.
    let script = format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.02; done",
        started.display(),
        release.display()
    );
    let mut daemon = spool.daemon(&["--shutdown-grace", "20s"], &["sh", "-c", &script]);
    wait_until("the handler started", PATIENCE, || started.exists());
    daemon.signal("TERM");
    wait_until("the daemon saw the signal", PATIENCE, || {
        daemon.log_text().contains("signal received")
    });
    std::fs::write(&release, "").unwrap();
    let status = daemon.wait(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
    assert!(spool.events(EventKind::Released).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn kill_9_of_the_daemon_takes_the_handler_down_and_the_next_daemon_redelivers() {
    let spool = TempSpool::new();
    let pid_file = spool.scratch().join("handler.pid");
    let id = spool.drop_job("interrupted\n");
    let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
    let mut first = spool.daemon(&[], &["sh", "-c", &script]);
    wait_until("the handler started", PATIENCE, || {
        read_pid(&pid_file).is_some()
    });
    let handler = read_pid(&pid_file).unwrap();
    first.signal("KILL");
    first.wait(PATIENCE);
    wait_until(
        "the handler died with its daemon",
        Duration::from_secs(1),
        || process_gone(handler),
    );
    // The attempt cut short still counts, in the name.
    assert_eq!(spool.names("new"), vec![format!("{id}.1")]);

    let mut second = spool.daemon(&["--drain"], &["sh", "-c", "cat > /dev/null"]);
    assert_eq!(second.wait(PATIENCE).code(), Some(0));
    assert_eq!(spool.count_per_job(EventKind::Claimed).get(&id), Some(&2));
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
    assert!(spool.names("new").is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_second_signal_exits_at_once_and_kills_the_handlers() {
    let spool = TempSpool::new();
    let pid_file = spool.scratch().join("handler.pid");
    let id = spool.drop_job("stuck\n");
    // The handler ignores SIGTERM: only the second signal's SIGKILL ends it.
    let script = format!(
        "trap '' TERM; echo $$ > '{}'; while :; do sleep 0.1; done",
        pid_file.display()
    );
    let mut daemon = spool.daemon(&["--shutdown-grace", "60s"], &["sh", "-c", &script]);
    wait_until("the handler started", PATIENCE, || {
        read_pid(&pid_file).is_some()
    });
    let handler = read_pid(&pid_file).unwrap();
    daemon.signal("TERM");
    wait_until("the daemon saw the first signal", PATIENCE, || {
        daemon.log_text().contains("signal received")
    });
    daemon.signal("INT");
    let status = daemon.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(128 + 2));
    wait_until("the handler is gone", Duration::from_secs(2), || {
        process_gone(handler)
    });
    // Not completed, not deleted: the next daemon gets it (as its second attempt).
    assert_eq!(spool.names("new"), vec![format!("{id}.1")]);
}

#[test]
fn a_missing_spool_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = spoolq()
        .args(["daemon", "--spool"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}

#[test]
fn an_unwritable_spool_is_one_clear_line_and_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let spool = TempSpool::new();
    let new = spool.folder("new");
    // Readable, not writable: for the owner, and for nobody below.
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Permissions do not stop root: as root, the daemon runs as nobody, to whom the rest
    // of the spool is given and new/ (root's, mode 0555) is not writable.
    let mut daemon = if effective_uid() == 0 {
        give_spool_to_nobody(&spool, &["new"]);
        spoolq_as_nobody()
    } else {
        spoolq()
    };
    let out = daemon
        // --drain: a daemon that missed the problem would exit 0 on the empty spool
        // rather than run forever.
        .args(["daemon", "--drain", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o750)).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not writable"), "{stderr}");
}

#[test]
fn a_missing_handler_is_an_error_at_start() {
    let spool = TempSpool::new();
    let out = spoolq()
        .args(["daemon", "--spool"])
        .arg(spool.path())
        .args(["--", "/no/such/handler"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/no/such/handler"), "{stderr}");
}

#[test]
fn json_logs_carry_the_effective_config_at_start() {
    let spool = TempSpool::new();
    spool.drop_jobs(2);
    let out = spoolq()
        .args([
            "daemon",
            "--drain",
            "--log-format",
            "json",
            "--workers",
            "3",
            "--spool",
        ])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first: serde_json::Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
    assert_eq!(first["fields"]["message"], "spoolq daemon starting");
    assert_eq!(first["fields"]["workers"], 3);
    assert_eq!(first["fields"]["claim"], "verified");
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

/// The lines every job gets (claimed, the built-in handler's receipt, done) are at debug
/// under one target: the default log has none of them, and `spoolq::job=debug` shows
/// them without the rest of the daemon's debug lines.
#[test]
fn per_job_log_lines_are_off_by_default_and_on_with_their_target() {
    const JOBS: usize = 3;
    let drain = |log: Option<&str>| {
        let spool = TempSpool::new();
        spool.drop_jobs(JOBS);
        let mut command = spoolq();
        command
            .args(["daemon", "--drain", "--workers", "1", "--spool"])
            .arg(spool.path())
            .env_remove("SPOOLQ_LOG");
        if let Some(log) = log {
            command.env("SPOOLQ_LOG", log);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(spool.count_per_job(EventKind::Done).len(), JOBS);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let lines = |log: &str, what: &str| log.lines().filter(|l| l.contains(what)).count();
    let default = drain(None);
    for what in ["job done", "built-in handler: job received", "spoolq::job"] {
        assert_eq!(lines(&default, what), 0, "{what}: {default}");
    }
    assert!(default.contains("daemon stopped"), "{default}");
    let per_job = drain(Some("info,spoolq::job=debug"));
    for what in ["job done", "built-in handler: job received", " claimed "] {
        assert_eq!(lines(&per_job, what), JOBS, "{what}: {per_job}");
    }
    // Only that target at debug: the rest of the daemon logs at info.
    let debug = per_job.lines().filter(|l| l.contains("DEBUG"));
    assert!(
        debug.clone().all(|l| l.contains("spoolq::job")),
        "{per_job}"
    );
    assert_eq!(debug.count(), 3 * JOBS, "{per_job}");
}

#[test]
fn a_folder_replaced_by_a_symlink_is_reported_and_not_followed() {
    let spool = TempSpool::new();
    let mut daemon = spool.daemon(&["--rescan-interval", "50ms", "--no-watch"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    let elsewhere = spool.scratch().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::rename(spool.folder("new"), spool.scratch().join("old-new")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, spool.folder("new")).unwrap();
    // A job behind the symlink: the daemon must not claim it.
    let mut bytes = spoolq_spool::JobHeader::new(spoolq_spool::JobId::generate(), 1).render();
    bytes.push(b'x');
    let id = spoolq_spool::JobHeader::parse_prefix(&bytes).unwrap().0.id;
    std::fs::write(elsewhere.join(id.to_string()), &bytes).unwrap();
    wait_until("the daemon reports the replaced folder", PATIENCE, || {
        let log = daemon.log_text();
        log.contains("moved away or replaced") && log.contains("/new")
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    assert!(elsewhere.join(id.to_string()).exists());
    assert!(!spool.count_per_job(EventKind::Claimed).contains_key(&id));
}

#[test]
fn a_built_in_handler_drain_audits_clean_with_each_claim_journaled_before_its_done() {
    // The built-in handler journals a batch of jobs in two writes (the claimed records,
    // then the done records): the auditor still sees one clean claim per job.
    const JOBS: usize = 200;
    let spool = TempSpool::new();
    let reopened = spoolq_spool::Spool::open(&spool.path()).unwrap();
    let journal = spoolq_producer::open_journal(&reopened).unwrap();
    let opts = spoolq_producer::Generate {
        count: JOBS as u64,
        size: 100,
        rate: None,
        sync: spoolq_producer::SyncMode::Never,
    };
    let ids =
        spoolq_producer::produce_generated(&reopened, &opts, Some(&journal), &mut |_| {}).unwrap();
    drop(journal);

    let mut daemon = spool.daemon(&["--drain", "--workers", "2"], &[]);
    let status = daemon.wait(PATIENCE);
    assert!(status.success(), "{status:?}; log:\n{}", daemon.log_text());
    assert!(spool.names("new").is_empty());

    let report = spoolq_auditor::audit(&spoolq_auditor::AuditInput {
        spool: Some(spool.path()),
        journals: Vec::new(),
        ..spoolq_auditor::AuditInput::default()
    })
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.counts.produced, JOBS as u64);
    assert_eq!(report.counts.claimed, JOBS as u64);
    assert_eq!(report.counts.completed, JOBS as u64);
    assert_eq!(report.counts.released, 0);
    assert_eq!(report.counts.lost, Some(0), "{:?}", report.lost_jobs);
    assert_eq!(report.counts.pending, Some(0));
    assert_eq!(
        report.duplicate_counts,
        spoolq_auditor::DuplicateCounts::default(),
        "{:?}",
        report.duplicates
    );
    assert_eq!(report.unfinished_claims, 0);

    // In the daemon's journal file, line by line: each job's claimed record comes
    // before its done record, once each.
    let files = spoolq_spool::journal::journal_files(&[spool.folder("journal")]).unwrap();
    let daemon_files: Vec<_> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("daemon-")
        })
        .collect();
    assert_eq!(daemon_files.len(), 1, "{files:?}");
    let mut lines: std::collections::HashMap<_, Vec<(usize, EventKind)>> = Default::default();
    for (n, entry) in spoolq_spool::journal::FileRecords::open(daemon_files[0])
        .unwrap()
        .enumerate()
    {
        let spoolq_spool::journal::FileItem::Record(entry) = entry else {
            panic!("not a record spoolq wrote: {entry:?}");
        };
        if let Some(id) = entry.record.job() {
            lines.entry(id).or_default().push((n, entry.record.kind()));
        }
    }
    for id in &ids {
        let events: Vec<EventKind> = lines[id].iter().map(|(_, e)| *e).collect();
        assert_eq!(events, [EventKind::Claimed, EventKind::Done], "job {id}");
    }
}
