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
