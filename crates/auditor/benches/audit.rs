//! Audits ~1,000,000 journal events: 1 producer and 4 daemon journals in a temp folder,
//! 332,000 jobs of produced + claimed + done, every hundredth job retried once and
//! redelivered to another daemon.
//!
//! The lines are version 1 lines as the producer and daemon write them (see
//! crates/spool/tests/fixtures/journal-v1.jsonl), spelled out here rather than built
//! from the record types, so that the input stays the same across changes to those
//! types and figures of different commits compare. Two inputs:
//!
//! - `audit_1m_events`: the keys every journal has, one host, one wall-clock stamp (the
//!   input of every earlier measurement);
//! - `audit_1m_events_two_hosts`: lines as the daemon writes them now, with the boot id
//!   on every record, the claimed file's identity and the outcome time read under the
//!   lock, distinct wall-clock stamps, and the daemons on two hosts, so that half the
//!   redeliveries cross clock domains and are ordered by the claim sequence.
//!
//! Run: `cargo bench -p spoolq-auditor --bench audit`; the figures are in
//! docs/performance.md ("## Auditor").

use std::io::{BufWriter, Write};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use spoolq_auditor::{AuditInput, audit};

const JOBS: u64 = 332_000;
const DAEMONS: u32 = 4;

type Out = BufWriter<std::fs::File>;

/// Which lines the journals hold.
#[derive(Clone, Copy, PartialEq)]
enum Lines {
    /// The keys of every journal: one host, no boot, a constant wall stamp.
    Plain,
    /// As written now: boot ids, file identity, outcome times, two hosts.
    WithEvidence,
}

/// A writer's host and boot, and how its lines are stamped.
struct Writer {
    out: Out,
    pid: u32,
    host: &'static str,
    boot: Option<&'static str>,
}

/// 2026-11-26T22:00:00Z, nanoseconds since the epoch.
const T0: u64 = 1_795_730_400_000_000_000;

/// Writes one line: the stamps, then `fields` (the event's keys, each with a leading
/// comma).
fn line(w: &mut Writer, event: &str, t: u64, fields: std::fmt::Arguments<'_>) {
    let Writer {
        out,
        pid,
        host,
        boot,
    } = w;
    match boot {
        None => writeln!(
            out,
            r#"{{"v":1,"event":"{event}","mono_ns":{t},"wall":"2026-11-26T22:00:00.000000Z","host":"{host}","pid":{pid}{fields}}}"#
        ),
        Some(boot) => {
            let wall = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(T0 + t);
            let wall = humantime::format_rfc3339_micros(wall);
            writeln!(
                out,
                r#"{{"v":1,"event":"{event}","mono_ns":{t},"wall":"{wall}","host":"{host}","pid":{pid},"boot":"{boot}"{fields}}}"#
            )
        }
    }
    .unwrap();
}

fn write_journals(dir: &Path, lines: Lines) -> u64 {
    let open = |role: &str, host: &'static str, boot: Option<&'static str>, pid: u32| {
        let path = dir.join(format!("{role}-{host}-{pid}-0-0000.jsonl"));
        Writer {
            out: BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap()),
            pid,
            host,
            boot,
        }
    };
    let evidence = lines == Lines::WithEvidence;
    let (boot_a, boot_b) = if evidence {
        (
            Some("8f3c1a2b-0d4e-4f60-9a7b-1c2d3e4f5a6b"),
            Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
        )
    } else {
        (None, None)
    };
    let mut producer = open("producer", "benchhost", boot_a, 1000);
    let mut daemons: Vec<Writer> = (0..DAEMONS)
        .map(|d| {
            if evidence && d >= DAEMONS / 2 {
                open("daemon", "benchhost2", boot_b, 2000 + d)
            } else {
                open("daemon", "benchhost", boot_a, 2000 + d)
            }
        })
        .collect();
    let mut events = 0u64;
    for n in 0..JOBS {
        let job = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n))
            .hyphenated()
            .to_string();
        let t = n * 10_000;
        line(
            &mut producer,
            "produced",
            t,
            format_args!(r#","job":"{job}""#),
        );
        let d = (n % u64::from(DAEMONS)) as usize;
        let worker = n % 8;
        let file = if evidence {
            format!(r#","ino":{},"btime_ns":{}"#, 1_000_000 + n, T0 + t)
        } else {
            String::new()
        };
        let outcome = |at: u64| {
            if evidence {
                format!(r#","outcome_ns":{}"#, at - 100)
            } else {
                String::new()
            }
        };
        let claimed = |w: &mut Writer, t, worker, attempt| {
            line(
                w,
                "claimed",
                t,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":{attempt},"name":"{job}"{file}"#
                ),
            );
        };
        let done = |w: &mut Writer, t, worker, attempt| {
            line(
                w,
                "done",
                t,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":{attempt},"name":"{job}","result":"ok","exit":0{}"#,
                    outcome(t)
                ),
            );
        };
        claimed(&mut daemons[d], t + 2_000, worker, 1);
        events += 2;
        if n % 100 == 0 {
            // A failed first attempt, redelivered to the next daemon.
            line(
                &mut daemons[d],
                "retry",
                t + 3_000,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":1,"name":"{job}.1.1796161361587","result":"retry","exit":75,"detail":"exit 75; retry due at 2026-11-26T22:00:00.001Z"{}"#,
                    outcome(t + 3_000)
                ),
            );
            let d2 = (d + 1) % DAEMONS as usize;
            claimed(&mut daemons[d2], t + 4_000, 0, 2);
            done(&mut daemons[d2], t + 5_000, 0, 2);
            events += 3;
        } else {
            done(&mut daemons[d], t + 5_000, worker, 1);
            events += 1;
        }
    }
    producer.out.flush().unwrap();
    for d in &mut daemons {
        d.out.flush().unwrap();
    }
    events
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("auditor");
    group.sample_size(10);
    for (lines, name) in [
        (Lines::Plain, "audit_1m_events"),
        (Lines::WithEvidence, "audit_1m_events_two_hosts"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let events = write_journals(dir.path(), lines);
        let input = AuditInput {
            spool: None,
            journals: vec![dir.path().to_owned()],
            ..AuditInput::default()
        };
        let report = audit(&input).unwrap();
        assert_eq!(report.events, events);
        assert!(report.problems.is_empty());
        assert_eq!(report.duplicate_counts.redelivery, JOBS.div_ceil(100));
        let domains = if lines == Lines::Plain { 1 } else { 2 };
        assert_eq!(report.clock_domains.len(), domains);
        eprintln!("{name}: auditing {events} events, {} jobs", report.jobs);
        group.bench_function(name, |b| b.iter(|| audit(&input).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
