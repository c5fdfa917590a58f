//! The operations of the API, one per route: named here, below both the route table
//! ([`crate::routes`]) and the policy table ([`crate::policy`]), which each say something
//! about every one of them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateAccount,
    Login,
    LoginTotp,
    LoginRecoveryCode,
    LoginWebauthnStart,
    LoginWebauthnFinish,
    LoginPush,
    LoginPushStatus,
    Logout,
    Me,
    GetMfa,
    Reauthenticate,
    RenameDevice,
    RemoveDevice,
    RegenerateRecoveryCodes,
    UpdateMfaSettings,
    ListEvents,
    StartTotpRegistration,
    ConfirmTotpRegistration,
    StartWebauthnRegistration,
    ConfirmWebauthnRegistration,
    StartPushRegistration,
    PushEnroll,
    PushRespond,
    LoginPasskeyStart,
    LoginPasskeyFinish,
    ListSessions,
    RevokeSession,
    RevokeOtherSessions,
    ChangePassword,
    PushReport,
}
