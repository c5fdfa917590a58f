//! A small software WebAuthn authenticator and client: P-256 (ring) keys, "none"
//! attestation, WebAuthn JSON in and out, as a browser would hand them to the server.
//!
//! Written here rather than taken from webauthn-authenticator-rs because the tests need
//! what its SoftPasskey cannot do: choose the signature counter, copy a key (a cloned
//! authenticator) and answer any challenge on demand. Being independent of webauthn-rs
//! (the server's verifier) is a plus: both sides follow the spec, not each other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::value::{Integer, Value as Cbor};
use ring::digest::{digest, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;
const ES256: i64 = -7;

#[allow(clippy::disallowed_methods)] // the test authenticator's own keys, not the service's
fn rng() -> SystemRandom {
    SystemRandom::new()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest(&SHA256, data).as_ref().to_vec()
}

#[derive(Clone)]
pub struct Credential {
    pub id: Vec<u8>,
    pkcs8: Vec<u8>,
    pub user_handle: Vec<u8>,
    /// The last signature counter used; the next assertion uses one more.
    pub counter: u32,
}

/// One authenticator (several credentials, one per relying-party account) with the
/// browser's part: client data with the origin, and the JSON encoding.
#[derive(Clone)]
pub struct SoftAuthenticator {
    pub origin: String,
    pub credentials: Vec<Credential>,
    /// Keeps discoverable (resident) credentials, and says so as a browser does (the
    /// `credProps` extension); it answers requests without `allowCredentials` only then.
    pub resident_keys: bool,
    /// Sets the UV flag (a PIN or biometric was checked) in what it signs.
    pub user_verification: bool,
}

/// What a browser does when the authenticator holds an excluded credential.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidStateError;

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        SoftAuthenticator {
            origin: origin.to_owned(),
            credentials: Vec::new(),
            resident_keys: false,
            user_verification: true,
        }
    }

    /// An authenticator that keeps passkeys: discoverable credentials, user verification.
    pub fn with_resident_keys(origin: &str) -> Self {
        SoftAuthenticator {
            resident_keys: true,
            ..SoftAuthenticator::new(origin)
        }
    }

    fn flags(&self) -> u8 {
        if self.user_verification {
            UP | UV
        } else {
            UP
        }
    }

    /// `navigator.credentials.get({publicKey})` without `allowCredentials` (a passkey
    /// sign-in): credential `index` answers, if this authenticator keeps resident keys.
    pub fn discover(&mut self, options: &Value, index: usize) -> Option<Value> {
        assert!(
            options.get("allowCredentials").is_none(),
            "a discoverable request names no credentials: {options}"
        );
        if !self.resident_keys || index >= self.credentials.len() {
            return None;
        }
        Some(self.get_with(options, index))
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// `navigator.credentials.create({publicKey})`, refusing like a browser when it holds
    /// a credential in `excludeCredentials`.
    pub fn create(&mut self, options: &Value) -> Result<Value, InvalidStateError> {
        let excluded = options["excludeCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for descriptor in excluded {
            let id = unb64(descriptor["id"].as_str().unwrap());
            if self.credentials.iter().any(|c| c.id == id) {
                return Err(InvalidStateError);
            }
        }
        Ok(self.create_ignoring_exclusions(options))
    }

    /// A client that ignores `excludeCredentials` (the server must still refuse).
    pub fn create_ignoring_exclusions(&mut self, options: &Value) -> Value {
        let (json, credential) = self.attest(options, None);
        if !self.credentials.iter().any(|c| c.id == credential.id) {
            self.credentials.push(credential);
        }
        json
    }

    /// Registers an existing credential again (same id and key) under new options.
    pub fn recreate(&mut self, options: &Value, credential: usize) -> Value {
        let existing = self.credentials[credential].clone();
        self.attest(options, Some(existing)).0
    }

    fn attest(&self, options: &Value, existing: Option<Credential>) -> (Value, Credential) {
        assert!(
            options["pubKeyCredParams"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["alg"] == ES256 && p["type"] == "public-key"),
            "ES256 offered: {options}"
        );
        let rp_id = options["rp"]["id"].as_str().unwrap();
        let challenge = options["challenge"].as_str().unwrap();
        let credential = existing.unwrap_or_else(|| {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng())
                .unwrap()
                .as_ref()
                .to_vec();
            let id = ring::rand::generate::<[u8; 32]>(&rng())
                .unwrap()
                .expose()
                .to_vec();
            Credential {
                id,
                pkcs8,
                user_handle: unb64(options["user"]["id"].as_str().unwrap()),
                counter: 0,
            }
        });
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &credential.pkcs8, &rng())
                .unwrap();
        let point = key.public_key().as_ref();
        assert_eq!((point.len(), point[0]), (65, 4), "uncompressed SEC1");
        let cose_key = Cbor::Map(vec![
            (int(1), int(2)),     // kty: EC2
            (int(3), int(ES256)), // alg
            (int(-1), int(1)),    // crv: P-256
            (int(-2), Cbor::Bytes(point[1..33].to_vec())),
            (int(-3), Cbor::Bytes(point[33..].to_vec())),
        ]);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags() | AT);
        auth_data.extend(credential.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID: none
        auth_data.extend(u16::try_from(credential.id.len()).unwrap().to_be_bytes());
        auth_data.extend(&credential.id);
        auth_data.extend(cbor(&cose_key));
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let client_data = self.client_data("webauthn.create", challenge);
        let mut json = json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&cbor(&attestation)),
                "clientDataJSON": b64(&client_data),
                "transports": ["usb"],
            },
        });
        if self.resident_keys {
            json["clientExtensionResults"] = json!({ "credProps": { "rk": true } });
        }
        (json, credential)
    }

    /// `navigator.credentials.get({publicKey})` with the first allowed credential held.
    pub fn get(&mut self, options: &Value) -> Value {
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| unb64(d["id"].as_str().unwrap()))
            .collect();
        let index = self
            .credentials
            .iter()
            .position(|c| allowed.contains(&c.id))
            .expect("the authenticator holds an allowed credential");
        self.get_with(options, index)
    }

    /// An assertion by credential `index`, whether allowed or not, counter advanced by one.
    pub fn get_with(&mut self, options: &Value, index: usize) -> Value {
        self.credentials[index].counter += 1;
        let counter = self.credentials[index].counter;
        self.sign(
            options["rpId"].as_str().unwrap(),
            options["challenge"].as_str().unwrap(),
            index,
            counter,
        )
    }

    /// An assertion over any challenge with a chosen counter (not stored).
    pub fn sign(&self, rp_id: &str, challenge: &str, index: usize, counter: u32) -> Value {
        let credential = &self.credentials[index];
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags());
        auth_data.extend(counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", challenge);
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &credential.pkcs8, &rng())
                .unwrap();
        let signature = key.sign(&rng(), &signed).unwrap();
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
        })
    }
}

/// Creation options as a registration would give them, for a credential of user `handle`
/// made outside the service (a stranger's key, or a handle nobody has).
pub fn creation_options(rp_id: &str, handle: &[u8]) -> Value {
    json!({
        "rp": { "id": rp_id, "name": "Latchkey" },
        "user": { "id": b64(handle), "name": "someone" },
        "challenge": "AAAA",
        "pubKeyCredParams": [{ "type": "public-key", "alg": ES256 }],
    })
}

fn int(n: i64) -> Cbor {
    Cbor::Integer(Integer::from(n))
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}
