//! Per-purpose keys derived from the one master secret with HKDF-SHA256, so no key ever
//! serves two purposes and compromising one derived key reveals nothing about the others.

use crate::error::{Error, Result};
use crate::random::Random;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::{aead, hkdf, hmac, signature};
use std::sync::OnceLock;

const SALT: &[u8] = b"latchkey-v1";

pub struct Keys {
    recovery_code_mac: hmac::Key,
    totp_seal: aead::LessSafeKey,
    push_seed: [u8; 32],
    /// Made from the seed on first use: deriving the public point is ~0.2 M instructions,
    /// a tenth of a function's init, and only the push routes sign.
    push_signing: OnceLock<signature::Ed25519KeyPair>,
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(prk: &hkdf::Prk, purpose: &'static str) -> Result<[u8; 32]> {
    let info = [purpose.as_bytes()];
    let okm = prk
        .expand(&info, Len(32))
        .map_err(|_| Error::internal("HKDF refused a key length"))?;
    let mut out = [0u8; 32];
    okm.fill(&mut out)
        .map_err(|_| Error::internal("HKDF refused a key length"))?;
    Ok(out)
}

impl Keys {
    pub fn derive(master_secret: &[u8]) -> Result<Keys> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(master_secret);
        let mac = derive(&prk, "recovery-code-hmac")?;
        let seal = derive(&prk, "totp-seed-seal")?;
        let push = derive(&prk, "push-message-signing")?;
        Ok(Keys {
            recovery_code_mac: hmac::Key::new(hmac::HMAC_SHA256, &mac),
            totp_seal: aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, &seal)
                    .map_err(|_| Error::internal("AES-256-GCM refused a derived key"))?,
            ),
            push_seed: push,
            push_signing: OnceLock::new(),
        })
    }

    /// Keyed hash of a normalised recovery code, hex.
    pub fn recovery_code_hash(&self, normalised: &str) -> String {
        hex::encode(hmac::sign(&self.recovery_code_mac, normalised.as_bytes()).as_ref())
    }

    /// AES-256-GCM with a random nonce; `context` (e.g. the username) is bound as associated
    /// data so a sealed seed copied to another profile does not open.
    pub fn seal(&self, nonce: [u8; 12], context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut buffer = plaintext.to_vec();
        self.totp_seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| Error::internal("AES-256-GCM sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    /// A TOTP seed sealed for `username`'s profile, base64url, with a fresh nonce.
    pub fn seal_seed(&self, rng: &dyn Random, username: &str, seed: &[u8]) -> Result<String> {
        let nonce = crate::random::bytes::<12>(rng)?;
        Ok(URL_SAFE_NO_PAD.encode(self.seal(nonce, username, seed)?))
    }

    /// The seed [`Keys::seal_seed`] sealed for `username`.
    pub fn open_seed(&self, username: &str, sealed: &str) -> Result<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| Error::internal("a sealed TOTP seed is not base64url"))?;
        self.open(username, &bytes)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 12 {
            return Err(Error::internal(
                "a sealed TOTP seed is shorter than its nonce",
            ));
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::internal("a sealed TOTP seed has a malformed nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .totp_seal
            .open_in_place(nonce, aead::Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| {
                Error::internal("a sealed TOTP seed does not open under this key and username")
            })?;
        Ok(plain.to_vec())
    }

    fn push_signing(&self) -> Result<&signature::Ed25519KeyPair> {
        if let Some(pair) = self.push_signing.get() {
            return Ok(pair);
        }
        let pair = signature::Ed25519KeyPair::from_seed_unchecked(&self.push_seed)
            .map_err(|_| Error::internal("the push signing seed is refused by Ed25519"))?;
        // A concurrent first use may have won; both made the same pair from the same seed.
        Ok(self.push_signing.get_or_init(|| pair))
    }

    pub fn push_sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        Ok(self.push_signing()?.sign(message).as_ref().to_vec())
    }

    pub fn push_public_key(&self) -> Result<Vec<u8>> {
        Ok(signature::KeyPair::public_key(self.push_signing()?)
            .as_ref()
            .to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_different_keys_and_derivation_is_stable() {
        let a = Keys::derive(&[7u8; 32]).unwrap();
        let b = Keys::derive(&[7u8; 32]).unwrap();
        let c = Keys::derive(&[8u8; 32]).unwrap();
        assert_eq!(a.recovery_code_hash("x"), b.recovery_code_hash("x"));
        assert_ne!(a.recovery_code_hash("x"), c.recovery_code_hash("x"));
        assert_eq!(a.push_public_key().unwrap(), b.push_public_key().unwrap());
        assert_ne!(a.push_public_key().unwrap(), c.push_public_key().unwrap());
    }

    #[test]
    fn sealed_seed_opens_only_with_its_context() {
        let keys = Keys::derive(&[1u8; 32]).unwrap();
        let sealed = keys.seal([3u8; 12], "alice", b"seed").unwrap();
        assert_eq!(keys.open("alice", &sealed).unwrap(), b"seed");
        assert!(keys.open("mallory", &sealed).is_err());
        let other = Keys::derive(&[2u8; 32]).unwrap();
        assert!(other.open("alice", &sealed).is_err());
    }

    #[test]
    fn push_signatures_verify_with_the_public_key() {
        let keys = Keys::derive(&[1u8; 32]).unwrap();
        let sig = keys.push_sign(b"payload").unwrap();
        let public =
            signature::UnparsedPublicKey::new(&signature::ED25519, keys.push_public_key().unwrap());
        assert!(public.verify(b"payload", &sig).is_ok());
        assert!(public.verify(b"payloaD", &sig).is_err());
    }

    mod properties {
        use super::*;
        use crate::random::SeededRandom;
        use proptest::prelude::*;
        use proptest::sample::Index;

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            /// A sealed TOTP seed opens to itself for its username, and not at all with a
            /// bit of it flipped, cut short, or for another username.
            #[test]
            fn a_sealed_seed_opens_only_unchanged_and_for_its_username(
                seed in proptest::collection::vec(any::<u8>(), 0..64),
                username in "[a-z0-9.@+_-]{3,20}",
                other in "[a-z0-9.@+_-]{3,20}",
                nonce_seed in any::<u64>(),
                at in any::<Index>(),
                flip in any::<bool>(),
            ) {
                let keys = Keys::derive(&[5u8; 32]).unwrap();
                let sealed = keys.seal_seed(&SeededRandom::new(nonce_seed), &username, &seed).unwrap();
                prop_assert_eq!(keys.open_seed(&username, &sealed).unwrap(), seed);
                if other != username {
                    prop_assert!(keys.open_seed(&other, &sealed).is_err());
                }
                let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
                if flip {
                    let bit = at.index(bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                } else {
                    bytes.truncate(at.index(bytes.len()));
                }
                prop_assert!(keys.open(&username, &bytes).is_err());
            }

            /// Whatever a stored sealed seed holds, opening it is an answer, never a panic.
            #[test]
            fn any_sealed_text_opens_or_is_refused(text in any::<String>()) {
                let keys = Keys::derive(&[5u8; 32]).unwrap();
                prop_assert!(keys.open_seed("alice", &text).is_err());
            }
        }
    }
}
