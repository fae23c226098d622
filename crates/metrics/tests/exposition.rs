//! The metric families as real parsers read them. The spool's gauges, which `spoolq
//! status --format prometheus` prints for node_exporter's textfile collector, go through
//! `promtool check metrics` (Debian's `prometheus` package: the Prometheus text parser
//! and its lint). Every family, the daemon's counters and histogram included, goes
//! through the OpenMetrics parser of Python's prometheus_client (in the virtual
//! environment `.ci/run` makes, named by `SPOOLQ_METRICS_PYTHON`), which gives back each
//! sample's value.

use std::time::SystemTime;

use spoolq_metrics::{DaemonMetrics, SpoolGauges, encode, registry};
use spoolq_spool::status::Status;
use spoolq_testkit::{TempSpool, openmetrics, run_with_stdin};

/// `promtool check metrics`: parses and lints the Prometheus text format.
fn promtool(text: &str) -> Option<Result<String, String>> {
    run_with_stdin(
        "promtool",
        &["check", "metrics"],
        text,
        "promtool (Debian's prometheus package), the Prometheus text parser",
    )
}

#[test]
fn both_parsers_refuse_a_broken_exposition() {
    // They really parse: a label value left open fails both, a family without help
    // fails promtool's lint.
    for broken in ["# TYPE x gauge\nx{a=\"b\" 1\n", "# TYPE x gauge\nx 1\n"] {
        if let Some(result) = promtool(broken) {
            assert!(result.is_err(), "promtool passed {broken:?}");
        }
    }
    if let Some(result) = openmetrics("# TYPE x gauge\nx{a=\"b\" 1\n# EOF\n") {
        assert!(
            result.is_err(),
            "the OpenMetrics parser passed a broken line"
        );
    }
}

fn status_of(spool: &TempSpool) -> Status {
    let open = spoolq_spool::Spool::open(&spool.path()).unwrap();
    Status::collect(&open, SystemTime::now()).unwrap()
}

#[test]
fn the_spool_gauges_parse_and_lint_clean_as_prometheus_text() {
    let spool = TempSpool::new();
    spool.drop_jobs(3);
    let status = status_of(&spool);
    let mut registry = registry(&status.spool);
    SpoolGauges::register(&mut registry).set(&status);
    let text = encode(&registry).unwrap();
    if let Some(result) = promtool(&text) {
        result.unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    let line = format!(
        "spoolq_jobs{{spool=\"{}\",state=\"ready\"}} 3",
        status.spool.display()
    );
    assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
}

#[test]
fn every_family_reads_back_with_its_type_and_values_as_openmetrics() {
    let spool = TempSpool::new();
    spool.drop_jobs(2);
    let status = status_of(&spool);
    let mut registry = registry(&status.spool);
    SpoolGauges::register(&mut registry).set(&status);
    let daemon = DaemonMetrics::register(&mut registry);
    daemon.claimed.inc_by(5);
    daemon.done.inc_by(3);
    daemon.retried.inc();
    daemon.dead.inc();
    daemon.quarantined.inc();
    daemon.released.inc();
    for seconds in [0.001, 0.2, 3.0, 4000.0] {
        daemon.handler_duration_seconds.observe(seconds);
    }
    let text = encode(&registry).unwrap();
    let Some(parsed) = openmetrics(&text) else {
        return;
    };
    let samples = parsed.unwrap_or_else(|e| panic!("{e}\n{text}"));
    let spool_label = format!("spool=\"{}\"", status.spool.display());
    let expect = |key: String, value: &str| {
        assert_eq!(
            samples.get(&key).map(String::as_str),
            Some(value),
            "{key} in {samples:#?}"
        );
    };
    for (family, kind) in [
        ("spoolq_jobs", "gauge"),
        ("spoolq_retry_due_jobs", "gauge"),
        ("spoolq_oldest_ready_age_seconds", "gauge"),
        ("spoolq_paused", "gauge"),
        ("spoolq_hidden_in_new", "gauge"),
        ("spoolq_tmp_files", "gauge"),
        ("spoolq_recent_processes", "gauge"),
        ("spoolq_journal_problems", "gauge"),
        ("spoolq_journal_unknown_records", "gauge"),
        ("spoolq_daemon_claimed", "counter"),
        ("spoolq_daemon_done", "counter"),
        ("spoolq_daemon_retried", "counter"),
        ("spoolq_daemon_dead", "counter"),
        ("spoolq_daemon_quarantined", "counter"),
        ("spoolq_daemon_released", "counter"),
        ("spoolq_daemon_handler_duration_seconds", "histogram"),
    ] {
        expect(format!("# TYPE {family}"), kind);
    }
    expect(
        format!("spoolq_jobs{{{spool_label},state=\"ready\"}}"),
        "2.0",
    );
    expect(
        format!("spoolq_jobs{{{spool_label},state=\"failed\"}}"),
        "0.0",
    );
    expect(format!("spoolq_paused{{{spool_label}}}"), "0.0");
    expect(
        format!("spoolq_daemon_claimed_total{{{spool_label}}}"),
        "5.0",
    );
    expect(format!("spoolq_daemon_done_total{{{spool_label}}}"), "3.0");
    expect(
        format!("spoolq_daemon_released_total{{{spool_label}}}"),
        "1.0",
    );
    expect(
        format!("spoolq_daemon_handler_duration_seconds_count{{{spool_label}}}"),
        "4.0",
    );
    expect(
        format!("spoolq_daemon_handler_duration_seconds_bucket{{le=\"600.0\",{spool_label}}}"),
        "3.0",
    );
    expect(
        format!("spoolq_daemon_handler_duration_seconds_bucket{{le=\"+Inf\",{spool_label}}}"),
        "4.0",
    );
}
