//! Time as a parameter. Domain code never reads the system clock (clippy's
//! `disallowed-methods` enforces it); it is handed a [`Clock`].

use std::sync::atomic::{AtomicI64, Ordering};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub i64);

impl Instant {
    pub fn from_secs(secs: i64) -> Self {
        Instant(secs.saturating_mul(1000))
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Instant(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    /// Whole seconds from `self` until `later`, rounded up, at least 0.
    /// In i128, where no two instants are too far apart: a lock's end read from a
    /// corrupt record must not overflow the rounding.
    pub fn secs_until(self, later: Instant) -> u64 {
        let ms = (i128::from(later.0) - i128::from(self.0)).max(0);
        u64::try_from((ms + 999) / 1000).unwrap_or(u64::MAX)
    }
    /// RFC 3339 in UTC with whole seconds, as the API shows every timestamp.
    pub fn rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.secs())
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reading of wall-clock time
    fn now(&self) -> Instant {
        let now = OffsetDateTime::now_utc();
        Instant(i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to: for tests and benchmarks.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Instant) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
    pub fn set(&self, at: Instant) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_z() {
        assert_eq!(
            Instant::from_secs(1_795_860_000).rfc3339(),
            "2026-11-28T10:00:00Z"
        );
    }

    #[test]
    fn secs_until_rounds_up_and_never_goes_negative() {
        let now = Instant(10_000);
        assert_eq!(now.secs_until(Instant(10_001)), 1);
        assert_eq!(now.secs_until(Instant(9_000)), 0);
        assert_eq!(now.secs_until(Instant(25_000)), 15);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            /// Whatever a stored time says (a lock's end read from the store), the wait
            /// until it is never negative, never short and at most a second long, and
            /// never panics.
            #[test]
            fn secs_until_is_the_wait_rounded_up(now in any::<i64>(), later in any::<i64>()) {
                let secs = Instant(now).secs_until(Instant(later));
                let ms = i128::from(later) - i128::from(now);
                prop_assert_eq!(i128::from(secs), if ms <= 0 { 0 } else { (ms + 999) / 1000 });
            }
        }
    }
}
