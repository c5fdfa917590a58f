//! Persisted records: what the store keeps, kept apart from the API's request and answer
//! types so either can change without silently changing the other.
//!
//! Keys follow the one-table layout of docs/design.md ("One table"). Times are milliseconds
//! since the epoch.

use crate::error::{Error, Result};
use crate::store::{Expect, Item, Key, Store, Write};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, Uuid,
};

pub const EVENT_RETENTION_SECS: i64 = 365 * 24 * 3600;

pub fn profile_key(username: &str) -> Key {
    Key::new(format!("USER#{username}"), "PROFILE")
}
/// The public id of the session whose token's secret hashes to `token_hash`: a one-way
/// function of that hash, so the id (shown to the user, used in `DELETE /v1/sessions/{id}`)
/// can never be turned back into a token. Items are keyed by it, so a session can be
/// found and revoked from its id alone.
pub fn session_id(token_hash: &str) -> String {
    let digest = crate::domain::sha256_hex(format!("latchkey session id\n{token_hash}").as_bytes());
    digest[..32].to_owned()
}
pub fn session_key(token_hash: &str) -> Key {
    session_key_by_id(&session_id(token_hash))
}
pub fn session_key_by_id(id: &str) -> Key {
    Key::new(format!("SESSION#{id}"), "SESSION")
}
pub fn mfa_key(token_hash: &str) -> Key {
    Key::new(format!("MFA#{token_hash}"), "MFA")
}
pub fn registration_key(id: &str) -> Key {
    Key::new(format!("REG#{id}"), "REG")
}
pub fn push_key(id: &str) -> Key {
    Key::new(format!("PUSH#{id}"), "PUSH")
}
/// A passkey sign-in between its start and its finish, under its `login_id`.
pub fn passkey_login_key(login_id: &str) -> Key {
    Key::new(format!("PASSKEY#{login_id}"), "PASSKEY")
}
/// Which account a WebAuthn user handle names (see [`WebauthnUser`]).
pub fn webauthn_user_key(user_id: &Uuid) -> Key {
    Key::new(format!("WEBAUTHN#{}", user_id.simple()), "WEBAUTHN")
}
pub fn events_partition(username: &str) -> String {
    format!("USER#{username}")
}
pub const EVENT_PREFIX: &str = "EVENT#";
/// Sort-key prefix of a user's session index items (see [`SessionIndex`]).
pub const SESSION_INDEX_PREFIX: &str = "SESSION#";
pub fn session_index_key(username: &str, token_hash: &str) -> Key {
    session_index_key_by_id(username, &session_id(token_hash))
}
pub fn session_index_key_by_id(username: &str, id: &str) -> Key {
    Key::new(
        events_partition(username),
        format!("{SESSION_INDEX_PREFIX}{id}"),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Setup,
    Full,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Setup => "setup",
            Scope::Full => "full",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Webauthn,
    Totp,
    Push,
}

impl DeviceType {
    pub const ALL: [DeviceType; 3] = [DeviceType::Webauthn, DeviceType::Totp, DeviceType::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Webauthn => "webauthn",
            DeviceType::Totp => "totp",
            DeviceType::Push => "push",
        }
    }

    /// How many devices of this type one profile may hold.
    pub fn max(self) -> usize {
        match self {
            DeviceType::Webauthn => 10,
            DeviceType::Totp | DeviceType::Push => 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DeviceSecret {
    Totp {
        /// nonce ‖ AES-256-GCM(seed), base64url; bound to the username.
        sealed_seed: String,
        /// The last accepted time step: codes for it or earlier are replays.
        last_step: Option<u64>,
    },
    Webauthn {
        /// The public key credential with its signature counter and backup flags.
        credential: Passkey,
    },
    Push {
        /// Uncompressed SEC1 P-256 point, base64url.
        public_key: String,
        subscription_arn: Option<String>,
    },
}

impl DeviceSecret {
    pub fn device_type(&self) -> DeviceType {
        match self {
            DeviceSecret::Totp { .. } => DeviceType::Totp,
            DeviceSecret::Webauthn { .. } => DeviceType::Webauthn,
            DeviceSecret::Push { .. } => DeviceType::Push,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    #[serde(default)]
    pub warning: Option<String>,
    pub secret: DeviceSecret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCodes {
    /// HMAC-SHA256 of each unused normalised code, hex.
    pub hashes: Vec<String>,
    pub generated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
    pub mfa_enabled: bool,
    pub devices: Vec<Device>,
    pub recovery_codes: Option<RecoveryCodes>,
    pub failed_attempts: u32,
    pub locked_until: Option<i64>,
    /// Times of recent login pushes, for the per-account push rate limit.
    #[serde(default)]
    pub recent_pushes: Vec<i64>,
    /// The WebAuthn user handle: random, made on the first WebAuthn registration and kept,
    /// so it says nothing about the username.
    #[serde(default)]
    pub webauthn_user_id: Option<Uuid>,
    /// Whether the [`WebauthnUser`] item of `webauthn_user_id` exists. Handles made before
    /// passkey sign-in had none; it is written with the next write that can carry it (a
    /// WebAuthn registration's start, a WebAuthn second factor's success).
    #[serde(default)]
    pub webauthn_user_indexed: bool,
    /// Sessions and logins in progress are valid only while they carry this number: a
    /// password change or "sign out everywhere else" bumps it, which ends every other
    /// session at once (authentication reads the profile anyway), whether or not its
    /// items could be found and deleted, and however a login raced the change.
    #[serde(default)]
    pub session_generation: u32,
}

/// The lookup from a WebAuthn user handle (the `user.id` of the registration options, the
/// `userHandle` of a passkey's assertion) to its account: passkey sign-in knows no username.
/// Created once, with a conditional write, when the handle is; never changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebauthnUser {
    pub user_id: Uuid,
    pub username: String,
}

/// A passkey sign-in under way: the discoverable ceremony's challenge, server-side only,
/// spent by the one finish that reads it (success or refusal).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyLogin {
    pub login_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: DiscoverableAuthentication,
}

/// What webauthn-rs keeps private in a stored passkey, read from its persisted form (which
/// it must keep readable across versions): `cred.counter`, `cred.user_verified` and the
/// browser's `credProps` report, `cred.extensions.cred_props`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeyFacts {
    pub counter: u32,
    /// User verification was performed at registration.
    pub user_verified: bool,
    /// The browser reported a discoverable (resident) credential; `false` when it said
    /// otherwise or said nothing.
    pub discoverable: bool,
}

impl PasskeyFacts {
    pub fn of(passkey: &Passkey) -> Result<PasskeyFacts> {
        let value = serde_json::to_value(passkey).map_err(|_| unreadable())?;
        let cred = &value["cred"];
        let counter = cred["counter"]
            .as_u64()
            .and_then(|counter| u32::try_from(counter).ok())
            .ok_or_else(unreadable)?;
        let props = &cred["extensions"]["cred_props"];
        let reported = ["Unsigned", "Set", "Unsolicited"]
            .iter()
            .find_map(|state| props[state]["rk"].as_bool());
        Ok(PasskeyFacts {
            counter,
            user_verified: cred["user_verified"].as_bool().unwrap_or(false),
            discoverable: reported.unwrap_or(false),
        })
    }
}

fn unreadable() -> Error {
    Error::internal("a stored passkey has no readable signature counter")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: String,
    pub username: String,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: i64,
    /// Until when a right password, given through this session, vouches for it (sudo).
    #[serde(default)]
    pub reauthenticated_until: Option<i64>,
    /// The last request through it, written at most every few minutes (auth.rs).
    #[serde(default)]
    pub last_seen_at: i64,
    /// The request that created it: where from, and with what.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The profile's [`Profile::session_generation`] it belongs to.
    #[serde(default)]
    pub generation: u32,
}

/// Where a user's sessions can be found: sessions live under their token's hash, so this
/// item under the user's partition, written and deleted together with the session, is
/// what lets an operator revoke all of them. It expires with the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionIndex {
    pub username: String,
    pub token_hash: String,
    pub expires_at: i64,
    /// The session's scope, so that a first device can end the account's other setup
    /// sessions without reading each. Absent on items older than the field: unknown.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// What `GET /v1/sessions` shows, copied from the session so that one Query lists
    /// them; `last_seen_at` is rewritten with the session's.
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub last_seen_at: i64,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub generation: u32,
}

/// A login between the password and the second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaLogin {
    pub token_hash: String,
    pub username: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub failures: u32,
    pub pushes_sent: u32,
    /// The challenge of the WebAuthn login under way; one-time (see ops::webauthn).
    #[serde(default)]
    pub webauthn_state: Option<PasskeyAuthentication>,
    /// The profile's session generation when the password was judged: a password change
    /// in between ends this login too.
    #[serde(default)]
    pub generation: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PendingDevice {
    Totp {
        sealed_seed: String,
    },
    Webauthn {
        state: PasskeyRegistration,
    },
    Push {
        /// SHA-256 of the one-time enrollment secret, hex.
        secret_hash: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    pub username: String,
    /// The session that started it: a setup session becomes full when this confirms.
    pub session_hash: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub pending: PendingDevice,
    /// Spent registrations stay until they expire, so a second use can be told apart
    /// from an unknown id.
    #[serde(default)]
    pub used: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub username: String,
    pub at: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub device_id: Option<String>,
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The sort key of an event: time first, so a query on the prefix lists them in order.
pub fn event_key(username: &str, at: i64, id: &str) -> Key {
    Key::new(
        events_partition(username),
        format!("{EVENT_PREFIX}{at:015}#{id}"),
    )
}

/// Sort-key prefix of the marks left by reported notices (see [`NoticeReport`]).
pub const NOTICE_REPORT_PREFIX: &str = "NOTICE#";

/// Where the report of the notice about event (`at`, `id`) is kept.
pub fn notice_report_key(username: &str, at: i64, id: &str) -> Key {
    Key::new(
        events_partition(username),
        format!("{NOTICE_REPORT_PREFIX}{at:015}#{id}"),
    )
}

/// A security notice reported by its device ("this wasn't me"): created, never replaced,
/// in the same write as the report's effects, so a notice is reported once. It lives
/// as long as the notice could be reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeReport {
    pub username: String,
    /// The event the notice was about: its time and id.
    pub event_at: i64,
    pub event_id: String,
    pub device_id: String,
    pub reported_at: i64,
    pub expires_at: i64,
}

impl Record for NoticeReport {
    fn key(&self) -> Key {
        notice_report_key(&self.username, self.event_at, &self.event_id)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}

/// A record type and where it lives.
pub trait Record: Serialize + DeserializeOwned {
    fn key(&self) -> Key;
    /// When DynamoDB may drop it (Unix seconds); readers check expiry themselves.
    fn ttl(&self) -> Option<i64>;
}

fn ttl_from_millis(expires_at: i64) -> Option<i64> {
    Some(expires_at.div_euclid(1000) + 60)
}

impl Record for Profile {
    fn key(&self) -> Key {
        profile_key(&self.username)
    }
    fn ttl(&self) -> Option<i64> {
        None
    }
}
impl Record for Session {
    fn key(&self) -> Key {
        session_key(&self.token_hash)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}
impl Record for SessionIndex {
    fn key(&self) -> Key {
        session_index_key(&self.username, &self.token_hash)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}
impl Record for MfaLogin {
    fn key(&self) -> Key {
        mfa_key(&self.token_hash)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}
impl Record for Registration {
    fn key(&self) -> Key {
        registration_key(&self.id)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}
impl Record for WebauthnUser {
    fn key(&self) -> Key {
        webauthn_user_key(&self.user_id)
    }
    fn ttl(&self) -> Option<i64> {
        None
    }
}
impl Record for PasskeyLogin {
    fn key(&self) -> Key {
        passkey_login_key(&self.login_id)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}
impl Record for Event {
    fn key(&self) -> Key {
        event_key(&self.username, self.at, &self.id)
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.at.div_euclid(1000) + EVENT_RETENTION_SECS)
    }
}

/// A record as read, with the version a later write must still find.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub value: T,
    pub version: u64,
}

pub fn encode<T: Record>(value: &T, version: u64) -> Result<Item> {
    Ok(Item {
        key: value.key(),
        version,
        ttl: value.ttl(),
        body: serde_json::to_string(value).map_err(|e| {
            Error::internal(format!(
                "cannot serialise a {} record ({:?} error)",
                record_kind(&value.key()),
                e.classify()
            ))
        })?,
    })
}

/// What kind of record a key names (`PROFILE`, `SESSION`, `EVENT`, ...), for logs: never
/// the rest of a key, which may carry a token's hash.
fn record_kind(key: &Key) -> &str {
    key.sk.split('#').next().unwrap_or_default()
}

/// Reads a stored record. A failure names the record's kind and where its JSON broke, but
/// not serde's message, which can quote the stored value (a hash, a sealed seed).
pub fn decode<T: Record>(item: &Item) -> Result<Stored<T>> {
    let value = serde_json::from_str(&item.body).map_err(|e| {
        Error::internal(format!(
            "cannot read a stored {} record ({:?} error at line {}, column {})",
            record_kind(&item.key),
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    Ok(Stored {
        value,
        version: item.version,
    })
}

/// Creates a record that must not exist yet.
pub fn create<T: Record>(value: &T) -> Result<Write> {
    Ok(Write::Put {
        item: encode(value, 1)?,
        expect: Expect::Absent,
    })
}

impl<T: Record> Stored<T> {
    /// Replaces the record, provided nobody changed it since it was read.
    pub fn replace(&self, value: &T) -> Result<Write> {
        Ok(Write::Put {
            item: encode(value, self.version + 1)?,
            expect: Expect::Version(self.version),
        })
    }

    /// Deletes the record, provided nobody changed or spent it since it was read.
    pub fn consume(&self) -> Write {
        Write::Delete {
            key: self.value.key(),
            expect: Expect::Version(self.version),
        }
    }
}

pub async fn load<T: Record>(store: &dyn Store, key: &Key) -> Result<Option<Stored<T>>> {
    let item = store.get(key).await.map_err(Error::from)?;
    decode_found(item.as_ref())
}

/// The record in an item that may not exist.
pub fn decode_found<T: Record>(item: Option<&Item>) -> Result<Option<Stored<T>>> {
    item.map(decode).transpose()
}

/// Items known by key up front, read in one strongly consistent request and answered in
/// the order asked. They come undecoded: a caller may have to refuse on the first before
/// anything about the others is told.
pub async fn get_many<const N: usize>(
    store: &dyn Store,
    keys: [Key; N],
) -> Result<[Option<Item>; N]> {
    let items = store.get_many(&keys).await.map_err(Error::from)?;
    items.try_into().map_err(|items: Vec<_>| {
        Error::internal(format!(
            "the store answered a batch read of {N} with {} items",
            items.len()
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushStatus {
    Pending,
    Approved,
    Denied,
    /// Publishing failed: it never reached the device and can never be answered.
    Failed,
}

/// A login push (ops::push). Expiry is computed from `expires_at`, never stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    pub push_id: String,
    pub username: String,
    pub device_id: String,
    /// The login it belongs to: SHA-256 of its mfa_token, hex (the `MFA#` key).
    pub mfa_token_hash: String,
    /// 32 random bytes, base64url; the device signs its answer over it.
    pub challenge: String,
    /// SHA-256 of `push_id ‖ "\n" ‖ number`, hex.
    pub number_hash: String,
    pub status: PushStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub answered_at: Option<i64>,
}

impl Record for Push {
    fn key(&self) -> Key {
        push_key(&self.push_id)
    }
    fn ttl(&self) -> Option<i64> {
        ttl_from_millis(self.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_does_not_decode_is_named_by_kind_and_place_never_by_value() {
        let item = Item {
            key: session_key("4f1d0c9a"),
            version: 1,
            ttl: None,
            body: r#"{"token_hash":"4f1d0c9a","username":"alice","scope":"$argon2id$v=19$secret"}"#
                .to_owned(),
        };
        let Err(Error::Internal(cause)) = decode::<Session>(&item) else {
            panic!("a corrupt record must be an internal error");
        };
        assert!(
            cause.contains("SESSION") && cause.contains("line 1"),
            "{cause}"
        );
        for secret in ["argon2id", "secret", "4f1d0c9a", "alice"] {
            assert!(!cause.contains(secret), "{cause}");
        }
    }
}
