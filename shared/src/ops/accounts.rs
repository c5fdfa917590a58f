//! Sign-up, and the password change. MFA starts enabled with no device, so the first
//! login asks for setup.

use crate::answers::{Account, PasswordChanged};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::{index_entries, Caller, Credentials};
use crate::domain::{secrets_equal, validate};
use crate::error::{Error, Result};
use crate::ops::session;
use crate::records::{self, Profile};

pub async fn create(app: &App, request: Credentials) -> Result<Account> {
    let username = validate::username(&request.username)?;
    validate::new_password(&request.password, &username)?;
    let password_hash = app
        .passwords
        .hash(&request.password, app.rng.as_ref())
        .await?;
    let profile = Profile {
        username: username.clone(),
        password_hash,
        created_at: app.clock.now().millis(),
        mfa_enabled: true,
        devices: Vec::new(),
        recovery_codes: None,
        failed_attempts: 0,
        locked_until: None,
        recent_pushes: Vec::new(),
        webauthn_user_id: None,
        webauthn_user_indexed: false,
        session_generation: 0,
    };
    // The salted hash makes the profile this request's own.
    crate::txn::commit_unique(app, vec![records::create(&profile)?], |_| {
        Error::UsernameTaken
    })
    .await?;
    Ok(Account { username })
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordChangeRequest)]
pub struct PasswordChange {
    pub current_password: String,
    /// 8-256 characters (Unicode scalar values), not equal to the username ignoring case
    /// (else `400 weak_password`), and not the current password (else `409
    /// same_password`).
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

/// `PUT /v1/password`: the current password is judged as at login (a wrong one counts
/// toward the lock, and a decision taken after the lock is 429); the new one follows the
/// sign-up rules and must differ. In one write: the new hash, the event, the profile's
/// session generation bumped (every other session and login in progress ends at once, see
/// [`crate::ops::session::end_others`]) with the caller's session kept on it.
pub async fn change_password(
    app: &App,
    caller: &Caller,
    request: PasswordChange,
) -> Result<PasswordChanged> {
    let now = app.clock.now();
    validate::new_password(&request.new_password, &caller.username)?;
    let profile = caller.profile(app).await?;
    crate::txn::refuse_if_locked(&profile.value, now)?;
    let right = app
        .passwords
        .verify(
            &request.current_password,
            Some(&profile.value.password_hash),
        )
        .await?;
    if !right {
        return Err(crate::txn::password_failed(
            app,
            profile,
            now,
            Some("password check: change-password"),
        )
        .await);
    }
    if secrets_equal(
        request.new_password.as_bytes(),
        request.current_password.as_bytes(),
    ) {
        return Err(Error::SamePassword);
    }
    let new_hash = app
        .passwords
        .hash(&request.new_password, app.rng.as_ref())
        .await?;
    let entries = index_entries(app, &caller.username, session::SESSIONS_PAGE).await?;
    let event = audit::record(
        app,
        &caller.username,
        now,
        EventType::PasswordChanged,
        None,
        None,
    )?;
    let judged = profile.value.password_hash.clone();
    let (live, rest) = crate::txn::decide_unless_locked(
        app,
        profile,
        now,
        |stored| {
            // Changed by a concurrent request since it was judged: the password given
            // is no longer the current one.
            if stored.value.password_hash != judged {
                return Err(Error::InvalidCredentials);
            }
            let mut changed = stored.value.clone();
            changed.password_hash = new_hash.clone();
            let ended = session::end_others(app, caller, &mut changed, &entries, now)?;
            let mut writes = vec![stored.replace(&changed)?, event.clone()];
            writes.extend(ended.writes);
            Ok(((ended.live, ended.rest), writes))
        },
        // The caller's own session went meanwhile (signed out elsewhere).
        |_| Error::Unauthenticated,
    )
    .await?;
    session::finish_ending_others(app, rest).await;
    Ok(PasswordChanged {
        revoked_sessions: live,
    })
}
