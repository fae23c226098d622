//! Text renderings of a [`Report`] and a [`Timeline`], for people. They return strings so
//! that both the binary and the lab can print them.

use std::fmt::Write;

use spoolq_spool::journal::{Event, Role};

use crate::{ClaimInterval, DuplicateClass, Latency, Report, Timeline, short_name};

/// How many records from newer writers the human report lists in full.
const UNKNOWN_LIST_LIMIT: usize = 5;

/// How many duplicates of each class, and lost ids, the human report lists in full.
const LIST_LIMIT: usize = 20;

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn opt(value: Option<u64>, unknown: &str) -> String {
    value.map_or_else(|| unknown.to_owned(), |v| v.to_string())
}

fn latency_row(out: &mut String, name: &str, latency: Option<Latency>) {
    match latency {
        Some(l) => {
            let _ = writeln!(
                out,
                "  {name:<20} {:>12} {:>12} {:>12} {:>12} {:>9}",
                ms(l.p50_ns),
                ms(l.p90_ns),
                ms(l.p99_ns),
                ms(l.max_ns),
                l.samples
            );
        }
        None => {
            let _ = writeln!(out, "  {name:<20} {:>12}", "no samples");
        }
    }
}

fn claim_line(out: &mut String, claim: &ClaimInterval, origin: u64, mark: Option<&str>) {
    let end = match (claim.end_mono_ns, claim.outcome) {
        (Some(end), Some(outcome)) => format!(
            "+{} {} ({})",
            ms(end.saturating_sub(origin)),
            outcome.kind(),
            outcome.result_word()
        ),
        _ => "no outcome (process died or still running)".to_owned(),
    };
    let _ = writeln!(
        out,
        "      {:<24} {:<4} {:<9} +{} .. {end}{}",
        claim.process,
        format!("w{}", claim.worker),
        claim.strategy.as_str(),
        ms(claim.start_mono_ns.saturating_sub(origin)),
        mark.map(|m| format!("   <- {m}")).unwrap_or_default(),
    );
}

/// The report as a human table.
pub fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "spoolq audit: {} journal file(s), {} job event(s), {} job(s)",
        report.journal_files.len(),
        report.events,
        report.jobs
    );
    let c = &report.counts;
    let _ = writeln!(out, "\ncounts");
    for (name, value) in [
        ("produced", c.produced),
        ("claimed", c.claimed),
        ("completed", c.completed),
        ("retried", c.retried),
        ("dead", c.dead),
        ("quarantined", c.quarantined),
        ("released", c.released),
    ] {
        let _ = writeln!(out, "  {name:<20} {value:>10}");
    }
    let unknown = "unknown (no spool given)";
    let _ = writeln!(out, "  {:<20} {:>10}", "pending", opt(c.pending, unknown));
    let _ = writeln!(out, "  {:<20} {:>10}", "lost", opt(c.lost, unknown));
    if c.unconfirmed.unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  (gone from the spool; the claiming process died before journaling the outcome)",
            "unconfirmed",
            opt(c.unconfirmed, unknown)
        );
    }
    if report.unfinished_claims > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}",
            "claims w/o outcome", report.unfinished_claims
        );
    }

    let d = &report.duplicate_counts;
    let _ = writeln!(out, "\nduplicates (jobs)");
    for class in DuplicateClass::ALL {
        let verdict = if class.is_violation() {
            "violation"
        } else {
            "expected: at-least-once"
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>10}   {verdict}",
            class.label(),
            d.get(class)
        );
    }
    for class in DuplicateClass::ALL {
        let of_class: Vec<_> = report
            .duplicates
            .iter()
            .filter(|dup| dup.class == class)
            .collect();
        for dup in of_class.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "\n  {} job {}", class.label(), dup.job);
            let origin = dup.claims.first().map_or(0, |c| c.start_mono_ns);
            for (i, claim) in dup.claims.iter().enumerate() {
                let mark = dup.flagged.contains(&i).then(|| class.label());
                claim_line(&mut out, claim, origin, mark);
            }
        }
        if of_class.len() > LIST_LIMIT {
            let _ = writeln!(
                out,
                "\n  ... and {} more {} duplicate(s) (see --json)",
                of_class.len() - LIST_LIMIT,
                class.label()
            );
        }
    }

    let _ = writeln!(
        out,
        "\nlatency                        p50          p90          p99          max   samples"
    );
    latency_row(
        &mut out,
        "produced -> claimed",
        report.latency.produced_to_claimed,
    );
    latency_row(
        &mut out,
        "claimed -> outcome",
        report.latency.claimed_to_outcome,
    );

    let _ = writeln!(
        out,
        "\nprocesses\n  {:<28} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>10}",
        "process",
        "role",
        "events",
        "produced",
        "claimed",
        "done",
        "retried",
        "dead",
        "quar.",
        "released",
        "no outcome"
    );
    for p in &report.processes {
        let _ = writeln!(
            out,
            "  {:<28} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>10}",
            p.process,
            p.role.map_or("-", Role::as_str),
            p.events,
            p.produced,
            p.claimed,
            p.completed,
            p.retried,
            p.dead,
            p.quarantined,
            p.released,
            p.unfinished
        );
    }

    if !report.lost_jobs.is_empty() {
        let _ = writeln!(
            out,
            "\nlost jobs (produced, never completed, not in the spool)"
        );
        for id in report.lost_jobs.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "  {id}");
        }
        if report.lost_jobs.len() > LIST_LIMIT {
            let _ = writeln!(
                out,
                "  ... and {} more (see --json)",
                report.lost_jobs.len() - LIST_LIMIT
            );
        }
    }

    if report.problems.is_empty() {
        let _ = writeln!(out, "\njournal problems: none");
    } else {
        let _ = writeln!(out, "\njournal problems ({})", report.problems.len());
        for problem in &report.problems {
            let _ = writeln!(out, "  {problem}");
        }
    }
    unknown_records(&mut out, &report.unknown_records);
    out
}

/// Records from newer writers: how many of each event, and the first few in full.
fn unknown_records(out: &mut String, unknown: &[spoolq_spool::UnknownEntry]) {
    if unknown.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nrecords from a newer writer, kept unread ({}): this spoolq does not understand them; \
         audit with the spoolq that wrote them",
        unknown.len()
    );
    let mut by_event: std::collections::BTreeMap<(u32, &str), u64> = Default::default();
    for entry in unknown {
        *by_event
            .entry((entry.record.v, entry.record.event.as_str()))
            .or_default() += 1;
    }
    for ((v, event), n) in by_event {
        let _ = writeln!(out, "  {n:>10}  v{v} {event:?}");
    }
    for entry in unknown.iter().take(UNKNOWN_LIST_LIMIT) {
        let _ = writeln!(out, "  {entry}");
    }
    if unknown.len() > UNKNOWN_LIST_LIMIT {
        let _ = writeln!(
            out,
            "  ... and {} more (see --json)",
            unknown.len() - UNKNOWN_LIST_LIMIT
        );
    }
}

/// The timeline as text: one line per event, in monotonic order, with the time relative
/// to the first event, the wall clock, process, worker, event or step, result and errno;
/// then the duplicates it shows.
pub fn render_timeline(timeline: &Timeline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "job {}: {} event(s) from {} process(es)",
        timeline.job,
        timeline.events.len(),
        timeline.processes.len()
    );
    if timeline.events.is_empty() {
        let _ = writeln!(out, "no journal record names this job");
    } else {
        let _ = writeln!(
            out,
            "{:>12}  {:<27}  {:<24}  {:<6}  {:<22}  {:<10}  {:<8}  detail",
            "time (ms)", "wall clock", "process", "worker", "event", "result", "errno"
        );
    }
    let origin = timeline.events.first().map_or(0, |e| e.record.mono_ns);
    for e in &timeline.events {
        let r = &e.record;
        let event = match &r.event {
            Event::Step(step) => format!("step {}", step.step),
            other => other.kind().to_string(),
        };
        let mut detail = Vec::new();
        if let Some(s) = r.event.strategy() {
            detail.push(format!("strategy={s}"));
        }
        if let Some(a) = r.event.attempt() {
            detail.push(format!("attempt={a}"));
        }
        let (exit, signal) = r.event.exit_and_signal();
        if let Some(x) = exit {
            detail.push(format!("exit={x}"));
        }
        if let Some(x) = signal {
            detail.push(format!("signal={x}"));
        }
        if let Some(d) = r.event.detail() {
            detail.push(d.to_owned());
        }
        let _ = writeln!(
            out,
            "{:>12}  {:<27}  {:<24}  {:<6}  {:<22}  {:<10}  {:<8}  {}",
            format!("+{:.3}", r.mono_ns.saturating_sub(origin) as f64 / 1e6),
            r.wall,
            r.process(),
            r.event
                .worker()
                .map_or_else(|| "-".to_owned(), |w| format!("w{w}")),
            event,
            r.event.result_word().unwrap_or("-"),
            r.event.errno().map_or("-", |errno| errno.as_str()),
            detail.join(" ")
        );
    }
    for dup in &timeline.duplicates {
        for &j in &dup.flagged {
            let claim = &timeline.claims[j];
            let _ = writeln!(
                out,
                "{}: the claim by {} w{} at +{:.3} ms{}",
                dup.class.label().to_uppercase(),
                claim.process,
                claim.worker,
                claim.start_mono_ns.saturating_sub(origin) as f64 / 1e6,
                match dup.class {
                    DuplicateClass::Concurrent =>
                        " overlapped another claim of the job (mutual exclusion broken)",
                    DuplicateClass::AfterCompletion =>
                        " began after another claim had completed the job",
                    DuplicateClass::Redelivery =>
                        " came after an earlier attempt failed or died (expected)",
                }
            );
        }
    }
    for problem in &timeline.problems {
        let _ = writeln!(
            out,
            "journal problem: {}:{}: {problem}",
            short_name(&problem.file),
            problem.line
        );
    }
    unknown_records(&mut out, &timeline.unknown_records);
    out
}
