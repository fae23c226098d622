//! Ordering two claims of one job file without assuming a clock they do not share.
//!
//! CLOCK_MONOTONIC orders events within one boot of one host (a *clock domain*: one boot
//! id, or one host for journals that do not name their boot). Between domains the
//! auditor uses only evidence that holds whatever the clocks say, then wall clocks under
//! a stated skew bound, and says which it used ([`OrderingBasis`]); when nothing orders
//! two claims they are *unordered*: not a violation, not fine either. The argument for
//! each kind of evidence is in docs/audit.md.
//!
//! Every verdict compares stamps taken while a claim held the job's lock: the `claimed`
//! record (written once the lock is held) and the end of the hold (`outcome_ns`, read
//! under the lock; in journals without it, the close step or the outcome record).

use spoolq_claim::Strategy;
use spoolq_spool::DoneResult;

use crate::{ClaimEnd, ClaimRec, DuplicateClass};

/// What ordered two claims of a job, for a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderingBasis {
    /// Both in one boot of one host: their monotonic times.
    Monotonic,
    /// Different attempt numbers of one file: the name carrying the higher count is made
    /// only after the lower attempt's holder moved the file on, under its lock.
    ClaimSequence,
    /// A completion's unlink: one that failed with ENOENT came after the other's that
    /// succeeded; a verified claim saw the file still linked, so it came before the
    /// unlink that succeeded (and, two boots of one host never overlapping, before that
    /// whole claim).
    Unlink,
    /// Two boots of one host never overlap; which came first, from the wall-clock spans
    /// of their records under the skew bound.
    BootOrder,
    /// Wall clocks, assumed to agree within the skew bound.
    WallClock,
    /// Nothing: the claims are unordered.
    None,
}

impl OrderingBasis {
    /// Words for people: `monotonic clock`, `claim sequence`, ...
    pub fn label(self) -> &'static str {
        match self {
            OrderingBasis::Monotonic => "monotonic clock",
            OrderingBasis::ClaimSequence => "claim sequence",
            OrderingBasis::Unlink => "unlink result",
            OrderingBasis::BootOrder => "boot order",
            OrderingBasis::WallClock => "wall clock",
            OrderingBasis::None => "no evidence",
        }
    }
}

/// A clock domain's facts that ordering needs.
#[derive(Clone, Debug)]
pub(crate) struct DomainFacts {
    /// Index of its host name.
    pub host: u32,
    /// Whether it is a boot (the records name one), not a whole host.
    pub is_boot: bool,
    /// The earliest and latest wall-clock stamps of its records, nanoseconds.
    pub wall_span: Option<(i64, i64)>,
}

/// What the auditor knows of two claims' order, the first being the earlier in display
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    /// Claim `first`'s hold ended before claim `second` began.
    Sequential {
        first: usize,
        second: usize,
        basis: OrderingBasis,
    },
    /// Both held the job at once; `later` claimed second.
    Overlap { later: usize, basis: OrderingBasis },
    /// `second` ran the job after `first` had completed it (its unlink found the name
    /// gone): a violation, after completion, unless the two held the lock at once.
    CompletedBefore { first: usize, second: usize },
    /// Nothing orders them.
    Unordered,
}

/// A claim with what ordering needs besides its record.
pub(crate) struct Placed<'a> {
    pub claim: &'a ClaimRec,
    /// When its hold ended at the latest the journals prove it still held the lock, in
    /// its domain's monotonic time (see [`crate::Analyzer::effective_end`]).
    pub end: u64,
    /// That end in wall-clock nanoseconds, if its claim has a wall stamp.
    pub end_wall: Option<i64>,
}

impl Placed<'_> {
    fn done(&self, result: DoneResult) -> bool {
        self.claim.outcome == Some(ClaimEnd::Done(result))
    }

    /// Whether the claim saw the file still linked when it took it: the verified
    /// strategy checks `st_nlink` and the name under the lock, the shared one renamed the
    /// name (which the server refuses for a name gone) and found the locked inode under it.
    fn saw_it_linked(&self) -> bool {
        matches!(self.claim.strategy, Strategy::Verified | Strategy::Shared)
    }
}

/// The relation of claims `i` and `j` (`i` earlier in display order). `sequence_holds`:
/// the job's attempt count was never started again (a job sent back from failed/ starts
/// it again, so its counts order nothing).
pub(crate) fn relate(
    i: usize,
    a: &Placed<'_>,
    j: usize,
    b: &Placed<'_>,
    domains: &[DomainFacts],
    skew_ns: i64,
    sequence_holds: bool,
) -> Relation {
    let (ca, cb) = (a.claim, b.claim);
    if ca.domain == cb.domain {
        return by_monotonic(i, a, j, b);
    }
    if sequence_holds && ca.attempt != cb.attempt {
        let (first, second) = if ca.attempt < cb.attempt {
            (i, j)
        } else {
            (j, i)
        };
        return Relation::Sequential {
            first,
            second,
            basis: OrderingBasis::ClaimSequence,
        };
    }
    let by_wall = by_wall_clock(i, a, j, b, skew_ns);
    // An unlink that failed with ENOENT came after the one that succeeded: the job ran
    // again after it was completed, or while it was held; the wall clock may show which.
    let completed_before = if a.done(DoneResult::Ok) && b.done(DoneResult::Enoent) {
        Some((i, j))
    } else if b.done(DoneResult::Ok) && a.done(DoneResult::Enoent) {
        Some((j, i))
    } else {
        None
    };
    if let Some((first, second)) = completed_before {
        return match by_wall {
            Relation::Overlap { .. } => by_wall,
            _ => Relation::CompletedBefore { first, second },
        };
    }
    let (da, db) = (&domains[ca.domain as usize], &domains[cb.domain as usize]);
    // Two boots of one host never overlap: a lock does not outlive its boot, and a host
    // runs one boot at a time.
    let boots_of_one_host = da.is_boot && db.is_boot && da.host == db.host;
    // A verified claim took the file while it was linked; a successful unlink left it
    // unlinked for good: the claim came first.
    let linked_before_unlink = match (
        a.saw_it_linked() && b.done(DoneResult::Ok),
        b.saw_it_linked() && a.done(DoneResult::Ok),
    ) {
        (true, false) => Some((i, j)),
        (false, true) => Some((j, i)),
        _ => None,
    };
    if let Some((first, second)) = linked_before_unlink {
        if boots_of_one_host {
            return Relation::Sequential {
                first,
                second,
                basis: OrderingBasis::Unlink,
            };
        }
        // The wall clock may still tell a claim before from one overlapping; never that
        // the verified claim came after the unlink.
        return match by_wall {
            Relation::Sequential { first: f, .. } if f == first => by_wall,
            Relation::Overlap { .. } => by_wall,
            _ => Relation::Unordered,
        };
    }
    if boots_of_one_host {
        if let Some(a_first) = boot_order(da, db, skew_ns) {
            let (first, second) = if a_first { (i, j) } else { (j, i) };
            return Relation::Sequential {
                first,
                second,
                basis: OrderingBasis::BootOrder,
            };
        }
        return match by_wall {
            Relation::Sequential { .. } => by_wall,
            _ => Relation::Unordered,
        };
    }
    by_wall
}

/// One domain's monotonic clock: the later claim is concurrent when it was journaled
/// before the earlier one's hold ended.
fn by_monotonic(i: usize, a: &Placed<'_>, j: usize, b: &Placed<'_>) -> Relation {
    let (first, x, second, y) = if a.claim.start <= b.claim.start {
        (i, a, j, b)
    } else {
        (j, b, i, a)
    };
    if y.claim.start < x.end {
        Relation::Overlap {
            later: second,
            basis: OrderingBasis::Monotonic,
        }
    } else {
        Relation::Sequential {
            first,
            second,
            basis: OrderingBasis::Monotonic,
        }
    }
}

/// Wall clocks that agree within `skew_ns`: a stamp is after another only when it is
/// more than the bound later.
fn by_wall_clock(i: usize, a: &Placed<'_>, j: usize, b: &Placed<'_>, skew_ns: i64) -> Relation {
    let (Some(a_start), Some(a_end), Some(b_start), Some(b_end)) = (
        a.claim.start_wall,
        a.end_wall,
        b.claim.start_wall,
        b.end_wall,
    ) else {
        return Relation::Unordered;
    };
    let after = |later: i64, earlier: i64| later.saturating_sub(earlier) > skew_ns;
    if after(b_start, a_end) {
        return Relation::Sequential {
            first: i,
            second: j,
            basis: OrderingBasis::WallClock,
        };
    }
    if after(a_start, b_end) {
        return Relation::Sequential {
            first: j,
            second: i,
            basis: OrderingBasis::WallClock,
        };
    }
    // Held at once: the later claim was stamped after the earlier one's, and before the
    // earlier hold's end, both by more than the bound.
    if after(b_start, a_start) && after(a_end, b_start) {
        return Relation::Overlap {
            later: j,
            basis: OrderingBasis::WallClock,
        };
    }
    if after(a_start, b_start) && after(b_end, a_start) {
        return Relation::Overlap {
            later: i,
            basis: OrderingBasis::WallClock,
        };
    }
    Relation::Unordered
}

/// Whether boot `a` came before boot `b` of the same host, from the wall-clock spans of
/// their records: every record of the earlier boot precedes every record of the later,
/// so with clocks within `skew_ns` of the truth, the earlier boot's last stamp is less
/// than the bound after the later's first. `None` when the spans allow both orders (or
/// neither: a clock set far wrong at boot).
fn boot_order(a: &DomainFacts, b: &DomainFacts, skew_ns: i64) -> Option<bool> {
    let ((a_first, a_last), (b_first, b_last)) = (a.wall_span?, b.wall_span?);
    let a_then_b = a_last < b_first.saturating_add(skew_ns);
    let b_then_a = b_last < a_first.saturating_add(skew_ns);
    match (a_then_b, b_then_a) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// The class the later claim of a relation gets, with the claim flagged and the one it
/// was judged against.
pub(crate) struct Verdict {
    pub class: DuplicateClass,
    pub flagged: usize,
    pub against: usize,
    pub basis: OrderingBasis,
}

/// Judges a relation. `finished(first, second)`: whether `first` finished the job (a
/// completion, or a move to failed/ not undone by a requeue before `second`).
pub(crate) fn judge(
    relation: Relation,
    i: usize,
    j: usize,
    finished: impl Fn(usize, usize) -> bool,
) -> Verdict {
    match relation {
        Relation::Sequential {
            first,
            second,
            basis,
        } => Verdict {
            class: if finished(first, second) {
                DuplicateClass::AfterCompletion
            } else {
                DuplicateClass::Redelivery
            },
            flagged: second,
            against: first,
            basis,
        },
        Relation::Overlap { later, basis } => Verdict {
            class: DuplicateClass::Concurrent,
            flagged: later,
            against: if later == j { i } else { j },
            basis,
        },
        Relation::CompletedBefore { first, second } => Verdict {
            class: DuplicateClass::AfterCompletion,
            flagged: second,
            against: first,
            basis: OrderingBasis::Unlink,
        },
        Relation::Unordered => Verdict {
            class: DuplicateClass::Unordered,
            flagged: j,
            against: i,
            basis: OrderingBasis::None,
        },
    }
}
