//! Text renderings of a [`Report`] and a [`Timeline`], for people. They return strings so
//! that both the binary and the lab can print them.

use std::fmt::Write;

use spoolq_spool::journal::Event;

use crate::{ClaimInterval, DuplicateClass, Latency, Report, Timeline, short_name};

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
        (Some(end), Some(outcome)) => {
            let result = claim
                .result
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!(
                "+{} {}{result}",
                ms(end.saturating_sub(origin)),
                outcome.as_str()
            )
        }
        _ => "no outcome (process died or still running)".to_owned(),
    };
    let _ = writeln!(
        out,
        "      {:<24} {:<4} {:<9} +{} .. {end}{}",
        claim.process,
        claim
            .worker
            .map_or_else(|| "-".to_owned(), |w| format!("w{w}")),
        claim.strategy.as_deref().unwrap_or("-"),
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
            p.role.as_deref().unwrap_or("-"),
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
    out
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
        let event = match (r.event, r.step.as_deref()) {
            (Event::Step, Some(step)) => format!("step {step}"),
            (event, _) => event.as_str().to_owned(),
        };
        let mut detail = Vec::new();
        if let Some(s) = &r.strategy {
            detail.push(format!("strategy={s}"));
        }
        if let Some(a) = r.attempt {
            detail.push(format!("attempt={a}"));
        }
        if let Some(x) = r.exit {
            detail.push(format!("exit={x}"));
        }
        if let Some(x) = r.signal {
            detail.push(format!("signal={x}"));
        }
        if let Some(d) = &r.detail {
            detail.push(d.clone());
        }
        let _ = writeln!(
            out,
            "{:>12}  {:<27}  {:<24}  {:<6}  {:<22}  {:<10}  {:<8}  {}",
            format!("+{:.3}", r.mono_ns.saturating_sub(origin) as f64 / 1e6),
            r.wall,
            r.process(),
            r.worker.map_or_else(|| "-".to_owned(), |w| format!("w{w}")),
            event,
            r.result.as_deref().unwrap_or("-"),
            r.errno.as_deref().unwrap_or("-"),
            detail.join(" ")
        );
    }
    for dup in &timeline.duplicates {
        for &j in &dup.flagged {
            let claim = &timeline.claims[j];
            let _ = writeln!(
                out,
                "{}: the claim by {} {} at +{:.3} ms{}",
                dup.class.label().to_uppercase(),
                claim.process,
                claim
                    .worker
                    .map_or_else(|| "-".to_owned(), |w| format!("w{w}")),
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
    out
}
