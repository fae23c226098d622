//! The journal's records: the stamps every record carries (who wrote it, and when) and
//! one type per event, carrying exactly the fields that event records.
//!
//! How a field sits on a line is [`super::wire`]'s business. Each event lists its fields
//! for it once, in the `on_wire!` line below its definition, and the compiler refuses a
//! list that misses a field. Adding a field to an event is the field in its struct and
//! its name in that list; a key no event had before is also added to `fields::Wire`. A
//! field that journals already written lack is an `Option`, so that they still read.

use spoolq_claim::{Step, Strategy};

use super::fields::{Decode, OnWire, Text, Wire, on_wire, put, take};
use crate::codes::{
    DeadCause, DoneResult, Errno, QuarantineCause, ReleaseCause, RequeueCause, Word, words,
};
use crate::job::JobId;

/// One journal line: what happened, stamped by the writer with who wrote it and when.
/// A stamp every record carries is a field here, a key in `fields::Wire`, and a line each
/// in `Record::to_wire` and `wire::decode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// CLOCK_MONOTONIC, nanoseconds: orders events across the processes of one boot of
    /// one host (the clock restarts at boot, and hosts do not share it).
    pub mono_ns: u64,
    /// Wall-clock time, RFC 3339 UTC.
    pub wall: String,
    /// The writer's host name.
    pub host: String,
    /// The writer's process id.
    pub pid: u32,
    /// The writer's boot id ([`spoolq_os::boot_id`]): which boot's monotonic clock
    /// `mono_ns` was read from. `None` in journals written before it was recorded (they
    /// are read as one boot per host), or where the system has none.
    pub boot: Option<String>,
    /// What happened.
    pub event: Event,
}

impl Record {
    /// A record of `event`; the writer stamps it with the process and the times.
    pub fn new(event: impl Into<Event>) -> Record {
        Record {
            mono_ns: 0,
            wall: String::new(),
            host: String::new(),
            pid: 0,
            boot: None,
            event: event.into(),
        }
    }

    /// Its event's kind.
    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }

    /// The job the record is about, if any.
    pub fn job(&self) -> Option<JobId> {
        self.event.job()
    }

    /// The process this record came from, as `host:pid`.
    pub fn process(&self) -> String {
        format!("{}:{}", self.host, self.pid)
    }

    /// The wall-clock stamp as nanoseconds since the Unix epoch; `None` when it is not an
    /// RFC 3339 time.
    pub fn wall_ns(&self) -> Option<i64> {
        super::parse_wall(&self.wall)
    }
}

/// Defines [`EventKind`] and [`Event`] from one table of the events, with the dispatch
/// between an event and its fields' type.
macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident($fields:ident) = $word:literal, )+) => {
        words! {
            /// What kind of thing happened: the `event` word of a journal line.
            pub enum EventKind {
                $( $(#[$doc])* $variant = $word, )+
            }
        }

        /// What happened, with exactly the fields that kind of event records.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$doc])* $variant($fields), )+
        }

        impl Event {
            /// Which kind of event this is.
            pub fn kind(&self) -> EventKind {
                match self {
                    $( Event::$variant(_) => EventKind::$variant, )+
                }
            }

            pub(super) fn put<'a>(&'a self, line: &mut Wire<'a>) {
                match self {
                    $( Event::$variant(fields) => fields.put(line), )+
                }
            }

            pub(super) fn take(kind: EventKind, line: &mut Wire<'_>) -> Result<Event, Decode> {
                Ok(match kind {
                    $( EventKind::$variant => Event::$variant(<$fields as OnWire>::take(line)?), )+
                })
            }
        }

        $(
            impl From<$fields> for Event {
                fn from(fields: $fields) -> Event {
                    Event::$variant(fields)
                }
            }
        )+
    };
}

events! {
    /// A process started writing this journal.
    Start(Start) = "start",
    /// A process stopped cleanly.
    Stop(Stop) = "stop",
    /// A producer published a job into new/.
    Produced(Produced) = "produced",
    /// A consumer claimed a job; the handler starts after this is written.
    Claimed(Claimed) = "claimed",
    /// The handler succeeded and the job was unlinked.
    Done(Done) = "done",
    /// The handler failed; the job was moved to retry/.
    Retry(Retry) = "retry",
    /// The job was moved to failed/ (attempts exhausted or permanent failure).
    Dead(Dead) = "dead",
    /// A file that is not a valid job was moved to failed/.
    Quarantined(Quarantined) = "quarantined",
    /// A claimed job was released unprocessed (shutdown, or a journal write or a move
    /// failed); its file stays where it was.
    Released(Released) = "released",
    /// A job's retry came due and it was moved back to new/.
    Requeued(Requeued) = "requeued",
    /// A daemon gave up on a job it could not complete, retry or bury: it claims it no
    /// more, and the job stays where it is until a person acts.
    Stuck(Stuck) = "stuck",
    /// A claim protocol step (with `--trace-claims`).
    Step(ClaimStep) = "step",
    /// Journal files were removed by retention.
    Pruned(Pruned) = "pruned",
    /// A daemon saw its spool paused (`spoolq pause`): it claims nothing until resumed.
    Paused(Paused) = "paused",
    /// A daemon saw its spool resumed (`spoolq resume`): it claims again.
    Resumed(Resumed) = "resumed",
}

/// A daemon started (its strategy, and its settings in `detail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// The claim strategy it runs with.
    pub strategy: Strategy,
    /// The effective settings, `workers=N drain=BOOL`.
    pub detail: String,
}
on_wire!(Start { strategy, detail });

/// A daemon stopped cleanly (its counts in `detail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The claim strategy it ran with.
    pub strategy: Strategy,
    /// What it did, `completed=N retried=N ...`.
    pub detail: String,
}
on_wire!(Stop { strategy, detail });

/// A producer published a job into new/.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    /// The job published.
    pub job: JobId,
}
on_wire!(Produced { job });

/// A consumer claimed a job (under its lock, verified by its strategy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The job claimed.
    pub job: JobId,
    /// The worker that claimed it (from 1).
    pub worker: u32,
    /// The strategy that verified the claim.
    pub strategy: Strategy,
    /// This attempt's number, 1 for the first run: one more than the count in the
    /// claimed name (`<id>.<count>`), which only a holder of the job's lock changes, so
    /// it is also the job's claim sequence (see docs/audit.md).
    pub attempt: u32,
    /// The job's name in new/ (printable).
    pub name: String,
    /// The claimed file's inode number, from the `fstat` under the lock. With
    /// `btime_ns` it tells one job file from another with the same id (a copy);
    /// `None` in older journals.
    pub ino: Option<u64>,
    /// The claimed file's birth time, nanoseconds since the Unix epoch, where the file
    /// system reports one: an inode number is reused once its file is freed.
    pub btime_ns: Option<u64>,
}
on_wire!(Claimed {
    job,
    worker,
    strategy,
    attempt,
    name,
    ino,
    btime_ns
});

/// `(ino, btime_ns)` of a [`Claimed`] record, from the claimed file's `fstat`.
pub fn file_identity(stat: &spoolq_os::FileStat) -> (Option<u64>, Option<u64>) {
    let birth = stat
        .birth
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_nanos()).ok());
    (Some(stat.ino), birth)
}

/// The handler succeeded; the job was unlinked under its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// The job completed.
    pub job: JobId,
    /// The worker that held its claim.
    pub worker: u32,
    /// The claim's strategy.
    pub strategy: Strategy,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// The job's name in new/ (printable).
    pub name: String,
    /// How the unlink went.
    pub result: DoneResult,
    /// The handler's exit status.
    pub exit: Option<i32>,
    /// The signal that ended the handler.
    pub signal: Option<i32>,
    /// The unlink's error, for [`DoneResult::Enoent`].
    pub detail: Option<String>,
    /// CLOCK_MONOTONIC read while the job's lock was still held, just before the unlink:
    /// the record itself is written after the lock is released, maybe much later on a
    /// slow file system. `None` in older journals.
    pub outcome_ns: Option<u64>,
}
on_wire!(Done {
    job,
    worker,
    strategy,
    attempt,
    name,
    result,
    exit,
    signal,
    detail,
    outcome_ns
});

/// The handler failed; the job was moved to retry/ under its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The job retried.
    pub job: JobId,
    /// The worker that held its claim.
    pub worker: u32,
    /// The claim's strategy.
    pub strategy: Strategy,
    /// The attempt that failed.
    pub attempt: u32,
    /// Its name in retry/ (`<id>.<attempts>.<due ms>`, printable).
    pub name: String,
    /// The handler's exit status, if it exited.
    pub exit: Option<i32>,
    /// The signal that ended the handler, if one did.
    pub signal: Option<i32>,
    /// How the attempt failed, and when the retry is due.
    pub detail: String,
    /// CLOCK_MONOTONIC read under the job's lock, just before the move (see
    /// [`Done::outcome_ns`]).
    pub outcome_ns: Option<u64>,
}

impl OnWire for Retry {
    fn put<'a>(&'a self, line: &mut Wire<'a>) {
        let Retry {
            job,
            worker,
            strategy,
            attempt,
            name,
            exit,
            signal,
            detail,
            outcome_ns,
        } = self;
        put!(line: job, worker, strategy, attempt, name, exit, signal, detail, outcome_ns);
        // Every retry's result is the one word: it says nothing the event does not.
        line.result = Some(Text::word(RetryResult::Retry.word()));
    }

    fn take(line: &mut Wire<'_>) -> Result<Retry, Decode> {
        let _: Option<RetryResult> = take!(line.result);
        Ok(take!(line => Retry {
            job, worker, strategy, attempt, name, exit, signal, detail, outcome_ns
        }))
    }
}

words! {
    /// The result word of every `retry` record (it says nothing the event does not; the
    /// typed [`Retry`] leaves it out).
    pub enum RetryResult {
        /// The only value.
        Retry = "retry",
    }
}

/// The job was moved to failed/ under its lock, with a reason file beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dead {
    /// The job moved to failed/.
    pub job: JobId,
    /// The worker that held its claim.
    pub worker: u32,
    /// The claim's strategy.
    pub strategy: Strategy,
    /// The last attempt.
    pub attempt: u32,
    /// Its name in failed/ (printable).
    pub name: String,
    /// Why it will not run again.
    pub result: DeadCause,
    /// The handler's exit status, if it exited.
    pub exit: Option<i32>,
    /// The signal that ended the handler, if one did.
    pub signal: Option<i32>,
    /// What happened, for a person (the reason file's message).
    pub detail: String,
    /// CLOCK_MONOTONIC read under the job's lock, just before the move (see
    /// [`Done::outcome_ns`]).
    pub outcome_ns: Option<u64>,
}
on_wire!(Dead {
    job,
    worker,
    strategy,
    attempt,
    name,
    result,
    exit,
    signal,
    detail,
    outcome_ns
});

/// A file that is not a valid job was moved to failed/, unprocessed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The job its name or header names, if any.
    pub job: Option<JobId>,
    /// The worker that found it (0 for the retry mover).
    pub worker: u32,
    /// The strategy of the claim that found it.
    pub strategy: Strategy,
    /// The name it had where it was found (printable).
    pub name: String,
    /// What is wrong with it.
    pub result: QuarantineCause,
    /// What was wrong, and where it is stored in failed/.
    pub detail: String,
}
on_wire!(Quarantined {
    job,
    worker,
    strategy,
    name,
    result,
    detail
});

/// A claimed job was released unprocessed: its lock dropped, its file where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// The job released.
    pub job: JobId,
    /// The worker that held its claim.
    pub worker: u32,
    /// The claim's strategy.
    pub strategy: Strategy,
    /// The attempt that did not finish.
    pub attempt: u32,
    /// The job's name in new/, when the handler had run.
    pub name: Option<String>,
    /// Why it was released.
    pub result: ReleaseCause,
    /// The handler's exit status, if it ran and exited.
    pub exit: Option<i32>,
    /// The signal that ended the handler, if one did.
    pub signal: Option<i32>,
    /// The error, or how the handler was stopped.
    pub detail: String,
    /// CLOCK_MONOTONIC read while the lock was still held, just before it was let go
    /// (see [`Done::outcome_ns`]).
    pub outcome_ns: Option<u64>,
}
on_wire!(Released {
    job,
    worker,
    strategy,
    attempt,
    name,
    result,
    exit,
    signal,
    detail,
    outcome_ns
});

/// A job's retry came due: it was moved from retry/ back to new/ under its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requeued {
    /// The job moved back.
    pub job: JobId,
    /// The retry mover is worker 0.
    pub worker: u32,
    /// The strategy of the mover's claim.
    pub strategy: Strategy,
    /// The attempt it comes back for.
    pub attempt: u32,
    /// Its name in new/ (printable).
    pub name: String,
    /// Why it came back: `None` in records of the retry mover, which wrote none (due);
    /// [`RequeueCause::FromFailed`] for a job sent back from failed/ by `spoolq requeue`.
    pub result: Option<RequeueCause>,
}
on_wire!(Requeued {
    job,
    worker,
    strategy,
    attempt,
    name,
    result
});

/// A daemon gave up on a job: acting on it failed `--max-attempts` times (its unlink,
/// its move to retry/ or failed/, or the rename that counts an attempt), so this daemon
/// claims it no more. The job stays where it is (in new/) until a person acts; a daemon
/// started later tries it again. Written once when the daemon gives up, and again while
/// it runs so that the end of its journal keeps saying so (`spoolq status` reads that
/// end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// The job given up on.
    pub job: JobId,
    /// The worker whose act failed last.
    pub worker: u32,
    /// The claim's strategy.
    pub strategy: Strategy,
    /// The job's attempt when the daemon gave up.
    pub attempt: u32,
    /// The job's name in new/ (printable), where it stays.
    pub name: String,
    /// What failed the last time (the `released` record's cause).
    pub result: ReleaseCause,
    /// The last error, and how many times acting on the job failed.
    pub detail: String,
}
on_wire!(Stuck {
    job,
    worker,
    strategy,
    attempt,
    name,
    result,
    detail
});

/// Retention removed journal files (`spoolq journal prune`, or a daemon at start and at
/// its rescans), written before the first is removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// Every record of every file removed was written at or before this wall-clock time
    /// (nanoseconds since the Unix epoch): the later of each file's modification time and
    /// its last record's stamp. The auditor judges lost jobs only after it.
    pub horizon_ns: u64,
    /// What was removed, `files=N bytes=N`.
    pub detail: String,
}
on_wire!(Pruned { horizon_ns, detail });

/// A daemon saw its spool's pause marker appear (or found it at start): from here it
/// claims nothing, and jobs it had in flight finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paused {
    /// The pause as its marker says: `since TIME by HOST:PID: REASON`.
    pub detail: String,
}
on_wire!(Paused { detail });

/// A daemon saw its spool's pause marker go: it claims again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// The pause that ended, as its marker said.
    pub detail: String,
}
on_wire!(Resumed { detail });

/// One step of the claim protocol, as the step hook saw it (`--trace-claims`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimStep {
    /// The job its name names, if it is a job name.
    pub job: Option<JobId>,
    /// The claimer (a worker, or 0 for the retry mover).
    pub worker: u32,
    /// The claimer's strategy.
    pub strategy: Strategy,
    /// The name being claimed (printable).
    pub name: String,
    /// Where in the protocol the claimer was.
    pub step: Step,
    /// What the system call just made returned.
    pub result: Result<(), Errno>,
}

impl OnWire for ClaimStep {
    fn put<'a>(&'a self, line: &mut Wire<'a>) {
        let ClaimStep {
            job,
            worker,
            strategy,
            name,
            step,
            result,
        } = self;
        put!(line: job, worker, strategy, name, step);
        let status = match result {
            Ok(()) => StepStatus::Ok,
            Err(_) => StepStatus::Err,
        };
        line.result = Some(Text::word(status.word()));
        line.errno = result.err().map(|errno| Text::word(errno.word()));
    }

    fn take(line: &mut Wire<'_>) -> Result<ClaimStep, Decode> {
        let status: StepStatus = take!(line.result);
        let errno: Option<Errno> = take!(line.errno);
        let result = match (status, errno) {
            (StepStatus::Ok, None) => Ok(()),
            (StepStatus::Err, Some(errno)) => Err(errno),
            (StepStatus::Ok, Some(_)) => {
                return Err(Decode::Invalid("a step that succeeded carries an errno"));
            }
            (StepStatus::Err, None) => {
                return Err(Decode::Invalid("a step that failed carries no errno"));
            }
        };
        Ok(ClaimStep {
            job: take!(line.job),
            worker: take!(line.worker),
            strategy: take!(line.strategy),
            name: take!(line.name),
            step: take!(line.step),
            result,
        })
    }
}

words! {
    /// A step record's result word; the errno says how it failed.
    enum StepStatus {
        Ok = "ok",
        Err = "err",
    }
}

impl Event {
    /// The job the event is about, if any.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Event::Start(_)
            | Event::Stop(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
            Event::Produced(e) => Some(e.job),
            Event::Claimed(e) => Some(e.job),
            Event::Done(e) => Some(e.job),
            Event::Retry(e) => Some(e.job),
            Event::Dead(e) => Some(e.job),
            Event::Quarantined(e) => e.job,
            Event::Released(e) => Some(e.job),
            Event::Requeued(e) => Some(e.job),
            Event::Stuck(e) => Some(e.job),
            Event::Step(e) => e.job,
        }
    }

    /// The worker (claimer) that recorded it, for a consumer's job events.
    pub fn worker(&self) -> Option<u32> {
        match self {
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
            Event::Claimed(e) => Some(e.worker),
            Event::Done(e) => Some(e.worker),
            Event::Retry(e) => Some(e.worker),
            Event::Dead(e) => Some(e.worker),
            Event::Quarantined(e) => Some(e.worker),
            Event::Released(e) => Some(e.worker),
            Event::Requeued(e) => Some(e.worker),
            Event::Stuck(e) => Some(e.worker),
            Event::Step(e) => Some(e.worker),
        }
    }

    /// The claim strategy of the consumer that recorded it.
    pub fn strategy(&self) -> Option<Strategy> {
        match self {
            Event::Produced(_) | Event::Pruned(_) | Event::Paused(_) | Event::Resumed(_) => None,
            Event::Start(e) => Some(e.strategy),
            Event::Stop(e) => Some(e.strategy),
            Event::Claimed(e) => Some(e.strategy),
            Event::Done(e) => Some(e.strategy),
            Event::Retry(e) => Some(e.strategy),
            Event::Dead(e) => Some(e.strategy),
            Event::Quarantined(e) => Some(e.strategy),
            Event::Released(e) => Some(e.strategy),
            Event::Requeued(e) => Some(e.strategy),
            Event::Stuck(e) => Some(e.strategy),
            Event::Step(e) => Some(e.strategy),
        }
    }

    /// The attempt the event belongs to (1 for the first run).
    pub fn attempt(&self) -> Option<u32> {
        match self {
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Quarantined(_)
            | Event::Step(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
            Event::Claimed(e) => Some(e.attempt),
            Event::Done(e) => Some(e.attempt),
            Event::Retry(e) => Some(e.attempt),
            Event::Dead(e) => Some(e.attempt),
            Event::Released(e) => Some(e.attempt),
            Event::Requeued(e) => Some(e.attempt),
            Event::Stuck(e) => Some(e.attempt),
        }
    }

    /// The file name involved (printable).
    pub fn name(&self) -> Option<&str> {
        match self {
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
            Event::Claimed(e) => Some(&e.name),
            Event::Done(e) => Some(&e.name),
            Event::Retry(e) => Some(&e.name),
            Event::Dead(e) => Some(&e.name),
            Event::Quarantined(e) => Some(&e.name),
            Event::Released(e) => e.name.as_deref(),
            Event::Requeued(e) => Some(&e.name),
            Event::Stuck(e) => Some(&e.name),
            Event::Step(e) => Some(&e.name),
        }
    }

    /// The handler's exit status and the signal that ended it, for outcomes.
    pub fn exit_and_signal(&self) -> (Option<i32>, Option<i32>) {
        match self {
            Event::Done(e) => (e.exit, e.signal),
            Event::Retry(e) => (e.exit, e.signal),
            Event::Dead(e) => (e.exit, e.signal),
            Event::Released(e) => (e.exit, e.signal),
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Claimed(_)
            | Event::Quarantined(_)
            | Event::Requeued(_)
            | Event::Stuck(_)
            | Event::Step(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => (None, None),
        }
    }

    /// Human-readable detail: settings, counts, a reason, an error.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Event::Start(e) => Some(&e.detail),
            Event::Stop(e) => Some(&e.detail),
            Event::Done(e) => e.detail.as_deref(),
            Event::Retry(e) => Some(&e.detail),
            Event::Dead(e) => Some(&e.detail),
            Event::Quarantined(e) => Some(&e.detail),
            Event::Released(e) => Some(&e.detail),
            Event::Stuck(e) => Some(&e.detail),
            Event::Pruned(e) => Some(&e.detail),
            Event::Paused(e) => Some(&e.detail),
            Event::Resumed(e) => Some(&e.detail),
            Event::Produced(_) | Event::Claimed(_) | Event::Requeued(_) | Event::Step(_) => None,
        }
    }

    /// The result as its word, for display: `ok`, `enoent`, a cause, `err` for a failed
    /// step (whose errno is [`Event::errno`]).
    pub fn result_word(&self) -> Option<&'static str> {
        match self {
            Event::Done(e) => Some(e.result.word()),
            Event::Retry(_) => Some(RetryResult::Retry.word()),
            Event::Dead(e) => Some(e.result.word()),
            Event::Quarantined(e) => Some(e.result.word()),
            Event::Released(e) => Some(e.result.word()),
            Event::Stuck(e) => Some(e.result.word()),
            Event::Step(e) => Some(match e.result {
                Ok(()) => StepStatus::Ok.word(),
                Err(_) => StepStatus::Err.word(),
            }),
            Event::Requeued(e) => e.result.map(|cause| cause.word()),
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Claimed(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
        }
    }

    /// For an outcome done under the job's lock, when it was done (CLOCK_MONOTONIC, read
    /// before the lock was let go); `None` for other events and in older journals.
    pub fn outcome_ns(&self) -> Option<u64> {
        match self {
            Event::Done(e) => e.outcome_ns,
            Event::Retry(e) => e.outcome_ns,
            Event::Dead(e) => e.outcome_ns,
            Event::Released(e) => e.outcome_ns,
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Claimed(_)
            | Event::Quarantined(_)
            | Event::Requeued(_)
            | Event::Stuck(_)
            | Event::Step(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
        }
    }

    /// The errno of a failed claim protocol step.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Event::Step(e) => e.result.err(),
            _ => None,
        }
    }
}
