//! Recovery codes: 20 characters of Crockford's base32 alphabet in lower case (no i, l,
//! o, u: 32 symbols, 5 bits each, 100 bits a code), shown as `xxxxx-xxxxx-xxxxx-xxxxx`.
//!
//! Input is forgiving the way Crockford's decoding is: case, spaces and hyphens are
//! ignored, and the look-alikes o→0, i/l→1 are read as the digits they resemble.

use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::random::{below, Random};

pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LENGTH: usize = 20;

/// A new code, formatted for display.
pub fn generate(rng: &dyn Random) -> Result<String> {
    let mut out = String::with_capacity(LENGTH + 3);
    for i in 0..LENGTH {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[below(rng, 32)? as usize]));
    }
    Ok(out)
}

/// A fresh set of [`COUNT`] codes, for display, and their keyed hashes, for the store.
pub fn new_set(rng: &dyn Random, keys: &Keys) -> Result<(Vec<String>, Vec<String>)> {
    let mut plain = Vec::with_capacity(COUNT);
    let mut hashes = Vec::with_capacity(COUNT);
    for _ in 0..COUNT {
        let code = generate(rng)?;
        let canonical = normalise(&code)
            .ok_or_else(|| Error::internal("a fresh recovery code does not normalise"))?;
        hashes.push(keys.recovery_code_hash(&canonical));
        plain.push(code);
    }
    Ok((plain, hashes))
}

/// The canonical form that is hashed, or `None` when the input cannot be a code.
pub fn normalise(input: &str) -> Option<String> {
    let mut out = String::with_capacity(LENGTH);
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' | '\t' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
        if out.len() > LENGTH {
            return None;
        }
    }
    (out.len() == LENGTH).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn codes_have_the_display_shape() {
        let rng = SeededRandom::new(9);
        for _ in 0..50 {
            let code = generate(&rng).unwrap();
            assert_eq!(code.len(), 23);
            let groups: Vec<_> = code.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(groups.iter().all(|g| g.len() == 5));
            assert!(code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn normalising_ignores_case_spaces_hyphens_and_look_alikes() {
        let code = "ab0c1-defgh-jkmnp-qrstv";
        let canonical = normalise(code).unwrap();
        assert_eq!(canonical, "ab0c1defghjkmnpqrstv");
        assert_eq!(normalise("AB0C1 DEFGH JKMNP QRSTV").unwrap(), canonical);
        assert_eq!(normalise("abOcl-defgh-jkmnp-qrstv").unwrap(), canonical);
        assert_eq!(normalise(" ab0c1defghjkmnpqrstv ").unwrap(), canonical);
        assert!(normalise("ab0c1-defgh-jkmnp-qrst").is_none());
        assert!(normalise("ab0c1-defgh-jkmnp-qrstvw").is_none());
        assert!(normalise("ab0c1-defgh-jkmnp-qrstu").is_none());
    }

    #[test]
    fn alphabet_has_32_distinct_symbols() {
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
    }
}
