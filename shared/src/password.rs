//! Argon2id password hashing. Hashing runs on the blocking pool: at the OWASP parameters
//! one hash is tens of milliseconds of CPU, which would stall every other request on the
//! same runtime.
//!
//! Argon2's working memory (`m` KiB: 19 MiB at the OWASP cost) is kept between hashes in a
//! small pool and wiped after each, rather than allocated and freed per hash as
//! `argon2`'s `PasswordHasher` does. A freed 19 MiB goes back to the kernel, so every hash
//! took ~4 900 page faults to get it back, a third of the hash's time in a VM (this
//! machine's, Lambda's): docs/performance.md, "Argon2: its working memory is kept between
//! hashes", has the figures against the reference C implementation.
//! The PHC strings are the ones `argon2`'s own API writes and reads, byte for byte
//! (tests below, against hashes of the reference C implementation).

use crate::config::Argon2Params;
use crate::error::{Error, Result};
use crate::random::{bytes, Random};
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of nothing anyone knows, at the configured cost: unknown users are verified
    /// against it so a wrong username takes as long as a wrong password.
    dummy: String,
    memory: Arc<Memory>,
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
        let memory = Arc::new(Memory::new(params.block_count()));
        Ok(PasswordHasher {
            params,
            dummy,
            memory,
        })
    }

    pub async fn hash(&self, password: &str, rng: &dyn Random) -> Result<String> {
        let salt = bytes::<16>(rng)?;
        let password = password.to_owned();
        let params = self.params.clone();
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt)
                .map_err(|_| Error::internal("argon2 refused a salt"))?;
            hash_phc(&memory, password.as_bytes(), salt.as_salt(), params)
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
        let memory = self.memory.clone();
        let matched = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|_| Error::internal("a stored password hash is not a PHC string"))?;
            Ok::<_, Error>(verify_phc(&memory, password.as_bytes(), &parsed))
        })
        .await
        .map_err(|_| Error::internal("the password hashing task failed"))??;
        Ok(known && matched)
    }
}

/// What `Argon2::hash_password` does (argon2id, v19, the PHC string it writes), in
/// pooled memory.
fn hash_phc(memory: &Memory, password: &[u8], salt: Salt<'_>, params: Params) -> Result<String> {
    let fail = |_| Error::internal("argon2 could not hash");
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(fail)?;
    let phc_params = ParamsString::try_from(&params).map_err(fail)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        memory
            .with(argon2.params().block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password, salt_bytes, out, blocks)
            })
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(fail)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: phc_params,
        salt: Some(salt),
        hash: Some(output),
    }
    .to_string())
}

/// What `Argon2::default().verify_password` does, in pooled memory: algorithm, version,
/// parameters and output length from the stored hash, and `Output`'s constant-time
/// comparison. Anything argon2 refuses is a mismatch, as there.
fn verify_phc(memory: &Memory, password: &[u8], stored: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let Ok(version) = stored.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let computed = Output::init_with(expected.len(), |out| {
        memory
            .with(argon2.params().block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password, salt_bytes, out, blocks)
            })
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    matches!(computed, Ok(computed) if computed == expected)
}

/// Argon2 working memory, reused: up to `KEEP` buffers of at most the configured cost's
/// size, each wiped as soon as its hash is done (it held state derived from the password).
/// A stored hash costlier than the configuration gets a buffer of its own, wiped and freed
/// after use.
struct Memory {
    keep_blocks: usize,
    free: Mutex<Vec<Vec<Block>>>,
}

/// Buffers kept: more hashes than cores at once only queue for the CPU.
const KEEP: usize = 4;

impl Memory {
    fn new(keep_blocks: usize) -> Self {
        Memory {
            keep_blocks,
            free: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, blocks: usize, run: impl FnOnce(&mut [Block]) -> T) -> T {
        let pooled = blocks <= self.keep_blocks;
        let mut buffer = match self.free.lock() {
            Ok(mut free) if pooled => free.pop().unwrap_or_default(),
            _ => Vec::new(),
        };
        // Argon2 writes every block before it reads it: a buffer needs no clearing first.
        buffer.resize(blocks, Block::new());
        let result = run(&mut buffer);
        buffer.fill(Block::new());
        // The wipe must happen even for a buffer freed next: keep the stores observable.
        std::hint::black_box(&mut buffer);
        if pooled {
            if let Ok(mut free) = self.free.lock() {
                if free.len() < KEEP {
                    free.push(buffer);
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// Made by the reference C implementation (argon2-cffi 25.1.0, argon2-cffi-bindings
    /// 26.2.0): `hash_secret(PASSWORD, b"latchkey-salt-16", type=ID, hash_len=32, ...)` at
    /// the OWASP cost and at 64 KiB, t=1.
    const PASSWORD: &str = "correct horse battery staple";
    const SALT: &[u8; 16] = b"latchkey-salt-16";
    const C_OWASP: &str = "$argon2id$v=19$m=19456,t=2,p=1$bGF0Y2hrZXktc2FsdC0xNg$0i6qoCqmsTKugD88rTsALppKlD8wbk0ic5BGcZY/mO4";
    const C_CHEAP: &str = "$argon2id$v=19$m=64,t=1,p=1$bGF0Y2hrZXktc2FsdC0xNg$X/GMTCh6WZDE+QMivI0gDBHbbAH6NcIqJBwNLULKMFw";

    /// Every draw is `SALT`, so the hash's salt is known.
    struct FixedSalt;
    impl Random for FixedSalt {
        fn fill(&self, dest: &mut [u8]) -> Result<()> {
            for (byte, salt) in dest.iter_mut().zip(SALT.iter().cycle()) {
                *byte = *salt;
            }
            Ok(())
        }
    }

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
    async fn hashes_are_the_reference_implementations_strings() {
        for (cost, expected) in [(CHEAP, C_CHEAP), (Argon2Params::OWASP, C_OWASP)] {
            let hasher = PasswordHasher::new(cost, &FixedSalt).unwrap();
            assert_eq!(hasher.hash(PASSWORD, &FixedSalt).await.unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn verifies_hashes_of_the_reference_implementation() {
        // Configured cheaper than the stored hash: its own parameters are used.
        let hasher = PasswordHasher::new(CHEAP, &SeededRandom::new(4)).unwrap();
        for stored in [C_CHEAP, C_OWASP] {
            assert!(hasher.verify(PASSWORD, Some(stored)).await.unwrap());
            assert!(!hasher.verify("correct horse", Some(stored)).await.unwrap());
        }
        // Refused by argon2 (salt too short, unknown parameter): a mismatch, not an error.
        for odd in [
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$X/GMTCh6WZDE+QMivI0gDBHbbAH6NcIqJBwNLULKMFw",
            "$argon2id$v=19$m=64,t=1,p=1,x=1$bGF0Y2hrZXktc2FsdC0xNg$X/GMTCh6WZDE+QMivI0gDBHbbAH6NcIqJBwNLULKMFw",
            "$argon2id$v=19$m=64,t=1,p=1$bGF0Y2hrZXktc2FsdC0xNg",
        ] {
            assert!(!hasher.verify(PASSWORD, Some(odd)).await.unwrap(), "{odd}");
        }
    }

    #[tokio::test]
    async fn agrees_with_argon2s_own_password_hash_api() {
        // The API this module used before pooling memory, and may still find in hashes.
        let rng = SeededRandom::new(5);
        let hasher = PasswordHasher::new(CHEAP, &rng).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone());
        for round in 0..4 {
            let ours = hasher.hash("correct horse", &rng).await.unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            let theirs = argon2
                .hash_password(b"correct horse", parsed.salt.unwrap())
                .unwrap()
                .to_string();
            assert_eq!(ours, theirs, "round {round}");
            assert!(Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok());
            assert!(hasher.verify("correct horse", Some(&theirs)).await.unwrap());
        }
        // Stored by another variant or version, as argon2 verifies them.
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x10),
        ] {
            let other = Argon2::new(algorithm, version, hasher.params.clone())
                .hash_password(
                    b"correct horse",
                    SaltString::encode_b64(SALT).unwrap().as_salt(),
                )
                .unwrap()
                .to_string();
            assert!(hasher.verify("correct horse", Some(&other)).await.unwrap());
            assert!(!hasher.verify("correct hors", Some(&other)).await.unwrap());
        }
    }

    #[tokio::test]
    async fn memory_is_reused_bounded_and_wiped() {
        let rng = SeededRandom::new(6);
        let hasher = PasswordHasher::new(CHEAP, &rng).unwrap();
        hasher.hash("correct horse", &rng).await.unwrap();
        // A stored hash costlier than the configuration: its buffer is not kept.
        assert!(hasher.verify(PASSWORD, Some(C_OWASP)).await.unwrap());
        let free = hasher.memory.free.lock().unwrap();
        assert_eq!(free.len(), 1);
        assert_eq!(free[0].len(), 64);
        assert!(free[0]
            .iter()
            .all(|block| block.as_ref().iter().all(|word| *word == 0)));
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
