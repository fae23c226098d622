//! Exponential backoff with full jitter: after the n-th failed attempt, wait a time
//! drawn uniformly from `[0, min(max, base * 2^(n-1))]`. Full jitter spreads retries of
//! jobs that failed together (a handler's dependency went down) instead of sending them
//! back in synchronized waves.
//!
//! The randomness only spreads load, it protects nothing, so a xorshift generator seeded
//! from the random bits of a fresh UUID v7 (time, pid-independent randomness) is enough.

use std::sync::Mutex;
use std::time::Duration;

use spoolq_spool::JobId;

/// The ceiling of the backoff after `attempts` failed attempts (1-based).
pub(crate) fn ceiling(base: Duration, max: Duration, attempts: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    // Doubling a non-zero duration passes any cap within 64 rounds (it saturates).
    let mut ceiling = base;
    for _ in 1..attempts {
        if ceiling >= max {
            break;
        }
        ceiling = ceiling.saturating_mul(2);
    }
    ceiling.min(max)
}

/// A delay drawn with full jitter.
pub(crate) fn delay(base: Duration, max: Duration, attempts: u32) -> Duration {
    let ceiling = ceiling(base, max, attempts);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(next_random() % (nanos.saturating_add(1)).max(1))
}

static STATE: Mutex<u64> = Mutex::new(0);

fn next_random() -> u64 {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if *state == 0 {
        // The low 62 bits of a UUID v7 are random; never zero after the `| 1`.
        *state = (JobId::generate().0.as_u128() as u64) | 1;
    }
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(3600);
        assert_eq!(ceiling(base, max, 1), Duration::from_secs(1));
        assert_eq!(ceiling(base, max, 2), Duration::from_secs(2));
        assert_eq!(ceiling(base, max, 4), Duration::from_secs(8));
        assert_eq!(ceiling(base, max, 30), max);
        assert_eq!(ceiling(base, max, u32::MAX), max);
    }

    #[test]
    fn delay_stays_within_the_ceiling() {
        let base = Duration::from_millis(50);
        let max = Duration::from_secs(1);
        for attempts in 1..10 {
            for _ in 0..100 {
                assert!(delay(base, max, attempts) <= ceiling(base, max, attempts));
            }
        }
        assert_eq!(delay(Duration::ZERO, max, 3), Duration::ZERO);
    }
}
