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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A canonical code: 20 symbols of the alphabet.
        fn canonical() -> impl Strategy<Value = String> {
            proptest::collection::vec(proptest::sample::select(ALPHABET.to_vec()), LENGTH)
                .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
        }

        /// `code` as a person might type it: any case, a look-alike for 0 and 1, and
        /// spaces, hyphens and tabs anywhere.
        fn typed(code: String) -> impl Strategy<Value = String> {
            let n = code.len();
            (
                proptest::collection::vec((any::<bool>(), 0usize..3), n),
                proptest::collection::vec(proptest::sample::select(vec![" ", "-", "\t"]), n),
                proptest::collection::vec(0usize..3, n),
            )
                .prop_map(move |(dress, separators, gaps)| {
                    let mut out = String::new();
                    for (i, c) in code.chars().enumerate() {
                        let (upper, look_alike) = dress[i];
                        let c = match (c, look_alike) {
                            ('0', 1) => 'o',
                            ('1', 1) => 'i',
                            ('1', 2) => 'l',
                            (c, _) => c,
                        };
                        out.push(if upper { c.to_ascii_uppercase() } else { c });
                        out.push_str(&separators[i].repeat(gaps[i]));
                    }
                    out
                })
        }

        /// What the documented rule lets through besides the alphabet.
        fn tolerated(c: char) -> bool {
            let c = c.to_ascii_lowercase();
            matches!(c, ' ' | '-' | '\t' | 'o' | 'i' | 'l')
                || (c.is_ascii() && ALPHABET.contains(&(c as u8)))
        }

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            #[test]
            fn normalising_is_idempotent_and_lands_in_the_alphabet(
                input in prop_oneof![any::<String>(), canonical().prop_flat_map(typed)],
            ) {
                if let Some(code) = normalise(&input) {
                    prop_assert_eq!(code.len(), LENGTH);
                    prop_assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{}", code);
                    prop_assert_eq!(normalise(&code), Some(code.clone()));
                }
            }

            #[test]
            fn case_separators_and_look_alikes_do_not_matter(
                (code, input) in canonical().prop_flat_map(|c| (Just(c.clone()), typed(c))),
            ) {
                prop_assert_eq!(normalise(&input), Some(code));
            }

            #[test]
            fn a_character_outside_the_alphabet_is_refused(
                input in canonical().prop_flat_map(typed),
                stranger in any::<char>().prop_filter("outside the alphabet", |c| !tolerated(*c)),
                at in any::<proptest::sample::Index>(),
            ) {
                let mut chars: Vec<char> = input.chars().collect();
                chars.insert(at.index(chars.len() + 1), stranger);
                let input: String = chars.into_iter().collect();
                prop_assert_eq!(normalise(&input), None);
            }

            #[test]
            fn only_twenty_symbols_make_a_code(
                symbols in proptest::collection::vec(proptest::sample::select(ALPHABET.to_vec()), 0..60),
            ) {
                let input: String = symbols.iter().copied().map(char::from).collect();
                prop_assert_eq!(normalise(&input).is_some(), symbols.len() == LENGTH);
            }

            #[test]
            fn generated_codes_normalise_to_themselves(seed in any::<u64>()) {
                let code = generate(&SeededRandom::new(seed)).unwrap();
                let canonical = code.replace('-', "");
                prop_assert_eq!(normalise(&code), Some(canonical.clone()));
                prop_assert_eq!(normalise(&canonical), Some(canonical));
            }
        }
    }

    #[test]
    fn alphabet_has_32_distinct_symbols() {
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
    }
}
