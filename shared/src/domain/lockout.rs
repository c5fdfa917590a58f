//! The account lock: 10 failures in a row (of either login step, or of a password check
//! in settings) lock the account for 15 minutes.
//!
//! Only a *complete* login resets the count. A right password followed by wrong second
//! factors must keep counting, or an attacker who knows the password could guess codes
//! forever, 5 per mfa_token, re-entering the password between rounds.

use crate::clock::Instant;
use crate::records::Profile;

pub const MAX_FAILURES: u32 = 10;
pub const LOCK_SECS: i64 = 15 * 60;

impl Profile {
    /// Seconds until the lock lifts, when the account is locked at `now`.
    pub fn locked_for(&self, now: Instant) -> Option<u64> {
        self.locked_until
            .map(Instant)
            .filter(|until| *until > now)
            .map(|until| now.secs_until(until))
    }

    pub fn record_failure(&mut self, now: Instant) {
        if self.locked_until.is_some_and(|until| Instant(until) <= now) {
            self.locked_until = None;
        }
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        if self.failed_attempts >= MAX_FAILURES {
            self.locked_until = Some(now.plus_secs(LOCK_SECS).millis());
            self.failed_attempts = 0;
        }
    }

    /// Clears the count after a complete login; true when that changed anything.
    pub fn record_success(&mut self) -> bool {
        let changed = self.failed_attempts != 0 || self.locked_until.is_some();
        self.failed_attempts = 0;
        self.locked_until = None;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn profile() -> Profile {
        Profile {
            username: "alice".into(),
            password_hash: String::new(),
            created_at: 0,
            mfa_enabled: true,
            devices: vec![],
            recovery_codes: None,
            failed_attempts: 0,
            locked_until: None,
            recent_pushes: vec![],
            webauthn_user_id: None,
            webauthn_user_indexed: false,
            session_generation: 0,
        }
    }

    #[test]
    fn ten_failures_lock_for_fifteen_minutes() {
        let mut p = profile();
        let now = Instant::from_secs(1000);
        for _ in 0..9 {
            p.record_failure(now);
            assert_eq!(p.locked_for(now), None);
        }
        p.record_failure(now);
        assert_eq!(p.locked_for(now), Some(900));
        assert_eq!(p.locked_for(now.plus_secs(899)), Some(1));
        assert_eq!(p.locked_for(now.plus_secs(900)), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Milliseconds up to the year 2286: any time the service will run at.
        const HORIZON: i64 = 10_000_000_000_000;

        #[derive(Debug, Clone, Copy)]
        enum Attempt {
            Failure,
            Success,
        }

        /// Attempts, each some milliseconds (up to an hour) after the one before.
        fn attempts() -> impl Strategy<Value = Vec<(i64, Attempt)>> {
            let attempt = prop_oneof![4 => Just(Attempt::Failure), 1 => Just(Attempt::Success)];
            proptest::collection::vec((0i64..3_600_000, attempt), 0..80)
        }

        /// A profile in any state the service can store, and a time: a count below the
        /// threshold, and a lock that may have ended, set at most 15 minutes from now (a
        /// lock is only ever set 15 minutes from the failure that sets it).
        fn any_state() -> impl Strategy<Value = (Profile, Instant)> {
            let lock = proptest::option::of(-HORIZON / 2..=LOCK_SECS * 1000);
            (0..MAX_FAILURES, lock, HORIZON / 2..HORIZON).prop_map(
                |(failed_attempts, lock, now)| {
                    let mut p = profile();
                    p.failed_attempts = failed_attempts;
                    p.locked_until = lock.map(|offset| now + offset);
                    (p, Instant(now))
                },
            )
        }

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            /// The service refuses a locked account before judging anything
            /// (`txn::refuse_if_locked`, `second_factor::pending_for`), so an attempt
            /// only counts when the account is not locked. Against that, the rule is: the
            /// tenth counted failure in a row locks for exactly 15 minutes, a complete
            /// login clears the count and the lock, and a lock that ended is forgotten.
            #[test]
            fn the_lock_follows_the_documented_rule(start in 0..HORIZON, attempts in attempts()) {
                let mut p = profile();
                let (mut streak, mut until): (u32, Option<i64>) = (0, None);
                let mut now = Instant(start);
                for (gap, attempt) in attempts {
                    now = Instant(now.0 + gap);
                    let locked = until.filter(|u| *u > now.0);
                    prop_assert_eq!(
                        p.locked_for(now),
                        locked.map(|u| u64::try_from((u - now.0 + 999) / 1000).unwrap())
                    );
                    if locked.is_some() {
                        continue;
                    }
                    match attempt {
                        Attempt::Failure => {
                            p.record_failure(now);
                            streak += 1;
                            if streak == MAX_FAILURES {
                                (streak, until) = (0, Some(now.0 + LOCK_SECS * 1000));
                            }
                        }
                        Attempt::Success => {
                            p.record_success();
                            (streak, until) = (0, None);
                        }
                    }
                    prop_assert_eq!(p.failed_attempts, streak);
                    prop_assert!(p.failed_attempts < MAX_FAILURES);
                }
            }

            #[test]
            fn fewer_failures_than_the_threshold_never_lock(
                start in 0..HORIZON,
                gaps in proptest::collection::vec(0i64..HORIZON / 100, 0..MAX_FAILURES as usize),
                later in 0i64..HORIZON,
            ) {
                let mut p = profile();
                let mut now = Instant(start);
                for gap in gaps {
                    now = Instant(now.0 + gap);
                    p.record_failure(now);
                    prop_assert_eq!(p.locked_for(now), None);
                }
                prop_assert_eq!(p.locked_for(Instant(now.0 + later)), None);
            }

            /// `Retry-After` is the lock's end to the second, rounded up: waiting that long
            /// always finds the account open, a second less never does.
            #[test]
            fn a_lock_ends_when_it_says((p, now) in any_state()) {
                if let Some(secs) = p.locked_for(now) {
                    let secs = i64::try_from(secs).unwrap();
                    prop_assert!(secs >= 1);
                    prop_assert_eq!(p.locked_for(now.plus_secs(secs)), None);
                    prop_assert!(p.locked_for(now.plus_secs(secs - 1)).is_some());
                }
            }

            #[test]
            fn time_only_shortens_a_lock((p, now) in any_state(), later in 0i64..HORIZON) {
                let then = Instant(now.0.saturating_add(later));
                prop_assert!(p.locked_for(then) <= p.locked_for(now));
            }

            /// A failure never lifts or shortens a lock, and never unlocks what was locked.
            #[test]
            fn a_failure_never_shortens_a_lock((mut p, now) in any_state(), later in 0i64..HORIZON) {
                let then = Instant(now.0.saturating_add(later));
                let before = (p.locked_for(now), p.locked_for(then));
                p.record_failure(now);
                prop_assert!(p.locked_for(now) >= before.0);
                prop_assert!(p.locked_for(then) >= before.1);
            }

            #[test]
            fn a_complete_login_clears_the_count_and_the_lock(
                (mut p, now) in any_state(),
                later in 0i64..HORIZON,
            ) {
                let had = p.failed_attempts != 0 || p.locked_until.is_some();
                prop_assert_eq!(p.record_success(), had);
                prop_assert_eq!(p.failed_attempts, 0);
                prop_assert_eq!(p.locked_for(now), None);
                prop_assert_eq!(p.locked_for(Instant(now.0 + later)), None);
                prop_assert!(!p.record_success(), "a second success changes nothing");
            }
        }
    }

    #[test]
    fn success_resets_the_count() {
        let mut p = profile();
        let now = Instant::from_secs(1000);
        for _ in 0..9 {
            p.record_failure(now);
        }
        assert!(p.record_success());
        p.record_failure(now);
        assert_eq!(p.locked_for(now), None);
        assert_eq!(p.failed_attempts, 1);
    }
}
