//! The state file: the device key and what the agent learned at enrollment.
//!
//! The file holds the device's private key, so it is created 0600 inside a 0700
//! directory, replaced atomically (a crash never leaves half a key), and refused when
//! group or others can read it, as ssh does with private keys.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use reqwest::Url;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, b64url_decode, random_token, DeviceKey};
use crate::error::{Error, Result};

const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// API base URL, without `/v1`.
    pub api: String,
    /// `None` between writing the key and the server's 201.
    pub device_id: Option<String>,
    pub username: String,
    pub issuer: String,
    pub name: Option<String>,
    /// Server Ed25519 public key, base64url.
    pub server_key: String,
    /// Device P-256 key, PKCS#8 DER, base64url.
    pub device_key: String,
    /// Where SNS delivers (the `endpoint` sent at enrollment).
    pub endpoint: String,
    /// Address the SNS listener binds by default.
    pub listen: Option<String>,
    /// The push topic the server named in its enrollment answer: deliveries (and
    /// subscription confirmations) from any other topic are refused. Missing in state
    /// files written before the agent recorded it: then every delivery is refused
    /// until the device is enrolled again.
    #[serde(default)]
    pub topic_arn: Option<String>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("api", &self.api)
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint)
            .field("topic_arn", &self.topic_arn)
            .finish_non_exhaustive()
    }
}

pub struct NewState<'a> {
    pub api: &'a Url,
    pub username: &'a str,
    pub issuer: &'a str,
    pub name: Option<&'a str>,
    pub server_key: &'a [u8; 32],
    pub device_key: &'a DeviceKey,
    pub endpoint: &'a Url,
    pub listen: Option<String>,
}

impl State {
    pub fn new(n: NewState<'_>) -> Self {
        State {
            version: FORMAT_VERSION,
            api: n.api.as_str().to_owned(),
            device_id: None,
            username: n.username.to_owned(),
            issuer: n.issuer.to_owned(),
            name: n.name.map(str::to_owned),
            server_key: b64url(n.server_key),
            device_key: b64url(n.device_key.pkcs8()),
            endpoint: n.endpoint.as_str().to_owned(),
            listen: n.listen,
            topic_arn: None,
        }
    }

    pub fn device_key(&self, path: &Path, rng: &SystemRandom) -> Result<DeviceKey> {
        let der = b64url_decode(&self.device_key)
            .ok_or_else(|| Error::state(path, "device_key is not base64url"))?;
        DeviceKey::from_pkcs8(&der, rng)
            .map_err(|_| Error::state(path, "device_key is not a P-256 key"))
    }

    pub fn server_key(&self, path: &Path) -> Result<[u8; 32]> {
        b64url_decode(&self.server_key)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::state(path, "server_key is not an Ed25519 public key"))
    }

    pub fn api(&self, path: &Path) -> Result<Url> {
        Url::parse(&self.api).map_err(|_| Error::state(path, "api is not a URL"))
    }
}

/// `$XDG_STATE_HOME/latchkey-push/state.json`, else `~/.local/state/latchkey-push/state.json`.
pub fn default_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        // The XDG spec says relative values are invalid and must be ignored.
        Some(dir) if dir.is_absolute() => dir,
        _ => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute())
                .ok_or_else(|| {
                    Error::InvalidArgument(
                        "neither XDG_STATE_HOME nor HOME is set; pass --state".to_owned(),
                    )
                })?;
            home.join(".local").join("state")
        }
    };
    Ok(base.join("latchkey-push").join("state.json"))
}

/// The control-channel file lives beside the state file, named after it, so several
/// agents (one per state file) can share a directory.
pub fn control_path(state_path: &Path) -> PathBuf {
    let mut name = state_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "state.json".into());
    name.push(".control");
    state_path.with_file_name(name)
}

pub fn load(path: &Path) -> Result<State> {
    let text = read_private(path)?;
    let state: State = serde_json::from_str(&text)
        .map_err(|e| Error::state(path, format!("not valid JSON ({})", json_position(&e))))?;
    if state.version != FORMAT_VERSION {
        return Err(Error::state(
            path,
            format!("unsupported format version {}", state.version),
        ));
    }
    Ok(state)
}

pub fn save(path: &Path, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state)
        .map_err(|_| Error::state(path, "could not serialise"))?;
    write_private(path, text.as_bytes())
}

/// Reads a file that must be private to its owner.
pub fn read_private(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    check_private(path, &meta)?;
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::state(
            path,
            format!(
                "it is readable by other users (mode {:o}); run chmod 600 on it",
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<()> {
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600, creating the parent directory
/// with mode 0700 if it is missing.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| Error::io("create directory", &dir, e))?;
    }

    let suffix = random_token(&crate::crypto::system_random())?;
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", &suffix[..12]));
    let tmp = dir.join(tmp_name);

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Set at creation, not chmod'ed afterwards: no window where the key is readable.
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("replace", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Line and column only: serde's message may quote the key material.
fn json_position(e: &serde_json::Error) -> String {
    format!("line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rng: &SystemRandom) -> (State, DeviceKey) {
        let key = DeviceKey::generate(rng).unwrap();
        let api = Url::parse("http://localhost:8080").unwrap();
        let endpoint = Url::parse("http://127.0.0.1:9000/sns").unwrap();
        let state = State::new(NewState {
            api: &api,
            username: "alice",
            issuer: "Latchkey",
            name: Some("laptop"),
            server_key: &[3u8; 32],
            device_key: &key,
            endpoint: &endpoint,
            listen: Some("127.0.0.1:9000".to_owned()),
        });
        (state, key)
    }

    #[cfg(unix)]
    #[test]
    fn state_file_is_created_0600_in_a_0700_dir() {
        use std::os::unix::fs::PermissionsExt as _;
        let rng = crate::crypto::system_random();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("nested").join("state.json");
        let (state, key) = sample(&rng);
        save(&path, &state).unwrap();

        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);

        let loaded = load(&path).unwrap();
        assert_eq!(
            loaded.device_key(&path, &rng).unwrap().public_key(),
            key.public_key()
        );
        assert_eq!(loaded.server_key(&path).unwrap(), [3u8; 32]);
        assert!(!format!("{loaded:?}").contains(&loaded.device_key));

        // Overwriting keeps the mode and leaves no temporary files behind.
        save(&path, &loaded).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_state_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let rng = crate::crypto::system_random();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state.json");
        save(&path, &sample(&rng).0).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&path), Err(Error::State { .. })));
    }

    #[test]
    fn control_file_sits_beside_the_state_file() {
        assert_eq!(
            control_path(Path::new("/x/y/agent-a.json")),
            PathBuf::from("/x/y/agent-a.json.control")
        );
    }
}
