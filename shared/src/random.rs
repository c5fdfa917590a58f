//! Randomness as a parameter, so tests can make it repeatable where they need to.

use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Mutex;

pub trait Random: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<()>;
}

pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    #[allow(clippy::disallowed_methods)] // the one sanctioned source of OS randomness
    pub fn new() -> Self {
        SystemRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        ring::rand::SecureRandom::fill(&self.0, dest)
            .map_err(|_| Error::internal("the OS random source failed"))
    }
}

/// Deterministic bytes (SHA-256 in counter mode over a seed): tests only, never production.
pub struct SeededRandom(Mutex<(u64, [u8; 32])>);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, &seed.to_le_bytes());
        let mut state = [0u8; 32];
        state.copy_from_slice(digest.as_ref());
        SeededRandom(Mutex::new((0, state)))
    }

    /// How many blocks have been drawn: with [`SeededRandom::rewind`], a test replays a
    /// request with the very bytes it drew before.
    pub fn position(&self) -> u64 {
        self.0.lock().map(|guard| guard.0).unwrap_or_default()
    }

    pub fn rewind(&self, position: u64) {
        if let Ok(mut guard) = self.0.lock() {
            guard.0 = position;
        }
    }
}

impl Random for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        let mut guard = self
            .0
            .lock()
            .map_err(|_| Error::internal("the random source's lock is poisoned"))?;
        for chunk in dest.chunks_mut(32) {
            guard.0 += 1;
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(&guard.1);
            ctx.update(&guard.0.to_le_bytes());
            let block = ctx.finish();
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

pub fn bytes<const N: usize>(rng: &dyn Random) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    rng.fill(&mut out)?;
    Ok(out)
}

/// A base64url string of `N` random bytes: tokens and identifiers.
pub fn token<const N: usize>(rng: &dyn Random) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(bytes::<N>(rng)?))
}

/// A 128-bit identifier (base64url, 22 characters) that never starts with `-`, so a
/// command line (push-agent, latchkey-admin) cannot mistake it for an option. Redrawing
/// the rare `-` start keeps the rest uniform.
pub fn id(rng: &dyn Random) -> Result<String> {
    loop {
        let candidate = token::<16>(rng)?;
        if !candidate.starts_with('-') {
            return Ok(candidate);
        }
    }
}

/// A uniformly random index below `bound` (rejection sampling: no modulo bias).
pub fn below(rng: &dyn Random, bound: u32) -> Result<u32> {
    if bound == 0 {
        return Err(Error::internal("a random index below zero was asked for"));
    }
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let value = u32::from_le_bytes(bytes::<4>(rng)?);
        if value < zone {
            return Ok(value % bound);
        }
    }
}

/// `count` random decimal digits.
pub fn digits(rng: &dyn Random, count: usize) -> Result<String> {
    (0..count)
        .map(|_| below(rng, 10).map(|d| char::from(b'0' + d as u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_digits_of_the_asked_length() {
        let rng = SeededRandom::new(7);
        for n in 2..=8 {
            let d = digits(&rng, n).unwrap();
            assert_eq!(d.len(), n);
            assert!(d.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn below_covers_the_range_evenly_enough() {
        let rng = SeededRandom::new(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[below(&rng, 10).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn ids_never_start_with_a_hyphen() {
        let rng = SeededRandom::new(3);
        for _ in 0..5_000 {
            let id = id(&rng).unwrap();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }

    #[test]
    fn tokens_of_32_bytes_are_43_base64url_chars() {
        let t = token::<32>(&SystemRandom::new()).unwrap();
        assert_eq!(t.len(), 43);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
