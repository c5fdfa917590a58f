//! Signing out, and who the caller is.

use crate::app::App;
use crate::auth::{revoke, Caller};
use crate::error::Result;
use crate::http::{self, Response};
use crate::txn::{commit, contention};
use lambda_http::Body;

pub async fn logout(app: &App, caller: &Caller) -> Result<Response<Body>> {
    commit(app, revoke(&caller.session.value), contention).await?;
    Ok(http::no_content())
}

pub async fn me(app: &App, caller: &Caller) -> Result<Response<Body>> {
    let profile = caller.profile(app).await?;
    http::json(
        200,
        &serde_json::json!({
            "username": profile.value.username,
            "mfa_enabled": profile.value.mfa_enabled,
            "mfa_setup_required": profile.value.setup_required(),
            "scope": caller.scope().as_str(),
        }),
    )
}
