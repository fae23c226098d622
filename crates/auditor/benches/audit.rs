//! Audits ~1,000,000 journal events: 1 producer and 4 daemon journals in a temp folder,
//! 332,000 jobs of produced + claimed + done plus a 1 % redelivery tail.
//!
//! Run: `cargo bench -p spoolq-auditor --bench audit`; the figure is in
//! docs/performance.md ("## Auditor").

use std::io::{BufWriter, Write};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use spoolq_auditor::{AuditInput, audit};
use spoolq_spool::journal::Event;
use spoolq_spool::{JobId, Record};

const JOBS: u64 = 332_000;
const DAEMONS: u32 = 4;

fn write_journals(dir: &Path) -> u64 {
    let open = |role: &str, pid: u32| {
        let path = dir.join(format!("{role}-benchhost-{pid}-0-0000.jsonl"));
        BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap())
    };
    let mut producer = open("producer", 1000);
    let mut daemons: Vec<_> = (0..DAEMONS).map(|d| open("daemon", 2000 + d)).collect();
    let mut events = 0u64;
    let mut line = |out: &mut BufWriter<std::fs::File>, pid: u32, t: u64, record: Record| {
        let mut record = record;
        record.mono_ns = t;
        record.pid = pid;
        record.host = "benchhost".to_owned();
        record.wall = "2026-11-26T22:00:00.000000Z".to_owned();
        serde_json::to_writer(&mut *out, &record).unwrap();
        out.write_all(b"\n").unwrap();
        events += 1;
    };
    for n in 0..JOBS {
        let job = JobId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n),
        ));
        let t = n * 10_000;
        line(
            &mut producer,
            1000,
            t,
            Record::new(Event::Produced).job(job),
        );
        let d = (n % u64::from(DAEMONS)) as u32;
        let pid = 2000 + d;
        let worker = (n % 8) as u32;
        let claimed = Record::new(Event::Claimed)
            .job(job)
            .worker(worker)
            .strategy("verified")
            .attempt(1);
        line(&mut daemons[d as usize], pid, t + 2_000, claimed);
        if n % 100 == 0 {
            // A failed first attempt, redelivered to the next daemon.
            let retry = Record::new(Event::Retry)
                .job(job)
                .worker(worker)
                .result("exit");
            line(&mut daemons[d as usize], pid, t + 3_000, retry);
            let d2 = ((d + 1) % DAEMONS) as usize;
            let claimed = Record::new(Event::Claimed)
                .job(job)
                .worker(0)
                .strategy("verified");
            line(&mut daemons[d2], 2000 + d2 as u32, t + 4_000, claimed);
            let done = Record::new(Event::Done).job(job).worker(0).result("ok");
            line(&mut daemons[d2], 2000 + d2 as u32, t + 5_000, done);
        } else {
            let done = Record::new(Event::Done)
                .job(job)
                .worker(worker)
                .result("ok");
            line(&mut daemons[d as usize], pid, t + 5_000, done);
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
    };
    let report = audit(&input).unwrap();
    assert_eq!(report.events, events);
    assert_eq!(report.duplicate_counts.redelivery, JOBS.div_ceil(100));
    eprintln!("auditing {events} events, {} jobs", report.jobs);
    let mut group = c.benchmark_group("auditor");
    group.sample_size(10);
    group.bench_function("audit_1m_events", |b| b.iter(|| audit(&input).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
