//! The daemon run in-process (`spoolq_daemon::run` with a oneshot shutdown) against real
//! spools, real handler processes (sh scripts) and real journals.

mod common;

use std::ffi::OsString;
use std::os::unix::fs::symlink;
use std::time::{Duration, SystemTime};

use common::*;
use spoolq_claim::{Step, Strategy};
use spoolq_spool::{
    DeadCause, Event, EventKind, JobHeader, JobId, QuarantineCause, ReasonCode, Record,
    ReleaseCause, RetryName,
};

/// The `retry` fields of a record known to be one.
fn retry(r: &Record) -> &spoolq_spool::journal::Retry {
    match &r.event {
        Event::Retry(retry) => retry,
        other => panic!("not a retry: {other:?}"),
    }
}

/// The `dead` fields of a record known to be one.
fn dead(r: &Record) -> &spoolq_spool::journal::Dead {
    match &r.event {
        Event::Dead(dead) => dead,
        other => panic!("not a dead record: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_handler_completes_every_job_and_drains() {
    let spool = TempSpool::new();
    let ids = spool.drop_jobs(20);
    let summary = drain(spool.config()).await;
    assert_eq!(summary.completed, 20);
    assert_eq!(summary.claimed, 20);
    assert!(spool.names("new").is_empty());
    let done = spool.count_per_job(EventKind::Done);
    for id in &ids {
        assert_eq!(done.get(id), Some(&1), "job {id} done once");
    }
    let events: Vec<EventKind> = spool.records().iter().map(Record::kind).collect();
    assert_eq!(events.first(), Some(&EventKind::Start));
    assert_eq!(events.last(), Some(&EventKind::Stop));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_gets_payload_on_stdin_and_job_facts_in_env() {
    let spool = TempSpool::new();
    let out = spool.scratch().join("seen");
    let id = spool.drop_job("the payload\nsecond line\n");
    let mut config = spool.config();
    config.command = sh(&format!(
        "{{ cat; echo \"$SPOOLQ_JOB_ID $SPOOLQ_JOB_ATTEMPT $SPOOLQ_SPOOL\"; }} > '{}'",
        out.display()
    ));
    let summary = drain(config).await;
    assert_eq!(summary.completed, 1);
    let seen = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        seen,
        format!(
            "the payload\nsecond line\n{id} 1 {}\n",
            spool.path().display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_75_twice_then_success_retries_with_backoff_and_completes() {
    let spool = TempSpool::new();
    let id = spool.drop_job("flaky\n");
    let mut config = spool.config();
    config.command = sh("[ \"$SPOOLQ_JOB_ATTEMPT\" -ge 3 ] && exit 0; echo not yet >&2; exit 75");
    let daemon = Running::start(config);
    wait_until("the job is done", PATIENCE, || {
        !spool.events(EventKind::Done).is_empty()
    })
    .await;
    let summary = daemon.stop().await;
    assert_eq!(summary.completed, 1);
    assert_eq!(summary.retried, 2);
    assert_eq!(summary.requeued, 2);

    let records = spool.records();
    let claimed: Vec<_> = records
        .iter()
        .filter(|r| r.kind() == EventKind::Claimed)
        .collect();
    let retries: Vec<_> = records
        .iter()
        .filter(|r| r.kind() == EventKind::Retry)
        .collect();
    assert_eq!(
        claimed
            .iter()
            .map(|r| r.event.attempt())
            .collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(retries.len(), 2);
    for (n, &record) in retries.iter().enumerate() {
        let retry = self::retry(record);
        assert_eq!(retry.job, id);
        assert_eq!(retry.exit, Some(75));
        let name = RetryName::parse(retry.name.as_ref()).unwrap();
        assert_eq!(name.attempts, n as u32 + 1);
        // Backoff honoured: the next attempt was claimed no earlier than the due time.
        let next = wall(claimed[n + 1]);
        assert!(
            next >= name.due(),
            "attempt {} claimed at {next:?}, before its due time {:?}",
            n + 2,
            name.due()
        );
        // Full jitter stays under the doubled ceiling (50 ms, then 100 ms).
        let ceiling = Duration::from_millis(50 << n);
        assert!(name.due() <= wall(record) + ceiling + Duration::from_millis(5));
    }
    assert_eq!(spool.count_per_job(EventKind::Done).get(&id), Some(&1));
    assert!(spool.names("new").is_empty());
    assert!(spool.names("retry").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_100_goes_to_failed_with_a_reason() {
    let spool = TempSpool::new();
    let id = spool.drop_job("doomed\n");
    let mut config = spool.config();
    config.command = sh("echo first >&2; echo 'cannot parse this' >&2; exit 100");
    let summary = drain(config).await;
    assert_eq!(summary.dead, 1);
    assert_eq!(summary.retried, 0);
    // Its name counted the attempt before the handler ran: <id>.1.
    let name = format!("{id}.1");
    assert_eq!(
        spool.names("failed"),
        vec![name.clone(), format!("{name}.reason.json")]
    );
    let reason = spool.reason(&name);
    assert_eq!(reason.reason, ReasonCode::Dead(DeadCause::PermanentFailure));
    assert_eq!(reason.attempts, Some(1));
    assert_eq!(reason.exit_status, Some(100));
    assert_eq!(reason.job, Some(id));
    assert_eq!(reason.stderr_tail, ["first", "cannot parse this"]);
    for (field, time) in [
        ("created", &reason.created),
        ("last_attempt_started", &reason.last_attempt_started),
        ("last_attempt_ended", &reason.last_attempt_ended),
        ("failed_at", &Some(reason.failed_at.clone())),
    ] {
        let time = time
            .as_deref()
            .unwrap_or_else(|| panic!("reason has {field}"));
        assert!(humantime::parse_rfc3339(time).is_ok(), "{field} {time:?}");
    }
    let dead = spool.events(EventKind::Dead);
    assert_eq!(dead.len(), 1);
    assert_eq!(self::dead(&dead[0]).exit, Some(100));
    assert_eq!(self::dead(&dead[0]).result, DeadCause::PermanentFailure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_go_to_failed() {
    let spool = TempSpool::new();
    let id = spool.drop_job("always fails\n");
    let mut config = spool.config();
    config.command = sh("exit 3");
    config.max_attempts = 3;
    config.retry_base = Duration::from_millis(10);
    let daemon = Running::start(config);
    wait_until("the job is dead", PATIENCE, || {
        !spool.events(EventKind::Dead).is_empty()
    })
    .await;
    let summary = daemon.stop().await;
    assert_eq!((summary.retried, summary.dead), (2, 1));
    // The third attempt's name in new/ counted it before its handler ran: <id>.3.
    let name = format!("{id}.3");
    let reason = spool.reason(&name);
    assert_eq!(
        reason.reason,
        ReasonCode::Dead(DeadCause::AttemptsExhausted)
    );
    assert_eq!(reason.attempts, Some(3));
    assert_eq!(reason.exit_status, Some(3));
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_handler_is_killed_with_its_whole_process_group() {
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    let (child, grandchild) = (scratch.join("child"), scratch.join("grandchild"));
    spool.drop_job("hang\n");
    let mut config = spool.config();
    // Ignores SIGTERM (and so does the grandchild: ignored signals survive exec), so
    // only the SIGKILL after the grace ends them.
    config.command = sh(&format!(
        "trap '' TERM; sleep 30 & echo $! > '{}'; echo $$ > '{}'; wait",
        grandchild.display(),
        child.display()
    ));
    config.job_timeout = Duration::from_millis(300);
    config.kill_grace = Duration::from_millis(200);
    config.max_attempts = 1;
    let summary = drain(config).await;
    assert_eq!(summary.dead, 1);
    let (child, grandchild) = (read_pid(&child).unwrap(), read_pid(&grandchild).unwrap());
    wait_until(
        "handler and grandchild are gone",
        Duration::from_secs(2),
        || process_gone(child) && process_gone(grandchild),
    )
    .await;
    let dead = spool.events(EventKind::Dead);
    assert_eq!(self::dead(&dead[0]).signal, Some(9));
    let name = self::dead(&dead[0]).name.clone();
    assert!(spool.reason(&name).timed_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_jobs_in_retry_loses_none_and_runs_none_early() {
    let spool = TempSpool::new();
    let ids = spool.drop_jobs(5);
    let handler = sh("[ \"$SPOOLQ_JOB_ATTEMPT\" -ge 2 ] && exit 0; exit 75");
    let mut first = spool.config();
    first.command = handler.clone();
    // Long enough that no retry falls due before the first daemon has stopped, even on
    // a loaded machine (at 800 ms one did, and the daemon put it back in new/).
    first.retry_base = Duration::from_millis(2500);
    first.retry_max = Duration::from_millis(2500);
    let daemon = Running::start(first);
    wait_until("every job failed once", PATIENCE, || {
        spool.events(EventKind::Retry).len() == 5
    })
    .await;
    let summary = daemon.stop().await;
    assert_eq!(summary.retried, 5);

    // Plus one job put in retry/ by hand, due well in the future.
    let late = spool.drop_job("late\n");
    let due = SystemTime::now() + Duration::from_millis(1200);
    std::fs::rename(
        spool.folder("new").join(late.to_string()),
        spool
            .folder("retry")
            .join(RetryName::new(late, 1, due).to_string()),
    )
    .unwrap();
    assert_eq!(spool.names("retry").len(), 6);

    let mut second = spool.config();
    second.command = handler;
    let daemon = Running::start(second);
    wait_until("every job is done", PATIENCE, || {
        spool.events(EventKind::Done).len() == 6
    })
    .await;
    daemon.stop().await;

    let records = spool.records();
    let mut dues = std::collections::HashMap::new();
    for r in records.iter().filter(|r| r.kind() == EventKind::Retry) {
        let name = RetryName::parse(retry(r).name.as_ref()).unwrap();
        dues.insert(retry(r).job, name.due());
    }
    dues.insert(late, RetryName::new(late, 1, due).due());
    for r in records
        .iter()
        .filter(|r| r.kind() == EventKind::Claimed && r.event.attempt() == Some(2))
    {
        let id = r.job().unwrap();
        assert!(wall(r) >= dues[&id], "job {id} ran before its due time");
    }
    let done = spool.count_per_job(EventKind::Done);
    for id in ids.iter().chain([&late]) {
        assert_eq!(done.get(id), Some(&1), "job {id} completed once");
    }
    assert!(spool.names("retry").is_empty());
    assert!(spool.names("new").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_does_not_wait_for_future_retries() {
    let spool = TempSpool::new();
    let id = JobId::generate();
    spool
        .spool
        .drop_job(id, &mut &b"x"[..], spoolq_spool::Durability::NEVER)
        .unwrap();
    let later = RetryName::new(id, 1, SystemTime::now() + Duration::from_secs(3600));
    std::fs::rename(
        spool.folder("new").join(id.to_string()),
        spool.folder("retry").join(later.to_string()),
    )
    .unwrap();
    let summary = drain(spool.config()).await;
    assert_eq!(summary, spoolq_daemon::Summary::default());
    assert_eq!(spool.names("retry"), vec![later.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_files_are_quarantined_and_valid_jobs_beside_them_complete() {
    let spool = TempSpool::new();
    let new = spool.folder("new");
    let valid = spool.drop_jobs(3);
    // Not a job name.
    std::fs::write(new.join("notes.txt"), "hello").unwrap();
    // A job name, garbage inside.
    let garbage = JobId::generate().to_string();
    std::fs::write(new.join(&garbage), "not a job at all").unwrap();
    // Empty.
    let empty = JobId::generate().to_string();
    std::fs::write(new.join(&empty), "").unwrap();
    // Truncated: the header promises more payload than there is.
    let truncated = JobId::generate();
    let mut bytes = JobHeader::new(truncated, 100).render();
    bytes.extend_from_slice(b"short");
    std::fs::write(new.join(truncated.to_string()), bytes).unwrap();
    // Named for one id, carrying another.
    let (named, inside) = (JobId::generate(), JobId::generate());
    let mut bytes = JobHeader::new(inside, 2).render();
    bytes.extend_from_slice(b"hi");
    std::fs::write(new.join(named.to_string()), bytes).unwrap();
    // A symlink (to a valid job outside new/: it must not be followed).
    let outside = spool.scratch().join("target");
    let mut bytes = JobHeader::new(JobId::generate(), 2).render();
    bytes.extend_from_slice(b"hi");
    std::fs::write(&outside, bytes).unwrap();
    symlink(&outside, new.join("link")).unwrap();
    // A FIFO, made with mkfifo(1) (no unsafe here).
    let status = std::process::Command::new("mkfifo")
        .arg(new.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    // Hidden: ignored, left alone.
    std::fs::write(new.join(".partial"), "whatever").unwrap();

    let summary = drain(spool.config()).await;
    assert_eq!(summary.completed, 3);
    assert_eq!(summary.quarantined, 7);
    assert_eq!(spool.names("new"), vec![".partial".to_owned()]);
    let expect = [
        ("notes.txt", QuarantineCause::NotAJobName),
        (garbage.as_str(), QuarantineCause::NotAJob),
        (empty.as_str(), QuarantineCause::Empty),
        (&truncated.to_string(), QuarantineCause::LengthMismatch),
        (&named.to_string(), QuarantineCause::IdMismatch),
        ("link", QuarantineCause::Symlink),
        ("pipe", QuarantineCause::NotRegular),
    ];
    for (name, cause) in expect {
        let reason = spool.reason(name);
        assert_eq!(
            reason.reason,
            ReasonCode::Quarantined(cause),
            "reason code of {name}"
        );
        assert_eq!(reason.original_name, name);
        assert!(!reason.message.is_empty());
    }
    // The symlink itself moved, its target untouched.
    let moved = std::fs::symlink_metadata(spool.folder("failed").join("link")).unwrap();
    assert!(moved.file_type().is_symlink());
    assert!(outside.exists());
    let done = spool.count_per_job(EventKind::Done);
    for id in &valid {
        assert_eq!(done.get(id), Some(&1));
    }
    assert_eq!(spool.events(EventKind::Quarantined).len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_in_failed_gets_a_suffix() {
    let spool = TempSpool::new();
    std::fs::write(spool.folder("failed").join("junk"), "older").unwrap();
    std::fs::write(spool.folder("new").join("junk"), "newer").unwrap();
    let summary = drain(spool.config()).await;
    assert_eq!(summary.quarantined, 1);
    assert_eq!(
        spool.names("failed"),
        vec!["junk", "junk.1", "junk.1.reason.json"]
    );
    assert_eq!(
        std::fs::read_to_string(spool.folder("failed").join("junk")).unwrap(),
        "older"
    );
    let reason = spool.reason("junk.1");
    assert_eq!(reason.original_name, "junk");
    assert_eq!(reason.stored_as, "junk.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_name_is_stored_under_a_generated_one() {
    let spool = TempSpool::new();
    let long = "x".repeat(250);
    std::fs::write(spool.folder("new").join(&long), "junk").unwrap();
    let summary = drain(spool.config()).await;
    assert_eq!(summary.quarantined, 1);
    let names = spool.names("failed");
    assert_eq!(names.len(), 2);
    let stored = names.iter().find(|n| !n.ends_with(".reason.json")).unwrap();
    assert!(stored.starts_with("quarantined-"));
    assert_eq!(spool.reason(stored).original_name, long);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_terminates_a_long_handler_after_the_grace_and_releases_its_job() {
    let spool = TempSpool::new();
    let started = spool.scratch().join("started");
    let id = spool.drop_job("long\n");
    let mut config = spool.config();
    config.command = sh(&format!("touch '{}'; exec sleep 30", started.display()));
    config.shutdown_grace = Duration::from_millis(100);
    let daemon = Running::start(config);
    wait_until("the handler started", PATIENCE, || started.exists()).await;
    let summary = daemon.stop().await;
    assert_eq!(summary.released, 1);
    assert_eq!(summary.completed, 0);
    // The attempt started, so the name counts it.
    assert_eq!(spool.names("new"), vec![format!("{id}.1")]);
    let released = spool.events(EventKind::Released);
    assert_eq!(released.len(), 1);
    assert!(
        matches!(&released[0].event, Event::Released(r) if r.result == ReleaseCause::Shutdown),
        "{released:?}"
    );

    // The job is intact: a second daemon completes it.
    let summary = drain(spool.config()).await;
    assert_eq!(summary.completed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_queue_still_drains_a_large_spool() {
    let spool = TempSpool::new();
    spool.drop_jobs(600);
    let mut config = spool.config();
    config.queue_capacity = 8;
    config.watch = false;
    let summary = drain(config).await;
    assert_eq!(summary.completed, 600);
    assert!(spool.names("new").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_the_watcher_could_not_queue_are_listed_once_there_is_room() {
    // The watcher offers new names to the queue itself; a name turned away by the full
    // queue must make discovery list new/ when the workers made room, not wait for the
    // periodic rescan (an hour here: the test would time out).
    let spool = TempSpool::new();
    let mut config = spool.config();
    config.queue_capacity = 2;
    config.workers = 1;
    config.simulate_work = Some(Duration::from_millis(5));
    config.rescan_interval = Duration::from_secs(3600);
    let daemon = Running::start(config);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    })
    .await;
    spool.drop_jobs(40);
    wait_until("every job is done", PATIENCE, || {
        spool.events(EventKind::Done).len() == 40
    })
    .await;
    let summary = daemon.stop().await;
    assert_eq!(summary.completed, 40);
    assert!(spool.names("new").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_claims_journals_protocol_steps() {
    let spool = TempSpool::new();
    let id = spool.drop_job("traced\n");
    let mut config = spool.config();
    config.trace_claims = true;
    config.workers = 1;
    drain(config).await;
    let steps: Vec<_> = spool
        .events(EventKind::Step)
        .into_iter()
        .filter(|r| r.job() == Some(id))
        .map(|r| match r.event {
            Event::Step(step) => (step.step, step.result),
            other => panic!("not a step: {other:?}"),
        })
        .collect();
    for step in [
        Step::BeforeOpen,
        Step::AfterOpen,
        Step::AfterLock,
        Step::AfterVerify,
        Step::AfterComplete,
        Step::AfterClose,
    ] {
        assert!(steps.contains(&(step, Ok(()))), "{step} ok in {steps:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_strategy_runs_and_is_journaled_as_such() {
    let spool = TempSpool::new();
    spool.drop_jobs(5);
    let mut config = spool.config();
    config.strategy = Strategy::Naive;
    config.race_window = Some(Duration::from_millis(1));
    let summary = drain(config).await;
    assert_eq!(summary.completed, 5);
    assert!(
        spool
            .events(EventKind::Claimed)
            .iter()
            .all(|r| r.event.strategy() == Some(Strategy::Naive))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_spool_and_missing_command_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = spoolq_daemon::Config::new(dir.path().join("nope"));
    let err = spoolq_daemon::run(config, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such directory"), "{err}");

    let spool = TempSpool::new();
    let mut config = spool.config();
    config.command = Some(vec![OsString::from("/no/such/handler")]);
    let err = spoolq_daemon::run(config, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(err, spoolq_daemon::DaemonError::CommandNotFound(_)),
        "{err}"
    );
}
