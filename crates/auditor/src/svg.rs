//! The timeline as an SVG picture: one swimlane per process, processing intervals as
//! bars, duplicates in red (or orange for redelivery) with their class written on them,
//! a time axis. Readable without a legend: everything that matters is labelled.

use std::fmt::Write;

use spoolq_claim::Step;
use spoolq_spool::EventKind;
use spoolq_spool::journal::Event;

use crate::{DuplicateClass, Timeline};

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 200.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 56.0;
const LANE: f64 = 70.0;
const AXIS: f64 = 50.0;

/// Escapes text for XML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn colour(flag: Option<DuplicateClass>) -> &'static str {
    match flag {
        Some(DuplicateClass::Concurrent | DuplicateClass::AfterCompletion) => "#d62728",
        Some(DuplicateClass::Unordered) => "#8c6bb1",
        Some(DuplicateClass::Redelivery) => "#ff9f1c",
        None => "#4a7bd0",
    }
}

/// Draws the timeline as SVG (a whole, well-formed document).
pub fn timeline_svg(timeline: &Timeline) -> String {
    let lanes = timeline.processes.len().max(1);
    let height = TOP + LANE * lanes as f64 + AXIS;
    // Zoom on the claims: a job usually waits long in new/ before anyone opens it, and
    // drawing that wait would squeeze the race into a few pixels. Earlier events (the
    // produce) are pinned to the left edge and labelled with how much earlier they were.
    let first = timeline.events.first().map_or(0, |e| e.axis_ns);
    let t0 = timeline
        .events
        .iter()
        .find(|e| e.record.kind() != EventKind::Produced)
        .map_or(first, |e| e.axis_ns);
    let t1 = timeline
        .events
        .last()
        .map_or(t0, |e| e.axis_ns)
        .max(t0.saturating_add(1));
    let span = t1.saturating_sub(t0) as f64;
    let after = |t: i64, origin: i64| u64::try_from(t.saturating_sub(origin)).unwrap_or(0);
    let x = |t: i64| LEFT + (after(t, t0) as f64 / span) * (WIDTH - LEFT - RIGHT);
    let lane_of = |process: &str| {
        timeline
            .processes
            .iter()
            .position(|p| p == process)
            .unwrap_or(0)
    };
    let lane_y = |lane: usize| TOP + LANE * lane as f64;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    let verdict: Vec<&str> = timeline
        .duplicates
        .iter()
        .map(|d| d.class.label())
        .collect();
    let title = if verdict.is_empty() {
        format!("job {}: processed once", timeline.job)
    } else {
        format!("job {}: duplicate ({})", timeline.job, verdict.join(", "))
    };
    let _ = writeln!(
        out,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );

    for (lane, process) in timeline.processes.iter().enumerate() {
        let y = lane_y(lane);
        let fill = if lane % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
        let _ = writeln!(
            out,
            r#"<g class="lane"><rect x="0" y="{y}" width="{WIDTH}" height="{LANE}" fill="{fill}"/><text x="10" y="{}" font-weight="bold">{}</text></g>"#,
            y + LANE / 2.0 + 4.0,
            esc(process)
        );
    }

    for (i, claim) in timeline.claims.iter().enumerate() {
        let lane = lane_of(&claim.process);
        let y = lane_y(lane) + 14.0;
        let flag = timeline.flag_of(i);
        let start = x(claim.axis_start_ns);
        let end_ns = claim.axis_end_ns.unwrap_or(t1);
        let width = (x(end_ns) - start).max(3.0);
        let dashed = if claim.axis_end_ns.is_none() {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let outcome = match claim.outcome {
            Some(o) => format!("{} ({})", o.kind(), o.result_word()),
            None => "no outcome".to_owned(),
        };
        let worker = format!("w{} ", claim.worker);
        let _ = writeln!(
            out,
            r#"<rect class="claim" x="{start:.1}" y="{y}" width="{width:.1}" height="24" fill="{}" fill-opacity="0.85" stroke="black"{dashed}><title>{}</title></rect>"#,
            colour(flag),
            esc(&format!("{worker}claimed -> {outcome}"))
        );
        // Labels near the right edge grow leftwards so they are not cut off.
        let (label_x, anchor) = if start > WIDTH * 0.7 {
            (start + width, "end")
        } else {
            (start + 3.0, "start")
        };
        let _ = writeln!(
            out,
            r#"<text x="{label_x:.1}" y="{}" font-size="11" text-anchor="{anchor}">{}</text>"#,
            y + 36.0,
            esc(&format!("{worker}{outcome}"))
        );
        if let Some(class) = flag {
            let _ = writeln!(
                out,
                r#"<text x="{label_x:.1}" y="{}" fill="{}" font-weight="bold" text-anchor="{anchor}">{}</text>"#,
                y - 3.0,
                colour(flag),
                esc(&class.label().to_uppercase())
            );
        }
    }

    // Every other record as a tick on its lane, so the steps of the race are visible.
    for e in &timeline.events {
        let r = &e.record;
        if r.kind() == EventKind::Claimed {
            continue;
        }
        let lane = lane_of(&r.process());
        let tx = x(e.axis_ns);
        let y = lane_y(lane);
        let earlier = after(t0, e.axis_ns);
        let name = match &r.event {
            Event::Step(step) => step.step.to_string(),
            other => other.kind().to_string(),
        };
        let _ = writeln!(
            out,
            r#"<line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{}" stroke="black" stroke-width="1"><title>{}</title></line>"#,
            y + 8.0,
            y + 42.0,
            esc(&format!(
                "+{:.3} ms {name} {}",
                after(e.axis_ns, t0) as f64 / 1e6,
                r.event.result_word().unwrap_or("")
            ))
        );
        // The open is where the race starts: a descriptor taken before another
        // consumer's unlink. Name it on the lane.
        let is_open = matches!(&r.event, Event::Step(step) if step.step == Step::AfterOpen);
        if is_open && earlier == 0 {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{}</text>"#,
                tx,
                y + 52.0,
                Step::AfterOpen
            );
        }
        if matches!(r.kind(), EventKind::Produced | EventKind::Requeued) {
            let label = if earlier > 0 {
                format!("{name} {:.3} ms before", earlier as f64 / 1e6)
            } else {
                name
            };
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="11">{}</text>"#,
                tx + 2.0,
                y + 62.0,
                esc(&label)
            );
        }
    }

    // Time axis.
    let axis_y = TOP + LANE * lanes as f64 + 10.0;
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    for tick in 0..=5i64 {
        let t = t0.saturating_add(t1.saturating_sub(t0) / 5 * tick);
        let tx = x(t);
        let _ = writeln!(
            out,
            r#"<line x1="{tx:.1}" y1="{axis_y}" x2="{tx:.1}" y2="{}" stroke="black"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"#,
            axis_y + 6.0,
            axis_y + 20.0,
            esc(&format!("+{:.3} ms", after(t, t0) as f64 / 1e6))
        );
    }
    let clock = if timeline.clock_domains > 1 {
        "CLOCK_MONOTONIC within a boot, wall clock between boots and hosts"
    } else {
        "CLOCK_MONOTONIC"
    };
    let _ = writeln!(
        out,
        r#"<text x="10" y="{}" font-size="11">time since the first claim step ({clock})</text>"#,
        axis_y + 36.0
    );
    out.push_str("</svg>\n");
    out
}
