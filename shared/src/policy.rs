//! The policy table: what each operation asks of its caller, beside the route table and
//! enforced in one place ([`crate::routes`] dispatch, through [`crate::ops::sudo::enforce`]),
//! never by the operations themselves.
//!
//! Two questions per operation: which session may call it (none, any, or only a `full`
//! one), and whether the caller must have proven the password recently (sudo). A stolen
//! session token alone must never be enough to change how the account is protected, so
//! every action that adds a way in, or hands out bypass codes, asks for the password:
//!
//! ```text
//!            session ok? ──no──▶ 401 unauthenticated / 403 mfa_setup_required
//!                │
//!   re-authentication rule
//!     Never ─────────────────────────────────────────────▶ operation
//!     Password ── `password` in body right? ──yes─▶ mark session (5 min) ─▶ operation
//!                                              └──no──▶ 401 (counted toward the lock) / 429
//!     Recent ──── `password` in body? ──yes─▶ as Password
//!                   │no
//!                 session marked in the last 5 min? ──yes─▶ operation
//!                   │no
//!     (RecentOnceProtected: account has no device yet? ──yes─▶ operation)
//!                   ▼
//!          403 reauthentication_required
//! ```
//!
//! Signing in never marks a session: only a password given through it later does.

use crate::operation::Operation;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any session, including a `setup` one.
    Setup,
    /// A `full` session only.
    Full,
}

/// Whether the caller must have proven the password recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reauthentication {
    Never,
    /// A right `password` in the body, every time (the body requires the field).
    Password,
    /// A session re-authenticated in the last five minutes, or a right optional `password`
    /// in the body.
    Recent,
    /// As [`Reauthentication::Recent`], but only once the account has a device: a setup
    /// session registers the first one with no password asked again.
    RecentOnceProtected,
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub operation: Operation,
    pub access: Access,
    pub reauthentication: Reauthentication,
}

macro_rules! policy {
    ($op:ident, $access:ident, $reauth:ident) => {
        Policy {
            operation: Operation::$op,
            access: Access::$access,
            reauthentication: Reauthentication::$reauth,
        }
    };
}

pub const POLICIES: &[Policy] = &[
    policy!(CreateAccount, Public, Never),
    policy!(Login, Public, Never),
    policy!(LoginTotp, Public, Never),
    policy!(LoginRecoveryCode, Public, Never),
    policy!(LoginWebauthnStart, Public, Never),
    policy!(LoginWebauthnFinish, Public, Never),
    policy!(LoginPush, Public, Never),
    policy!(LoginPushStatus, Public, Never),
    policy!(Logout, Setup, Never),
    policy!(Me, Setup, Never),
    policy!(GetMfa, Setup, Never),
    policy!(Reauthenticate, Full, Password),
    policy!(RenameDevice, Full, Never),
    policy!(RemoveDevice, Full, Password),
    policy!(RegenerateRecoveryCodes, Full, Recent),
    policy!(UpdateMfaSettings, Full, Password),
    policy!(ListEvents, Full, Never),
    policy!(StartTotpRegistration, Setup, RecentOnceProtected),
    policy!(ConfirmTotpRegistration, Setup, Never),
    policy!(StartWebauthnRegistration, Setup, RecentOnceProtected),
    policy!(ConfirmWebauthnRegistration, Setup, Never),
    policy!(StartPushRegistration, Setup, RecentOnceProtected),
    policy!(PushEnroll, Public, Never),
    policy!(PushRespond, Public, Never),
    policy!(LoginPasskeyStart, Public, Never),
    policy!(LoginPasskeyFinish, Public, Never),
    policy!(ListSessions, Full, Never),
    policy!(RevokeSession, Full, Never),
    policy!(RevokeOtherSessions, Full, Never),
    // Judges `current_password` itself, counted toward the lock like any password check.
    policy!(ChangePassword, Full, Never),
    policy!(PushReport, Public, Never),
];

/// Refuses everything: what an operation missing from the table gets (a test keeps the
/// table complete, so only a bug reaches it).
const CLOSED: Policy = Policy {
    operation: Operation::Me,
    access: Access::Full,
    reauthentication: Reauthentication::Recent,
};

impl Operation {
    pub fn policy(self) -> &'static Policy {
        POLICIES
            .iter()
            .find(|p| p.operation == self)
            .unwrap_or(&CLOSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatever_changes_how_the_account_is_protected_asks_for_the_password() {
        use Operation as Op;
        for op in [
            Op::RemoveDevice,
            Op::RegenerateRecoveryCodes,
            Op::UpdateMfaSettings,
            Op::StartTotpRegistration,
            Op::StartWebauthnRegistration,
            Op::StartPushRegistration,
        ] {
            assert_ne!(
                op.policy().reauthentication,
                Reauthentication::Never,
                "{op:?}"
            );
        }
        for policy in POLICIES {
            if policy.access == Access::Public {
                assert_eq!(policy.reauthentication, Reauthentication::Never);
            }
        }
    }
}
