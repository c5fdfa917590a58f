//! Signing out, and who the caller is.

use crate::answers::Me;
use crate::app::App;
use crate::auth::{revoke, Caller};
use crate::error::Result;
use crate::txn::{commit, contention};

pub async fn logout(app: &App, caller: &Caller) -> Result<()> {
    commit(app, revoke(&caller.session.value), contention).await
}

pub async fn me(app: &App, caller: &Caller) -> Result<Me> {
    let profile = caller.profile(app).await?;
    Ok(Me {
        mfa_enabled: profile.value.mfa_enabled,
        mfa_setup_required: profile.value.setup_required(),
        username: profile.value.username,
        scope: caller.scope().as_str(),
    })
}
