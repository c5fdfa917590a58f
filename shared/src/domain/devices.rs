//! A profile's devices: how many of a kind it holds, whether there is room for one more,
//! and whether the account still has to set up its first one.

use crate::error::{Error, Result};
use crate::records::{DeviceType, Profile};

impl Profile {
    /// MFA is on and there is no device to prove it with: the next login sets one up.
    pub fn setup_required(&self) -> bool {
        self.mfa_enabled && self.devices.is_empty()
    }

    pub fn count(&self, kind: DeviceType) -> usize {
        self.devices
            .iter()
            .filter(|d| d.secret.device_type() == kind)
            .count()
    }

    /// `409 method_limit_reached` when the profile holds its kind's maximum already.
    pub fn check_room(&self, kind: DeviceType) -> Result<()> {
        if self.count(kind) >= kind.max() {
            Err(Error::MethodLimitReached)
        } else {
            Ok(())
        }
    }
}
