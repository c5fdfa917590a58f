//! Device key and server key. The exact strings they sign and verify are the wire
//! crate's (`latchkey-wire`, shared with the server), re-exported here; the tests below
//! check signatures over them with ring's verifier.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};

use crate::error::{Error, Result};

pub use latchkey_wire::{answer_message, enroll_message, notice_report_message, Decision};

/// The one place the agent creates ring's system randomness (the workspace's clippy
/// rule). ring's `SecureRandom` is sealed, so this is the only implementation anyway;
/// what the rule buys is that every use is visible as a parameter.
#[allow(clippy::disallowed_methods)]
pub fn system_random() -> SystemRandom {
    SystemRandom::new()
}

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    latchkey_wire::base64url::encode(bytes)
}

/// base64url, padded or not.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    latchkey_wire::base64url::decode(text)
}

/// The device's P-256 signing key. Debug is redacted so the key cannot leak
/// through a stray `{:?}` in a log line.
pub struct DeviceKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("public_key", &self.public_key_b64())
            .finish_non_exhaustive()
    }
}

impl Drop for DeviceKey {
    fn drop(&mut self) {
        // Best effort: ring keeps its own copy we cannot reach, but ours need not linger.
        self.pkcs8.iter_mut().for_each(|b| *b = 0);
    }
}

impl DeviceKey {
    pub fn generate(rng: &SystemRandom) -> Result<Self> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, rng)
            .map_err(|_| Error::Crypto("could not generate a P-256 key"))?;
        Self::from_pkcs8(pkcs8.as_ref(), rng)
    }

    pub fn from_pkcs8(pkcs8: &[u8], rng: &SystemRandom) -> Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, rng)
            .map_err(|_| Error::Crypto("the stored device key is not a P-256 PKCS#8 key"))?;
        Ok(DeviceKey {
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Uncompressed SEC1 point (0x04 || X || Y), as the server expects it.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn public_key_b64(&self) -> String {
        b64url(self.public_key())
    }

    /// ECDSA P-256 SHA-256, ASN.1 DER, base64url.
    pub fn sign(&self, rng: &SystemRandom, message: &[u8]) -> Result<String> {
        let sig = self
            .pair
            .sign(rng, message)
            .map_err(|_| Error::Crypto("could not sign with the device key"))?;
        Ok(b64url(sig.as_ref()))
    }
}

/// Verifies the server's Ed25519 signature (base64url) over `message`.
pub fn verify_server_signature(server_key: &[u8], message: &[u8], signature_b64: &str) -> bool {
    let Some(sig) = b64url_decode(signature_b64) else {
        return false;
    };
    signature::UnparsedPublicKey::new(&signature::ED25519, server_key)
        .verify(message, &sig)
        .is_ok()
}

/// A fresh 256-bit random token, base64url.
pub fn random_token(rng: &SystemRandom) -> Result<String> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| Error::Crypto("the system random generator failed"))?;
    Ok(b64url(&bytes))
}

/// Comparison whose time does not depend on where the inputs differ (only on length,
/// which is public for our tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_p256(public_key: &[u8], message: &str, sig_b64: &str) -> bool {
        let sig = b64url_decode(sig_b64).expect("signature is base64url");
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, public_key)
            .verify(message.as_bytes(), &sig)
            .is_ok()
    }

    #[test]
    fn enroll_signature_verifies_over_the_exact_string() {
        let rng = system_random();
        let key = DeviceKey::generate(&rng).unwrap();
        let pk = key.public_key_b64();
        assert_eq!(key.public_key().len(), 65);
        assert_eq!(key.public_key()[0], 0x04, "uncompressed SEC1 point");
        assert!(!pk.contains('='), "no padding");

        let msg = enroll_message("reg-123", &pk);
        assert_eq!(msg, format!("latchkey-enroll-v1\nreg-123\n{pk}"));
        let sig = key.sign(&rng, msg.as_bytes()).unwrap();
        assert!(verify_p256(key.public_key(), &msg, &sig));
        assert!(!verify_p256(
            key.public_key(),
            &enroll_message("reg-124", &pk),
            &sig
        ));
    }

    #[test]
    fn answer_signature_verifies_over_the_exact_string() {
        let rng = system_random();
        let key = DeviceKey::generate(&rng).unwrap();

        let approve = answer_message("p1", "Y2hhbGxlbmdl", Decision::Approve, Some("123456"));
        assert_eq!(
            approve,
            "latchkey-push-v1\np1\nY2hhbGxlbmdl\napprove\n123456"
        );
        let sig = key.sign(&rng, approve.as_bytes()).unwrap();
        assert!(verify_p256(key.public_key(), &approve, &sig));

        let deny = answer_message("p1", "Y2hhbGxlbmdl", Decision::Deny, None);
        assert_eq!(deny, "latchkey-push-v1\np1\nY2hhbGxlbmdl\ndeny\n");
        assert!(!verify_p256(key.public_key(), &deny, &sig));
    }

    #[test]
    fn key_round_trips_through_pkcs8() {
        let rng = system_random();
        let key = DeviceKey::generate(&rng).unwrap();
        let again = DeviceKey::from_pkcs8(key.pkcs8(), &rng).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert!(DeviceKey::from_pkcs8(b"not a key", &rng).is_err());
        assert!(!format!("{key:?}").contains(&b64url(key.pkcs8())));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
