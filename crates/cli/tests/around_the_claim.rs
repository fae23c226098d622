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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use spoolq_spool::{Event, EventKind, JobId};

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
    wait_until("every handler started", PATIENCE, || {
        std::fs::read_dir(&pids).unwrap().count() == JOBS
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
