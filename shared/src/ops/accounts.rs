//! Sign-up. MFA starts enabled with no device, so the first login asks for setup.

use crate::answers::Account;
use crate::app::App;
use crate::auth::Credentials;
use crate::domain::validate;
use crate::error::{Error, Result};
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
    };
    crate::txn::commit(app, vec![records::create(&profile)?], |_| {
        Error::UsernameTaken
    })
    .await?;
    Ok(Account { username })
}
