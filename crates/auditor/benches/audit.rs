//! Audits ~1,000,000 journal events: 1 producer and 4 daemon journals in a temp folder,
//! 332,000 jobs of produced + claimed + done plus a 1 % redelivery tail.
//!
//! The lines are version 1 lines as the producer and daemon write them (see
//! crates/spool/tests/fixtures/journal-v1.jsonl), spelled out here rather than built
//! from the record types, so that the input stays the same across changes to those
//! types and figures of different commits compare.
//!
//! Run: `cargo bench -p spoolq-auditor --bench audit`; the figure is in
//! docs/performance.md ("## Auditor").

use std::io::{BufWriter, Write};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use spoolq_auditor::{AuditInput, audit};

const JOBS: u64 = 332_000;
const DAEMONS: u32 = 4;

type Out = BufWriter<std::fs::File>;

/// Writes one line: the stamps, then `fields` (the event's keys, each with a leading
/// comma).
fn line(out: &mut Out, event: &str, t: u64, pid: u32, fields: std::fmt::Arguments<'_>) {
    writeln!(
        out,
        r#"{{"v":1,"event":"{event}","mono_ns":{t},"wall":"2026-11-26T22:00:00.000000Z","host":"benchhost","pid":{pid}{fields}}}"#
    )
    .unwrap();
}

fn write_journals(dir: &Path) -> u64 {
    let open = |role: &str, pid: u32| {
        let path = dir.join(format!("{role}-benchhost-{pid}-0-0000.jsonl"));
        BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap())
    };
    let mut producer = open("producer", 1000);
    let mut daemons: Vec<_> = (0..DAEMONS).map(|d| open("daemon", 2000 + d)).collect();
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
            1000,
            format_args!(r#","job":"{job}""#),
        );
        let d = (n % u64::from(DAEMONS)) as u32;
        let worker = n % 8;
        let claimed = |out: &mut Out, pid, t, worker, attempt| {
            line(
                out,
                "claimed",
                t,
                pid,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":{attempt},"name":"{job}""#
                ),
            );
        };
        let done = |out: &mut Out, pid, t, worker, attempt| {
            line(
                out,
                "done",
                t,
                pid,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":{attempt},"name":"{job}","result":"ok","exit":0"#
                ),
            );
        };
        claimed(&mut daemons[d as usize], 2000 + d, t + 2_000, worker, 1);
        events += 2;
        if n % 100 == 0 {
            // A failed first attempt, redelivered to the next daemon.
            line(
                &mut daemons[d as usize],
                "retry",
                t + 3_000,
                2000 + d,
                format_args!(
                    r#","job":"{job}","worker":{worker},"strategy":"verified","attempt":1,"name":"{job}.1.1796161361587","result":"retry","exit":75,"detail":"exit 75; retry due at 2026-11-26T22:00:00.001Z""#
                ),
            );
            let d2 = (d + 1) % DAEMONS;
            claimed(&mut daemons[d2 as usize], 2000 + d2, t + 4_000, 0, 2);
            done(&mut daemons[d2 as usize], 2000 + d2, t + 5_000, 0, 2);
            events += 3;
        } else {
            done(&mut daemons[d as usize], 2000 + d, t + 5_000, worker, 1);
            events += 1;
        }
    }
    producer.flush().unwrap();
    for d in &mut daemons {
        d.flush().unwrap();
    }
    events
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let events = write_journals(dir.path());
    let input = AuditInput {
        spool: None,
        journals: vec![dir.path().to_owned()],
        ..AuditInput::default()
    };
    let report = audit(&input).unwrap();
    assert_eq!(report.events, events);
    assert!(report.problems.is_empty());
    assert_eq!(report.duplicate_counts.redelivery, JOBS.div_ceil(100));
    eprintln!("auditing {events} events, {} jobs", report.jobs);
    let mut group = c.benchmark_group("auditor");
    group.sample_size(10);
    group.bench_function("audit_1m_events", |b| b.iter(|| audit(&input).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
