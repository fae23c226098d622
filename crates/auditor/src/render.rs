//! Text renderings of a [`Report`] and a [`Timeline`], for people. They return strings so
//! that both the binary and the lab can print them.

use std::fmt::Write;

use spoolq_spool::journal::{Event, Role};

use crate::{ClaimInterval, DuplicateClass, Latency, OrderingBasis, Report, Timeline, short_name};

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

/// Nanoseconds between two points of the display axis (never negative).
fn since(t: i64, origin: i64) -> u64 {
    u64::try_from(t.saturating_sub(origin)).unwrap_or(0)
}

/// The process as a claim line names it: with the start of its boot id when the
/// journals come from several boots or hosts, which `host:pid` alone may not tell apart.
fn process_label(claim: &ClaimInterval, several_domains: bool) -> String {
    match (&claim.boot, several_domains) {
        (Some(boot), true) => format!("{}@{}", claim.process, &boot[..boot.len().min(8)]),
        _ => claim.process.clone(),
    }
}

fn claim_line(
    out: &mut String,
    claim: &ClaimInterval,
    origin: i64,
    several_domains: bool,
    mark: Option<String>,
) {
    let end = match (claim.axis_end_ns, claim.outcome) {
        (Some(end), Some(outcome)) => format!(
            "+{} {} ({})",
            ms(since(end, origin)),
            outcome.kind(),
            outcome.result_word()
        ),
        _ => "no outcome (process died or still running)".to_owned(),
    };
    let file = claim
        .ino
        .map(|ino| format!(" ino {ino}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "      {:<24} {:<4} {:<9} a{:<2} +{} .. {end}{file}{}",
        process_label(claim, several_domains),
        format!("w{}", claim.worker),
        claim.strategy.as_str(),
        claim.attempt,
        ms(since(claim.axis_start_ns, origin)),
        mark.map(|m| format!("   <- {m}")).unwrap_or_default(),
    );
}

/// What a verdict's ordering rests on, as the claim lines mark it.
fn by(basis: OrderingBasis) -> String {
    match basis {
        OrderingBasis::None => "no evidence orders it".to_owned(),
        basis => format!("by {}", basis.label()),
    }
}

/// The report as a human table.
pub fn render_report(report: &Report) -> String {
    let mut out = String::new();
    let copies = match report.journal_copies.len() {
        0 => String::new(),
        n => format!(" ({n} more were copies of these, read once)"),
    };
    let _ = writeln!(
        out,
        "spoolq audit: {} journal file(s){copies}, {} job event(s), {} job(s)",
        report.journal_files.len(),
        report.events,
        report.jobs
    );
    let window = &report.journal_window;
    if let (Some(first), Some(last)) = (&window.first, &window.last) {
        let _ = writeln!(out, "  journals cover {first} to {last}");
    }
    if let (Some(pruned), Some(judged)) = (&window.pruned_before, &window.judged_after) {
        let _ = writeln!(
            out,
            "  journals up to {pruned} were removed by retention: lost jobs are judged only \
             among jobs produced after {judged} (the skew bound later)"
        );
    }
    let several_domains = report.clock_domains.len() > 1;
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
        ("copied", c.copied),
        ("sent back", c.sent_back),
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
    if c.before_horizon.unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  (gone from the spool, produced before the pruning horizon: \
             their outcome may be in a removed journal; not judged)",
            "before horizon",
            opt(c.before_horizon, unknown)
        );
    }
    if report.unfinished_claims > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}",
            "claims w/o outcome", report.unfinished_claims
        );
    }
    if c.left_alone > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  (the job's name named another file, or none, when its outcome was due: left alone)",
            "names left alone", c.left_alone
        );
    }
    if c.stuck > 0 {
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  (a daemon could not act on them --max-attempts times and gave them up: a person must act)",
            "stuck", c.stuck
        );
    }

    let d = &report.duplicate_counts;
    let _ = writeln!(out, "\nduplicates (jobs)");
    for class in DuplicateClass::ALL {
        let verdict = match class {
            DuplicateClass::Concurrent | DuplicateClass::AfterCompletion => "violation",
            DuplicateClass::Unordered => {
                "no evidence orders the claims (other boots or hosts): not shown either way"
            }
            DuplicateClass::Redelivery => "expected: at-least-once",
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
            let origin = dup.claims.first().map_or(0, |c| c.axis_start_ns);
            for (i, claim) in dup.claims.iter().enumerate() {
                let mark = dup.flagged.iter().position(|&f| f == i).map(|at| {
                    format!(
                        "{} (against claim {}, {})",
                        class.label(),
                        dup.against[at] + 1,
                        by(dup.orderings[at])
                    )
                });
                claim_line(&mut out, claim, origin, several_domains, mark);
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

    if !report.copies.is_empty() {
        let _ = writeln!(
            out,
            "\ncopies (one id in two or more files, each claimed: each ran; judged file by file, \
             not a protocol violation)"
        );
        for copy in report.copies.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "\n  job {} in {} files", copy.job, copy.files);
            let origin = copy.claims.first().map_or(0, |c| c.axis_start_ns);
            for claim in &copy.claims {
                claim_line(&mut out, claim, origin, several_domains, None);
            }
        }
        if report.copies.len() > LIST_LIMIT {
            let _ = writeln!(
                out,
                "\n  ... and {} more (see --json)",
                report.copies.len() - LIST_LIMIT
            );
        }
    }

    ordering(&mut out, report);

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
            match (&p.boot, several_domains && p.processes == 1) {
                (Some(boot), true) => format!("{}@{}", p.process, &boot[..boot.len().min(8)]),
                _ => p.process.clone(),
            },
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

    if !report.journal_copies.is_empty() {
        let _ = writeln!(
            out,
            "\njournal files read once ({} copies of the same writer's journal left out)",
            report.journal_copies.len()
        );
        for copy in report.journal_copies.iter().take(LIST_LIMIT) {
            let _ = writeln!(
                out,
                "  {}: a copy of {}",
                copy.file.display(),
                copy.same_as.display()
            );
        }
        if report.journal_copies.len() > LIST_LIMIT {
            let _ = writeln!(
                out,
                "  ... and {} more (see --json)",
                report.journal_copies.len() - LIST_LIMIT
            );
        }
    }

    if report.problem_count == 0 {
        let _ = writeln!(out, "\njournal problems: none");
    } else {
        let _ = writeln!(out, "\njournal problems ({})", report.problem_count);
        for problem in report.problems.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "  {problem}");
        }
        let listed = report.problems.len().min(LIST_LIMIT) as u64;
        if report.problem_count > listed {
            let _ = writeln!(
                out,
                "  ... and {} more (the first {} are in --json)",
                report.problem_count - listed,
                report.problems.len()
            );
        }
    }
    unknown_records(
        &mut out,
        &report.unknown_records,
        report.unknown_record_count,
    );
    out
}

/// Which clocks the verdicts rest on: one domain, or several and what ordered them.
fn ordering(out: &mut String, report: &Report) {
    match &report.clock_domains[..] {
        [] => {}
        [one] => {
            let _ = writeln!(
                out,
                "\nordering: one clock domain ({}): every verdict by its monotonic clock",
                domain_name(&one.host, one.boot.as_deref())
            );
        }
        several => {
            let _ = writeln!(
                out,
                "\nordering: {} clock domains; the monotonic clock orders events within \
                 one, and between them the claim sequence, unlink results, boot order or \
                 wall clocks assumed within {} of each other (--max-clock-skew); claims \
                 none of these orders are unordered",
                several.len(),
                ms(report.max_clock_skew_ns)
            );
            for d in several {
                let _ = writeln!(
                    out,
                    "  {:<48} {:>4} process(es)  {} .. {}",
                    domain_name(&d.host, d.boot.as_deref()),
                    d.processes,
                    d.first_wall.as_deref().unwrap_or("?"),
                    d.last_wall.as_deref().unwrap_or("?"),
                );
            }
            let mut tally: std::collections::BTreeMap<OrderingBasis, u64> = Default::default();
            for dup in &report.duplicates {
                for &basis in &dup.orderings {
                    *tally.entry(basis).or_default() += 1;
                }
            }
            if !tally.is_empty() {
                let by: Vec<String> = tally
                    .iter()
                    .map(|(basis, n)| format!("{n} by {}", basis.label()))
                    .collect();
                let _ = writeln!(out, "  verdicts on repeated claims: {}", by.join(", "));
            }
        }
    }
}

fn domain_name(host: &str, boot: Option<&str>) -> String {
    match boot {
        Some(boot) => format!("host {host}, boot {boot}"),
        None => format!("host {host}, boot not journaled"),
    }
}

/// Records from newer writers: how many of each event (among those kept), and the first
/// few in full.
fn unknown_records(out: &mut String, unknown: &[spoolq_spool::UnknownEntry], count: u64) {
    if count == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "\nrecords from a newer writer, kept unread ({count}): this spoolq does not understand \
         them; audit with the spoolq that wrote them"
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
    let listed = unknown.len().min(UNKNOWN_LIST_LIMIT) as u64;
    if count > listed {
        let _ = writeln!(out, "  ... and {} more (see --json)", count - listed);
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
    if timeline.clock_domains > 1 {
        let _ = writeln!(
            out,
            "events from {} clock domains (boots or hosts): in monotonic order within each, \
             placed by wall clock between them (the verdicts below say what ordered them)",
            timeline.clock_domains
        );
    }
    if timeline.events.is_empty() {
        let _ = writeln!(out, "no journal record names this job");
    } else {
        let _ = writeln!(
            out,
            "{:>12}  {:<27}  {:<24}  {:<6}  {:<22}  {:<10}  {:<8}  detail",
            "time (ms)", "wall clock", "process", "worker", "event", "result", "errno"
        );
    }
    let origin = timeline.events.first().map_or(0, |e| e.axis_ns);
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
            format!("+{:.3}", since(e.axis_ns, origin) as f64 / 1e6),
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
        for (at, &j) in dup.flagged.iter().enumerate() {
            let claim = &timeline.claims[j];
            let _ = writeln!(
                out,
                "{}: the claim by {} w{} at +{:.3} ms{} ({})",
                dup.class.label().to_uppercase(),
                claim.process,
                claim.worker,
                since(claim.axis_start_ns, origin) as f64 / 1e6,
                match dup.class {
                    DuplicateClass::Concurrent =>
                        " overlapped another claim of the job (mutual exclusion broken)",
                    DuplicateClass::AfterCompletion =>
                        " began after another claim had completed the job",
                    DuplicateClass::Unordered =>
                        " is of another boot or host than an earlier claim, and no evidence \
                         orders the two",
                    DuplicateClass::Redelivery =>
                        " came after an earlier attempt failed or died (expected)",
                },
                by(dup.orderings[at])
            );
        }
    }
    if let Some(copy) = &timeline.copy {
        let _ = writeln!(
            out,
            "COPY: the job's id was claimed in {} files (their inodes differ): each ran; \
             not a protocol violation",
            copy.files
        );
    }
    for problem in &timeline.problems {
        let _ = writeln!(
            out,
            "journal problem: {}:{}: {problem}",
            short_name(&problem.file),
            problem.line
        );
    }
    unknown_records(
        &mut out,
        &timeline.unknown_records,
        timeline.unknown_records.len() as u64,
    );
    out
}
