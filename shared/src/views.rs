//! Answers that several operations give: a device as the settings page lists it, the
//! settings themselves, and what every registration confirm answers.

use crate::clock::Instant;
use crate::error::Result;
use crate::http::{self, Response};
use crate::records::{Device, DeviceType, Profile};
use lambda_http::Body;
use serde_json::{json, Value};

pub fn device_view(device: &Device) -> Value {
    let mut view = json!({
        "id": device.id,
        "type": device.secret.device_type().as_str(),
        "name": device.name,
        "created_at": Instant(device.created_at).rfc3339(),
        "last_used_at": device.last_used_at.map(|t| Instant(t).rfc3339()),
    });
    if let Some(warning) = &device.warning {
        view["warning"] = json!(warning);
    }
    view
}

pub fn settings_view(profile: &Profile) -> Value {
    json!({
        "mfa_enabled": profile.mfa_enabled,
        "mfa_setup_required": profile.setup_required(),
        "devices": profile.devices.iter().map(device_view).collect::<Vec<_>>(),
        "recovery_codes": {
            "remaining": profile.recovery_codes.as_ref().map_or(0, |c| c.hashes.len()),
            "generated_at": profile.recovery_codes.as_ref().map(|c| Instant(c.generated_at).rfc3339()),
        },
        "methods": DeviceType::ALL.iter().map(|kind| json!({
            "type": kind.as_str(),
            "registered": profile.count(*kind),
            "max": kind.max(),
        })).collect::<Vec<_>>(),
    })
}

/// A device just added by a registration confirm.
pub struct Confirmed {
    pub device: Device,
    /// Shown once: present only when this device was the first and no codes existed.
    pub recovery_codes: Option<Vec<String>>,
}

/// `201 {"device", "recovery_codes"?}`: the answer of every confirm.
pub fn confirmed_answer(confirmed: &Confirmed) -> Result<Response<Body>> {
    let mut body = json!({ "device": device_view(&confirmed.device) });
    if let Some(codes) = &confirmed.recovery_codes {
        body["recovery_codes"] = json!(codes);
    }
    http::json(201, &body)
}
