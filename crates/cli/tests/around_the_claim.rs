//! What surrounds the claim, with the real `spoolq daemon` binary on real files and real
//! handler processes: completion acts on the claimed file only, a job that cannot be
//! completed runs at most --max-attempts times, the handler's whole process tree holds
//! the claim, a crash counts as an attempt, signals, the journal removed by hand, a
//! drain with a full journal, and files in new/ that must never be opened. Each case is
//! in docs/reliability.md with its figure.
//!
//! No test sleeps to synchronise: each waits for a journal record, a log line, a file or
//! a process state. Two make a fault by waiting on purpose (a daemon kept stopped past
//! its job timeout; a drain left to spin for a while), and say so.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use spoolq_spool::journal::Stuck;
use spoolq_spool::{DeadCause, Event, EventKind, JobHeader, JobId, Record, ReleaseCause};

fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "around the claim: {line}");
}

fn audit(spool: &TempSpool) -> spoolq_auditor::Report {
    spoolq_auditor::audit(&spoolq_auditor::AuditInput {
        spool: Some(spool.path()),
        ..spoolq_auditor::AuditInput::default()
    })
    .unwrap()
}

fn released(record: &Record) -> Option<&spoolq_spool::journal::Released> {
    match &record.event {
        Event::Released(r) => Some(r),
        _ => None,
    }
}

/// The one name in new/ (the job in flight has it).
fn only_name_in_new(spool: &TempSpool) -> String {
    let names = spool.names("new");
    assert_eq!(names.len(), 1, "{names:?}");
    names[0].clone()
}

/// A job file's bytes.
fn job_bytes(id: JobId, payload: &[u8]) -> Vec<u8> {
    let mut bytes = JobHeader::new(id, payload.len() as u64).render();
    bytes.extend_from_slice(payload);
    bytes
}

/// What a careless producer does: writes a file elsewhere and `mv -f`s it over `name`.
fn rename_over(spool: &TempSpool, name: &str, bytes: &[u8]) {
    let staging = spool.scratch().join("staging");
    std::fs::write(&staging, bytes).unwrap();
    let status = Command::new("mv")
        .arg("-f")
        .arg(&staging)
        .arg(spool.folder("new").join(name))
        .status()
        .unwrap();
    assert!(status.success());
}

/// A newer file renamed over the name of a job in flight is never unlinked or moved by
/// that job's outcome: whether its handler succeeded (exit 0: complete), failed (exit
/// 75: retry) or failed for good (exit 100: bury), the name is left alone, journaled as
/// `released` with `name_changed`, and the newer file runs as a job of its own.
#[test]
fn a_file_renamed_over_a_job_in_flight_is_left_alone_and_runs() {
    for (exit, intended) in [(0, "complete"), (75, "retry"), (100, "bury")] {
        let spool = TempSpool::new();
        let scratch = spool.scratch();
        let (started, release, ran) = (
            scratch.join("started"),
            scratch.join("release"),
            scratch.join("ran"),
        );
        let id = spool.drop_job("first\n");
        // The first run waits for the test; every run appends its payload to `ran`.
        let script = format!(
            "cat >> '{ran}'; if [ ! -e '{started}' ]; then touch '{started}'; \
             while [ ! -e '{release}' ]; do sleep 0.01; done; exit {exit}; fi; exit 0",
            ran = ran.display(),
            started = started.display(),
            release = release.display(),
        );
        let mut daemon = spool.daemon(
            &["--rescan-interval", "100ms", "--retry-base", "10ms"],
            &["sh", "-c", &script],
        );
        wait_until("the handler started", PATIENCE, || started.exists());
        let in_flight = only_name_in_new(&spool);
        rename_over(&spool, &in_flight, &job_bytes(id, b"newer\n"));
        std::fs::write(&release, "").unwrap();
        wait_until("the newer file ran", PATIENCE, || {
            std::fs::read_to_string(&ran).is_ok_and(|r| r.contains("newer"))
        });
        wait_until("the newer file is done", PATIENCE, || {
            spool.names("new").is_empty()
                && spool
                    .events(EventKind::Done)
                    .iter()
                    .any(|r| r.job() == Some(id))
        });
        daemon.signal("TERM");
        assert_eq!(daemon.wait(PATIENCE).code(), Some(0));

        assert_eq!(
            std::fs::read_to_string(&ran).unwrap(),
            "first\nnewer\n",
            "{intended}"
        );
        let left: Vec<_> = spool
            .events(EventKind::Released)
            .into_iter()
            .filter(|r| released(r).is_some_and(|r| r.result == ReleaseCause::NameChanged))
            .collect();
        assert_eq!(left.len(), 1, "{intended}: {left:?}");
        assert_eq!(released(&left[0]).unwrap().exit, Some(exit), "{intended}");
        assert!(
            daemon.log_text().contains("no longer names the file"),
            "{intended}: {}",
            daemon.log_text()
        );
        assert!(spool.names("retry").is_empty(), "{intended}");
        assert!(spool.names("failed").is_empty(), "{intended}");
        let audit = audit(&spool);
        assert_eq!(audit.counts.lost, Some(0), "{intended}");
        assert_eq!(audit.counts.left_alone, 1, "{intended}");
        assert_eq!(audit.duplicate_counts.concurrent, 0, "{intended}");
        assert_eq!(audit.duplicate_counts.after_completion, 0, "{intended}");
        // One id in two files, each run once: a copy, reported as such.
        assert_eq!(audit.counts.copied, 1, "{intended}");
        report(&format!(
            "renamed over a job in flight, handler exit {exit} ({intended}): the newer file \
             left alone and run once, 1 name_changed release, 0 lost, 0 duplicates, 1 copy"
        ));
    }
}

/// `spoolq daemon` as nobody (when the test runs as root, else as the test's user), its
/// stderr to a log file in the scratch folder.
fn daemon_as_nobody(spool: &TempSpool, args: &[&str], command: &[&str]) -> Daemon {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = spool.scratch().join(format!("nobody-{n}.log"));
    let mut cmd = if effective_uid() == 0 {
        spoolq_as_nobody()
    } else {
        spoolq()
    };
    cmd.arg("daemon")
        .arg("--spool")
        .arg(spool.path())
        .args(args);
    if !command.is_empty() {
        cmd.arg("--").args(command);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Daemon { child, log }
}

fn stuck_records(spool: &TempSpool) -> Vec<Stuck> {
    spool
        .events(EventKind::Stuck)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Stuck(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// A job that succeeds but cannot be removed (new/ sticky, the file a producer's, the
/// daemon another user) runs at most --max-attempts times, with the built-in handler
/// (no attempt-counting rename) and with an external one (whose rename fails the same
/// way, so the handler never runs): the daemon gives it up, says so once, journals a
/// `stuck` record, `spoolq status` lists it, and a drain ends with it still in new/.
#[test]
fn a_job_that_cannot_be_removed_runs_at_most_max_attempts_times_and_is_shown_stuck() {
    if effective_uid() != 0 {
        return skip("root, to run the daemon as another user than the job files' owner");
    }
    for external in [false, true] {
        let spool = TempSpool::new();
        let ran = spool.scratch().join("ran");
        give_spool_to_nobody(&spool, &["new"]);
        // new/ sticky and writable by all (the daemon's probe passes), owned by root;
        // the job file root's, readable by all.
        std::fs::set_permissions(spool.folder("new"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        let id = spool.drop_job("cannot be removed\n");
        let name = id.to_string();
        std::fs::set_permissions(
            spool.folder("new").join(&name),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::set_permissions(spool.scratch(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let script = format!("cat > /dev/null; echo run >> '{}'", ran.display());
        let command: Vec<&str> = if external {
            vec!["sh", "-c", &script]
        } else {
            vec![]
        };
        let args = ["--max-attempts", "3", "--rescan-interval", "50ms"];
        let mut daemon = daemon_as_nobody(&spool, &args, &command);
        wait_until("the daemon gave the job up", PATIENCE, || {
            !stuck_records(&spool).is_empty()
        });

        let out = spoolq()
            .args(["status", "--json", "--spool"])
            .arg(spool.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let stuck = status["stuck"].as_array().unwrap();
        assert_eq!(stuck.len(), 1, "{status}");
        assert_eq!(stuck[0]["job"], name.as_str());
        let cause = if external {
            "rename_failed"
        } else {
            "complete_failed"
        };
        assert_eq!(stuck[0]["cause"], cause, "{status}");
        let human = spoolq()
            .args(["status", "--spool"])
            .arg(spool.path())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&human.stdout).contains("stuck      1 job(s)"),
            "{}",
            String::from_utf8_lossy(&human.stdout)
        );

        daemon.signal("TERM");
        assert_eq!(
            daemon.wait(PATIENCE).code(),
            Some(0),
            "{}",
            daemon.log_text()
        );
        let log = daemon.log_text();
        assert_eq!(log.matches("gives the job up").count(), 1, "{log}");
        assert_eq!(
            log.matches("is tried again, at most 3 times").count(),
            1,
            "{log}"
        );
        let claimed = spool.count_per_job(EventKind::Claimed);
        assert_eq!(claimed.get(&id), Some(&3), "{log}");
        let runs = std::fs::read_to_string(&ran)
            .unwrap_or_default()
            .lines()
            .count();
        assert_eq!(
            runs, 0,
            "an external handler never runs when its attempt cannot be counted"
        );

        // A drain gives up too, and ends: a job it cannot complete is not claimable.
        let mut drain = daemon_as_nobody(&spool, &["--drain", "--max-attempts", "2"], &command);
        assert_eq!(drain.wait(PATIENCE).code(), Some(0), "{}", drain.log_text());
        assert_eq!(spool.count_per_job(EventKind::Claimed).get(&id), Some(&5));
        assert_eq!(spool.names("new"), vec![name.clone()]);
        let audit = audit(&spool);
        assert_eq!(audit.counts.stuck, 1);
        assert_eq!(audit.counts.lost, Some(0));
        report(&format!(
            "cannot be removed ({}): --max-attempts 3: claimed 3 times then given up, logged \
             once, 1 stuck record, listed by status; a drain with --max-attempts 2: 2 more, \
             then exits 0; handler runs {runs}",
            if external {
                "external handler, rename refused"
            } else {
                "built-in handler"
            }
        ));
    }
}

/// A failing job whose move to retry/ fails (retry/ made unwritable for the daemon while
/// it runs) runs --max-attempts times, each counted in its name, then goes to failed/.
#[test]
fn a_failing_job_whose_retry_move_fails_runs_max_attempts_times_then_is_buried() {
    if effective_uid() != 0 {
        return skip("root, to run the daemon as a user whose rights can be taken away");
    }
    let spool = TempSpool::new();
    let ran = spool.scratch().join("ran");
    std::fs::set_permissions(spool.scratch(), std::fs::Permissions::from_mode(0o777)).unwrap();
    give_spool_to_nobody(&spool, &[]);
    let script = format!("cat > /dev/null; echo run >> '{}'; exit 75", ran.display());
    let mut daemon = daemon_as_nobody(
        &spool,
        &["--max-attempts", "3", "--rescan-interval", "50ms"],
        &["sh", "-c", &script],
    );
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    std::fs::set_permissions(
        spool.folder("retry"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    // Written beside the spool, given to nobody, then renamed in: the daemon never sees
    // it unreadable.
    let id = JobId::generate();
    let staging = spool.scratch().join("staging");
    std::fs::write(&staging, job_bytes(id, b"always fails\n")).unwrap();
    std::os::unix::fs::chown(&staging, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::rename(&staging, spool.folder("new").join(id.to_string())).unwrap();
    wait_until("the job is dead", PATIENCE, || {
        !spool.events(EventKind::Dead).is_empty()
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let runs = std::fs::read_to_string(&ran).unwrap().lines().count();
    assert_eq!(runs, 3, "{}", daemon.log_text());
    let failed_moves = spool
        .events(EventKind::Released)
        .iter()
        .filter(|r| released(r).is_some_and(|r| r.result == ReleaseCause::RetryMoveFailed))
        .count();
    assert_eq!(failed_moves, 2);
    let reason = spool.reason(&format!("{id}.3"));
    assert_eq!(
        reason.reason,
        spoolq_spool::ReasonCode::Dead(DeadCause::AttemptsExhausted)
    );
    report(&format!(
        "retry/ unwritable: --max-attempts 3: {runs} runs, {failed_moves} failed moves to \
         retry/, then failed/ as attempts_exhausted"
    ));
}

/// The handler's stdin is the locked job file itself, so every process that keeps it
/// holds the job: a grandchild that left the handler's group (setsid, double fork) and
/// outlives a kill -9 of the daemon (its handler died with it) keeps the job locked, the
/// next daemon's claims find it busy, and it is claimed once the grandchild exits.
#[test]
fn a_grandchild_outliving_a_kill_9_of_its_daemon_keeps_the_job_claimed() {
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    let (gc_pid, hold) = (scratch.join("grandchild.pid"), scratch.join("hold"));
    std::fs::write(&hold, "").unwrap();
    let id = spool.drop_job("held by a grandchild\n");
    // The first run leaves a grandchild in a session of its own, its stdin the job,
    // running until the test removes `hold`; the handler itself then waits to be killed
    // with its daemon. Later runs succeed at once. (sh gives a background command
    // /dev/null as its stdin unless it is handed one: `<&3`, a copy of the job.)
    let script = format!(
        "if [ ! -e \"{pid}\" ]; then \
           exec 3<&0; \
           setsid sh -c 'echo $$ > \"{pid}\"; while [ -e \"{hold}\" ]; do sleep 0.02; done' \
             <&3 > /dev/null 2>&1 & \
           exec sleep 600 <&-; \
         fi; cat > /dev/null",
        pid = gc_pid.display(),
        hold = hold.display(),
    );
    let mut first = spool.daemon(&[], &["sh", "-c", &script]);
    wait_until("the grandchild started", PATIENCE, || {
        read_pid(&gc_pid).is_some()
    });
    let grandchild = read_pid(&gc_pid).unwrap();
    first.signal("KILL");
    first.wait(PATIENCE);
    assert!(
        !process_gone(grandchild),
        "the grandchild outlived its daemon"
    );

    let mut second = spool.daemon(
        &["--trace-claims", "--rescan-interval", "50ms"],
        &["sh", "-c", &script],
    );
    let second_pid = second.pid();
    let busy = |spool: &TempSpool| {
        spool
            .events(EventKind::Step)
            .iter()
            .filter(|r| r.pid == second_pid && r.job() == Some(id))
            .filter(|r| {
                matches!(&r.event, Event::Step(s)
                    if s.step == spoolq_claim::Step::AfterLock && s.result.is_err())
            })
            .count()
    };
    wait_until(
        "the second daemon found the job locked twice",
        PATIENCE,
        || busy(&spool) >= 2,
    );
    assert!(!process_gone(grandchild));
    let claims_by_second = |spool: &TempSpool| {
        spool
            .events(EventKind::Claimed)
            .iter()
            .filter(|r| r.pid == second_pid)
            .count()
    };
    assert_eq!(
        claims_by_second(&spool),
        0,
        "claimed while the grandchild held it"
    );
    let busy_while_held = busy(&spool);

    std::fs::remove_file(&hold).unwrap();
    wait_until("the grandchild exited", PATIENCE, || {
        process_gone(grandchild)
    });
    wait_until("the second daemon completed the job", PATIENCE, || {
        spool.count_per_job(EventKind::Done).get(&id) == Some(&1)
    });
    second.signal("TERM");
    assert_eq!(second.wait(PATIENCE).code(), Some(0));
    assert_eq!(claims_by_second(&spool), 1);
    let audit = audit(&spool);
    assert_eq!(audit.counts.lost, Some(0));
    assert_eq!(audit.duplicate_counts.concurrent, 0);
    report(&format!(
        "grandchild outliving kill -9: the next daemon found the job locked {busy_while_held} \
         times while it ran, claimed it 0 times then, and 1 time once it exited"
    ));
}

/// A job that kills its daemon every time (or is killed with it) counts each started
/// attempt in its name, so after --max-attempts of them the next daemon buries it in
/// failed/ as attempts_exhausted without running it again.
#[test]
fn a_job_that_kills_its_daemon_every_time_ends_in_failed_after_max_attempts() {
    let spool = TempSpool::new();
    let ran = spool.scratch().join("ran");
    let id = spool.drop_job("deadly\n");
    // The handler's parent is the daemon. The handler lets go of the job (its stdin)
    // first and then becomes the process the parent-death signal reaches: a `sleep` it
    // forked would outlive the daemon holding the job, and the next daemon would find
    // it locked (which is the point of the handler's stdin, not of this test).
    let script = format!(
        "exec 0<&-; echo run >> '{}'; kill -9 $PPID; exec sleep 600",
        ran.display()
    );
    let runs = || {
        std::fs::read_to_string(&ran)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for attempt in 1..=2 {
        let mut daemon = spool.daemon(&["--max-attempts", "2"], &["sh", "-c", &script]);
        let status = daemon.wait(PATIENCE);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{}",
            daemon.log_text()
        );
        assert_eq!(runs(), attempt);
        assert_eq!(spool.names("new"), vec![format!("{id}.{attempt}")]);
    }
    let mut last = spool.daemon(&["--max-attempts", "2", "--drain"], &["sh", "-c", &script]);
    assert_eq!(last.wait(PATIENCE).code(), Some(0), "{}", last.log_text());
    assert_eq!(runs(), 2);
    assert!(spool.names("new").is_empty());
    let reason = spool.reason(&format!("{id}.2"));
    assert_eq!(
        reason.reason,
        spoolq_spool::ReasonCode::Dead(DeadCause::AttemptsExhausted)
    );
    assert_eq!(reason.attempts, Some(2));
    assert!(reason.message.contains("none ended"), "{}", reason.message);
    let audit = audit(&spool);
    assert_eq!(audit.counts.lost, Some(0));
    assert_eq!(audit.counts.dead, 1);
    report(
        "a job that kills its daemon, --max-attempts 2: 2 runs (attempts 1 and 2 in the \
         name), then failed/ as attempts_exhausted, unrun",
    );
}

/// After SIGSTOP and SIGCONT of the daemon, handlers that exited 0 while it was stopped
/// past their job timeout are done, not timed out: an exit already observed wins.
#[cfg(target_os = "linux")]
#[test]
fn a_handler_that_exited_while_the_daemon_was_stopped_is_not_timed_out() {
    use spoolq_spool::DoneResult;
    const JOBS: usize = 8;
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    let (pids, release) = (scratch.join("pids"), scratch.join("release"));
    std::fs::create_dir(&pids).unwrap();
    spool.drop_jobs(JOBS);
    let script = format!(
        "echo $$ > '{pids}/'$SPOOLQ_JOB_ID; while [ ! -e '{release}' ]; do sleep 0.01; done",
        pids = pids.display(),
        release = release.display(),
    );
    let timeout = Duration::from_secs(4);
    let mut daemon = spool.daemon(
        &["--workers", "8", "--job-timeout", "4s"],
        &["sh", "-c", &script],
    );
    // A pid file exists before the shell's echo has written it: count written ones.
    wait_until("every handler started", PATIENCE, || {
        std::fs::read_dir(&pids)
            .unwrap()
            .filter(|e| read_pid(&e.as_ref().unwrap().path()).is_some())
            .count()
            == JOBS
    });
    let handlers: Vec<u32> = std::fs::read_dir(&pids)
        .unwrap()
        .map(|e| read_pid(&e.unwrap().path()).unwrap())
        .collect();
    daemon.signal("STOP");
    std::fs::write(&release, "").unwrap();
    wait_until("every handler exited (unreaped)", PATIENCE, || {
        handlers.iter().all(|&pid| process_gone(pid))
    });
    // The fault: the daemon stays stopped past the job timeout of every handler.
    std::thread::sleep(timeout + Duration::from_millis(500));
    daemon.signal("CONT");
    wait_until("every job has an outcome", PATIENCE, || {
        spool.events(EventKind::Done).len() + spool.events(EventKind::Retry).len() == JOBS
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let done = spool.events(EventKind::Done);
    assert_eq!(done.len(), JOBS, "{}", daemon.log_text());
    assert!(done.iter().all(|r| matches!(&r.event,
        Event::Done(d) if d.result == DoneResult::Ok && d.exit == Some(0))));
    assert!(!daemon.log_text().contains("timed out"));
    report(&format!(
        "SIGSTOP past the job timeout, handlers exited 0 meanwhile, SIGCONT: {JOBS}/{JOBS} \
         done, 0 timed out"
    ));
}

/// SIGHUP is a graceful stop, as SIGTERM: the handler in flight may finish, the daemon
/// journals its stop and exits 0.
#[test]
fn sighup_stops_the_daemon_gracefully() {
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    let (started, release) = (scratch.join("started"), scratch.join("release"));
    let id = spool.drop_job("through a hangup\n");
    let script = format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.01; done",
        started.display(),
        release.display()
    );
    let mut daemon = spool.daemon(&["--shutdown-grace", "30s"], &["sh", "-c", &script]);
    wait_until("the handler started", PATIENCE, || started.exists());
    daemon.signal("HUP");
    wait_until("the daemon saw the hangup", PATIENCE, || {
        daemon.log_text().contains("signal received")
    });
    std::fs::write(&release, "").unwrap();
    let status = daemon.wait(PATIENCE);
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", daemon.log_text());
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
    assert_eq!(spool.events(EventKind::Stop).len(), 1);
    report("SIGHUP: graceful stop, the job in flight done, stop journaled, exit 0");
}

/// The daemon's journal file removed by hand while it runs: the daemon notices at its
/// next write, goes on in a new file (the records of that write included), and says so;
/// the jobs after the removal are not lost to the audit.
#[test]
fn a_journal_file_removed_by_hand_is_replaced_and_nothing_after_it_is_lost() {
    let spool = TempSpool::new();
    let mut daemon = spool.daemon(&[], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    let journals = spool.names("journal");
    assert_eq!(journals.len(), 1);
    std::fs::remove_file(spool.folder("journal").join(&journals[0])).unwrap();
    let out = spoolq()
        .args(["produce", "--count", "20", "--size", "16", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let ids: Vec<JobId> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    wait_until("the jobs are done in journal/", PATIENCE, || {
        let done = spool.count_per_job(EventKind::Done);
        ids.iter().all(|id| done.contains_key(id))
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    assert!(
        daemon.log_text().contains("journal file was removed"),
        "{}",
        daemon.log_text()
    );
    let claimed = spool.count_per_job(EventKind::Claimed);
    assert!(ids.iter().all(|id| claimed.get(id) == Some(&1)));
    let audit = audit(&spool);
    assert_eq!(audit.counts.produced, 20);
    assert_eq!(audit.counts.lost, Some(0));
    assert_eq!(audit.counts.completed, 20);
    report("journal removed by hand: a new file, 20/20 later jobs claimed and done in it, 0 lost");
}

/// `--drain` with a full file system under journal/: every claim is released unrun (its
/// `claimed` record cannot be written), and the drain backs off as for jobs held by
/// others instead of re-claiming them in a tight loop.
#[test]
fn a_drain_with_a_full_journal_backs_off_instead_of_spinning() {
    const JOBS: usize = 20;
    const WINDOW: Duration = Duration::from_secs(3);
    let spool = TempSpool::new();
    let mount = match TmpfsMount::mount(&spool.folder("journal"), "256k") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    spool.drop_jobs(JOBS);
    let filler = spool.folder("journal").join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let mut daemon = spool.daemon(&["--drain", "--workers", "2"], &[]);
    let began = Instant::now();
    wait_until("claims are released unrun", PATIENCE, || {
        daemon
            .log_text()
            .contains("cannot write the claimed record")
    });
    // The fault: the drain runs for a while with the journal full.
    std::thread::sleep(WINDOW.saturating_sub(began.elapsed()));
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let ran_for = began.elapsed();
    let log = daemon.log_text();
    let stopped = log
        .lines()
        .find(|l| l.contains("daemon stopped"))
        .unwrap_or_else(|| panic!("{log}"));
    let released: u64 = stopped
        .split_whitespace()
        .find_map(|w| w.strip_prefix("released="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stopped}"));
    assert_eq!(spool.names("new").len(), JOBS);
    // Re-listed at a pause doubling from 10 ms to 1 s: about a dozen passes in 3 s.
    let passes = released / JOBS as u64;
    assert!(
        passes <= 3 * ran_for.as_secs() + 10,
        "{released} releases of {JOBS} jobs in {ran_for:?}"
    );
    drop(mount);
    report(&format!(
        "drain with a full journal: {released} releases of {JOBS} jobs in {:.1} s \
         ({passes} passes), nothing run, nothing lost",
        ran_for.as_secs_f64()
    ));
}

/// A FIFO in new/ with a writer blocked on it is quarantined without being opened: the
/// writer stays blocked until someone really reads it (the test, from failed/).
#[test]
fn a_fifo_in_new_is_quarantined_without_being_opened() {
    let spool = TempSpool::new();
    let fifo = spool.folder("new").join("a-fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    // A writer blocked in open(2) until a reader opens the FIFO, wherever it is by then.
    let writer = Command::new("sh")
        .arg("-c")
        .arg(format!("echo from-the-writer > '{}'", fifo.display()))
        .spawn()
        .unwrap();
    let valid = spool.drop_job("beside it\n");
    let mut daemon = spool.daemon(&["--trace-claims"], &[]);
    wait_until("the FIFO is quarantined", PATIENCE, || {
        !spool.events(EventKind::Quarantined).is_empty()
            && spool.count_per_job(EventKind::Done).contains_key(&valid)
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    // No open of it succeeded.
    assert!(
        !spool
            .events(EventKind::Step)
            .iter()
            .any(|r| matches!(&r.event,
        Event::Step(s) if s.name == "a-fifo"
            && s.step == spoolq_claim::Step::AfterOpen && s.result.is_ok()))
    );
    // Had the daemon opened it, the writer would have been let go then, written into a
    // pipe read by nobody and died. Still blocked, it writes to the first real reader.
    // (A reader's open waits for a writer: on a thread, so that its absence fails the
    // test instead of hanging it.)
    let quarantined = spool.folder("failed").join("a-fifo");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = String::new();
        let read = std::fs::File::open(&quarantined).and_then(|mut f| f.read_to_string(&mut got));
        let _ = tx.send(read.map(|_| got));
    });
    let got = rx
        .recv_timeout(PATIENCE)
        .expect("no writer: the daemon's open let it go earlier")
        .unwrap();
    assert_eq!(got, "from-the-writer\n");
    let mut writer = writer;
    assert!(writer.wait().unwrap().success());
    report("FIFO with a blocked writer in new/: quarantined unopened, the writer still blocked");
}
