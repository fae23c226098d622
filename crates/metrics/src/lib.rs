//! spoolq's Prometheus metric families, defined once: their names, help texts, types
//! and labels, for every program that exposes them.
//!
//! - [`SpoolGauges`]: what a spool holds right now, from a [`Status`] snapshot. `spoolq
//!   status --format prometheus` prints them (for a scrape through node_exporter's
//!   textfile collector, say), and a daemon serving `/metrics` registers the same
//!   families.
//! - [`DaemonMetrics`]: one daemon's counters (claimed, done, retried, dead,
//!   quarantined, released) and the duration of its handlers, for that `/metrics`.
//!
//! Every family is registered in a [`Registry`] made by [`registry`], which labels every
//! sample with the spool it describes (`spool="/var/spool/jobs"`), so several spools of
//! one host can share one scrape. The exposition is the prometheus-client crate's
//! OpenMetrics text format ([`encode`]).
//!
//! Boundaries: this crate names and fills metrics; it reads no spool itself (the
//! caller takes the [`Status`]), serves nothing and prints nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use spoolq_spool::journal::Role;
use spoolq_spool::status::Status;

pub use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::registry::Registry;

/// The label every sample carries: the spool's canonical path.
pub const SPOOL_LABEL: &str = "spool";

/// A registry whose every sample is labelled with `spool` (its canonical path).
pub fn registry(spool: &std::path::Path) -> Registry {
    let label = (
        Cow::Borrowed(SPOOL_LABEL),
        Cow::Owned(spool.to_string_lossy().into_owned()),
    );
    Registry::with_labels(std::iter::once(label))
}

/// The registry's metrics in the OpenMetrics text format (which Prometheus scrapes,
/// and node_exporter's textfile collector reads), ending with `# EOF`.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

/// A one-label set, `name="value"`.
type Label = [(&'static str, &'static str); 1];

/// The states of [`SpoolGauges::jobs`]: every file in new/, retry/ and failed/ is in
/// exactly one, so their sum is everything the spool holds.
pub mod state {
    /// In new/, not claimed.
    pub const READY: &str = "ready";
    /// In new/, its claim lock held right now.
    pub const IN_FLIGHT: &str = "in_flight";
    /// In retry/, waiting out a backoff after a failed attempt.
    pub const RETRYING: &str = "retrying";
    /// In retry/ before its first attempt: produced for a later time (`produce --at`).
    pub const SCHEDULED: &str = "scheduled";
    /// In failed/: dead letters and quarantined files.
    pub const FAILED: &str = "failed";
}

/// The gauges of a spool's contents. Names, help and types are fixed here; the values
/// come from a [`Status`] ([`SpoolGauges::set`]).
#[derive(Debug, Clone, Default)]
pub struct SpoolGauges {
    /// `spoolq_jobs{state=...}`: files per [`state`].
    pub jobs: Family<Label, Gauge>,
    /// `spoolq_retry_due_jobs`: files in retry/ whose due time has passed (the daemon
    /// moves them back to new/ at once).
    pub retry_due: Gauge,
    /// `spoolq_oldest_ready_age_seconds`: how long the oldest unclaimed job in new/ has
    /// waited; 0 when none waits.
    pub oldest_ready_age_seconds: Gauge<f64, AtomicU64>,
    /// `spoolq_paused`: 1 while the spool is paused (`spoolq pause`; its daemons claim
    /// nothing), else 0.
    pub paused: Gauge,
    /// `spoolq_hidden_in_new`: names starting with `.` in new/ (never claimed; they keep
    /// on-demand services relaunching).
    pub hidden_in_new: Gauge,
    /// `spoolq_tmp_files`: drops in progress, or leftovers of producers that died.
    pub tmp_files: Gauge,
    /// `spoolq_recent_processes{role=...}`: processes that journaled in the last minute,
    /// by role (`daemon`, `producer`): a daemon count of 0 means nothing consumes.
    pub recent_processes: Family<Label, Gauge>,
    /// `spoolq_journal_problems`: files in journal/ that are not regular journal files,
    /// and damaged lines at the end of the recent journals.
    pub journal_problems: Gauge,
    /// `spoolq_journal_unknown_records`: records at the end of the recent journals that
    /// this spoolq does not understand (a newer spoolq writes into the spool).
    pub journal_unknown_records: Gauge,
}

impl SpoolGauges {
    /// Registers every family in `registry`, with its help text.
    pub fn register(registry: &mut Registry) -> SpoolGauges {
        let gauges = SpoolGauges::default();
        registry.register(
            "spoolq_jobs",
            "Files in the spool by state: ready and in_flight (new/), retrying and \
             scheduled (retry/), failed (failed/)",
            gauges.jobs.clone(),
        );
        registry.register(
            "spoolq_retry_due_jobs",
            "Files in retry/ whose due time has passed",
            gauges.retry_due.clone(),
        );
        registry.register(
            "spoolq_oldest_ready_age_seconds",
            "How long the oldest unclaimed job in new/ has waited (0 when none waits)",
            gauges.oldest_ready_age_seconds.clone(),
        );
        registry.register(
            "spoolq_paused",
            "1 while the spool is paused (spoolq pause): its daemons claim nothing; else 0",
            gauges.paused.clone(),
        );
        registry.register(
            "spoolq_hidden_in_new",
            "Names starting with a dot in new/: never claimed, but they start on-demand \
             services",
            gauges.hidden_in_new.clone(),
        );
        registry.register(
            "spoolq_tmp_files",
            "Files in tmp/: drops in progress or leftovers of producers that died",
            gauges.tmp_files.clone(),
        );
        registry.register(
            "spoolq_recent_processes",
            "Processes that wrote a journal in the last minute, by role",
            gauges.recent_processes.clone(),
        );
        registry.register(
            "spoolq_journal_problems",
            "Files in journal/ that are not regular journal files, and damaged lines at \
             the end of the recent journals",
            gauges.journal_problems.clone(),
        );
        registry.register(
            "spoolq_journal_unknown_records",
            "Records at the end of the recent journals that this spoolq does not \
             understand",
            gauges.journal_unknown_records.clone(),
        );
        gauges
    }

    /// Sets every gauge from `status`. The in-flight state is left out when it could
    /// not be told (no readable /proc/locks).
    pub fn set(&self, status: &Status) {
        let set = |state: &'static str, n: u64| {
            self.jobs.get_or_create(&[("state", state)]).set(clamp(n));
        };
        set(state::READY, status.ready);
        if let Some(in_flight) = status.in_flight {
            set(state::IN_FLIGHT, in_flight);
        }
        set(state::RETRYING, status.retry.waiting);
        set(state::SCHEDULED, status.scheduled.waiting);
        set(state::FAILED, status.failed);
        self.retry_due
            .set(clamp(status.retry.due_now + status.scheduled.due_now));
        self.oldest_ready_age_seconds
            .set(status.oldest_ready.as_ref().map_or(0.0, |o| o.age_secs));
        self.paused.set(i64::from(status.paused.is_some()));
        self.hidden_in_new.set(clamp(status.hidden_in_new));
        self.tmp_files.set(clamp(status.tmp));
        for &role in Role::ALL {
            let n = status
                .recent_processes
                .iter()
                .filter(|p| p.role == role)
                .count();
            self.recent_processes
                .get_or_create(&[("role", role.as_str())])
                .set(clamp(n as u64));
        }
        self.journal_problems
            .set(clamp(status.journal_problems.count));
        self.journal_unknown_records
            .set(clamp(status.unknown_records.count));
    }
}

/// A count as a gauge's value.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `status` as the OpenMetrics text of [`SpoolGauges`], labelled with its spool.
pub fn render_status(status: &Status) -> Result<String, std::fmt::Error> {
    let mut registry = registry(&status.spool);
    SpoolGauges::register(&mut registry).set(status);
    encode(&registry)
}

/// The upper bounds of [`DaemonMetrics::handler_duration_seconds`]'s buckets, in
/// seconds: from 5 ms (a handler that exits at once) to 10 minutes (the default job
/// timeout), about three per decade.
pub const HANDLER_DURATION_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// One daemon's counters and its handlers' durations. Counters count since the daemon
/// started (Prometheus handles the reset at a restart).
#[derive(Debug, Clone)]
pub struct DaemonMetrics {
    /// `spoolq_daemon_claimed_total`: jobs claimed (a handler was about to run).
    pub claimed: Counter,
    /// `spoolq_daemon_done_total`: jobs completed (handler exit 0, job unlinked).
    pub done: Counter,
    /// `spoolq_daemon_retried_total`: failed attempts moved to retry/.
    pub retried: Counter,
    /// `spoolq_daemon_dead_total`: jobs moved to failed/ (exit 100, attempts exhausted).
    pub dead: Counter,
    /// `spoolq_daemon_quarantined_total`: files moved to failed/ as not valid jobs.
    pub quarantined: Counter,
    /// `spoolq_daemon_released_total`: claimed jobs released unprocessed.
    pub released: Counter,
    /// `spoolq_daemon_handler_duration_seconds`: how long each handler run took.
    pub handler_duration_seconds: Histogram,
}

impl Default for DaemonMetrics {
    /// Counters at 0 and an empty histogram with [`HANDLER_DURATION_BUCKETS`].
    fn default() -> DaemonMetrics {
        DaemonMetrics {
            claimed: Counter::default(),
            done: Counter::default(),
            retried: Counter::default(),
            dead: Counter::default(),
            quarantined: Counter::default(),
            released: Counter::default(),
            handler_duration_seconds: handler_duration_histogram(),
        }
    }
}

/// An empty histogram for [`DaemonMetrics::handler_duration_seconds`], with its buckets.
pub fn handler_duration_histogram() -> Histogram {
    Histogram::new(HANDLER_DURATION_BUCKETS)
}

impl DaemonMetrics {
    /// Registers every family in `registry`, with its help text: new counters at 0.
    pub fn register(registry: &mut Registry) -> DaemonMetrics {
        let metrics = DaemonMetrics::default();
        metrics.register_in(registry);
        metrics
    }

    /// Registers these counters and this histogram in `registry` (a daemon serving
    /// `/metrics` fills a fresh set from its own counts at each scrape, around the
    /// histogram it keeps for its life).
    pub fn register_in(&self, registry: &mut Registry) {
        let metrics = self;
        for (name, help, counter) in [
            (
                "spoolq_daemon_claimed",
                "Jobs this daemon claimed (a handler was about to run)",
                &metrics.claimed,
            ),
            (
                "spoolq_daemon_done",
                "Jobs this daemon completed (handler exit 0, job removed)",
                &metrics.done,
            ),
            (
                "spoolq_daemon_retried",
                "Failed attempts this daemon moved to retry/",
                &metrics.retried,
            ),
            (
                "spoolq_daemon_dead",
                "Jobs this daemon moved to failed/ (exit 100, or attempts exhausted)",
                &metrics.dead,
            ),
            (
                "spoolq_daemon_quarantined",
                "Files this daemon moved to failed/ as not valid jobs",
                &metrics.quarantined,
            ),
            (
                "spoolq_daemon_released",
                "Claimed jobs this daemon released unprocessed (shutdown, a failed journal \
                 write or move)",
                &metrics.released,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "spoolq_daemon_handler_duration_seconds",
            "How long each handler run of this daemon took",
            metrics.handler_duration_seconds.clone(),
        );
    }
}
