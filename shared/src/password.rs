//! Argon2id password hashing. Hashing runs on the blocking pool: at the OWASP parameters
//! one hash is ~50 ms of CPU, which would stall every other request on the same runtime.

use crate::config::Argon2Params;
use crate::error::{Error, Result};
use crate::random::{bytes, Random};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of nothing anyone knows, at the configured cost: unknown users are verified
    /// against it so a wrong username takes as long as a wrong password.
    dummy: String,
}

impl PasswordHasher {
    pub fn new(config: Argon2Params, rng: &dyn Random) -> Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|_| Error::internal("argon2 refused the configured parameters"))?;
        // Built by hand rather than hashed: costs nothing at cold start, and verifying
        // against it runs the full argon2 computation all the same.
        let dummy = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            config.memory_kib,
            config.iterations,
            config.parallelism,
            STANDARD_NO_PAD.encode(bytes::<16>(rng)?),
            STANDARD_NO_PAD.encode(bytes::<32>(rng)?),
        );
        Ok(PasswordHasher { params, dummy })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub async fn hash(&self, password: &str, rng: &dyn Random) -> Result<String> {
        let salt = bytes::<16>(rng)?;
        let password = password.to_owned();
        let argon2 = self.argon2();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt)
                .map_err(|_| Error::internal("argon2 refused a salt"))?;
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| Error::internal("argon2 could not hash"))
        })
        .await
        .map_err(|_| Error::internal("the password hashing task failed"))?
    }

    /// True when `password` matches `stored`; `None` for `stored` checks the dummy hash and
    /// is always false. The parameters come from the stored hash, so raising the configured
    /// cost never locks out users whose hashes predate it.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy).to_owned();
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|_| Error::internal("a stored password hash is not a PHC string"))?;
            Ok::<_, Error>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(|_| Error::internal("the password hashing task failed"))??;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hashes_argon2id_and_verifies() {
        let rng = SeededRandom::new(1);
        let hasher = PasswordHasher::new(CHEAP, &rng).unwrap();
        let hash = hasher.hash("correct horse", &rng).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct hors", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_check_runs_and_fails() {
        let rng = SeededRandom::new(2);
        let hasher = PasswordHasher::new(CHEAP, &rng).unwrap();
        assert!(PasswordHash::new(&hasher.dummy).is_ok());
        assert!(!hasher.verify("anything", None).await.unwrap());
    }

    #[test]
    fn dummy_hash_carries_the_configured_cost() {
        let hasher = PasswordHasher::new(Argon2Params::OWASP, &SeededRandom::new(3)).unwrap();
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
