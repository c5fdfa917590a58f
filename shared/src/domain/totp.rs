//! RFC 6238 TOTP as authenticator apps expect it: SHA-1, 6 digits, 30-second steps,
//! 160-bit secrets, one step of clock skew either way.
//!
//! Replay protection (RFC 6238 §5.2): each device remembers the last accepted step, and
//! a code for that step or an earlier one is refused. The caller stores the new step with
//! a conditional write, so two concurrent uses of one code cannot both pass.

use crate::domain::secrets_equal;
use crate::error::{Error, Result};
use fast_qr::convert::Builder as _;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
pub const SKEW_STEPS: u64 = 1;
pub const SECRET_BYTES: usize = 20;

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW_STEPS as u8,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| Error::internal(format!("TOTP parameters refused: {e}")))
}

pub fn code_at(secret: &[u8], unix_secs: u64) -> Result<String> {
    Ok(totp(secret, "x", "x")?.generate(unix_secs))
}

/// The step a code belongs to, if it is valid at `unix_secs` within the skew and newer
/// than `last_step`. Every candidate step is compared, in constant time, whatever matched.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_secs: u64,
    last_step: Option<u64>,
) -> Result<Option<u64>> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let generator = totp(secret, "x", "x")?;
    let current = unix_secs / STEP_SECS;
    let mut matched = None;
    for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
        let expected = generator.generate(step * STEP_SECS);
        let equal = secrets_equal(expected.as_bytes(), code.as_bytes());
        if equal && last_step.is_none_or(|last| step > last) && matched.is_none() {
            matched = Some(step);
        }
    }
    Ok(matched)
}

/// The `otpauth://` URI authenticator apps read from the QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String> {
    Ok(totp(secret, issuer, account)?.get_url())
}

pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec())
        .to_encoded()
        .to_string()
}

/// The QR code of `text` as SVG, error correction M, a four-module quiet zone. fast_qr,
/// because choosing the mask (scoring all eight patterns, as the standard asks) took the
/// `qrcode` crate 1–2.4 ms of the registration starts' CPU.
pub fn qr_svg(text: &str) -> Result<String> {
    let code = qr_code(text)?;
    Ok(fast_qr::convert::svg::SvgBuilder::default()
        .margin(4)
        .to_str(&code))
}

fn qr_code(text: &str) -> Result<fast_qr::QRCode> {
    fast_qr::QRBuilder::new(text)
        .ecl(fast_qr::ECL::M)
        .build()
        .map_err(|_| Error::internal("a QR code could not be built"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 column (8 digits there; the last 6 are ours).
        let eight = TOTP::new_unchecked(
            Algorithm::SHA1,
            8,
            1,
            30,
            RFC_SECRET.to_vec(),
            None,
            String::new(),
        );
        for (t, expected) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(eight.generate(t), expected, "t={t}");
            assert_eq!(code_at(RFC_SECRET, t).unwrap(), expected[2..], "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_each_way_and_no_more() {
        let now = 1_800_000_015u64;
        let step = now / 30;
        for offset in [-1i64, 0, 1] {
            let t = (now as i64 + offset * 30) as u64;
            let code = code_at(RFC_SECRET, t).unwrap();
            assert_eq!(
                verify(RFC_SECRET, &code, now, None).unwrap(),
                Some((step as i64 + offset) as u64),
                "offset {offset}"
            );
        }
        for offset in [-2i64, 2] {
            let code = code_at(RFC_SECRET, (now as i64 + offset * 30) as u64).unwrap();
            assert_eq!(
                verify(RFC_SECRET, &code, now, None).unwrap(),
                None,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn refuses_replays_and_earlier_steps() {
        let now = 1_800_000_015u64;
        let code = code_at(RFC_SECRET, now).unwrap();
        let step = verify(RFC_SECRET, &code, now, None).unwrap().unwrap();
        assert_eq!(verify(RFC_SECRET, &code, now, Some(step)).unwrap(), None);
        let earlier = code_at(RFC_SECRET, now - 30).unwrap();
        assert_eq!(verify(RFC_SECRET, &earlier, now, Some(step)).unwrap(), None);
        let later = code_at(RFC_SECRET, now + 30).unwrap();
        assert_eq!(
            verify(RFC_SECRET, &later, now, Some(step)).unwrap(),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_never_match() {
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(verify(RFC_SECRET, bad, 59, None).unwrap(), None);
        }
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        let uri = otpauth_uri(&[1u8; 20], "Latchkey", "alice@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Latchkey:alice%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains("secret=AEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIB"));
        assert!(uri.contains("issuer=Latchkey"));
    }

    /// Reads the SVG back the way a camera would: draws its dark modules and decodes the
    /// picture with an independent QR reader.
    fn decode_svg(svg: &str) -> String {
        let view = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap();
        let side: usize = view.parse().unwrap();
        let mut dark = vec![false; side * side];
        let path = svg.split("<path d=\"").nth(1).unwrap();
        let path = &path[..path.find('"').unwrap()];
        for square in path.split('M').filter(|s| !s.is_empty()) {
            assert!(square.ends_with("h1v1h-1"), "{square}");
            let (x, y) = square.trim_end_matches("h1v1h-1").split_once(',').unwrap();
            dark[y.parse::<usize>().unwrap() * side + x.parse::<usize>().unwrap()] = true;
        }
        const SCALE: usize = 4;
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(side * SCALE, side * SCALE, |x, y| {
                if dark[(y / SCALE) * side + x / SCALE] {
                    0
                } else {
                    255
                }
            });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn qr_codes_read_back_as_their_uri() {
        let totp_uri = otpauth_uri(&[1u8; 20], "Latchkey", "alice@example.com").unwrap();
        // As long as a push registration URI: version 10 at level M.
        let push_uri = format!(
            "latchkey-push://register?api=https%3A%2F%2Fmfa.example.com&registration={}&server_key={}",
            "r".repeat(43),
            "k".repeat(43)
        );
        for uri in [totp_uri, push_uri] {
            let svg = qr_svg(&uri).unwrap();
            assert!(svg.starts_with("<svg"), "{svg}");
            assert_eq!(decode_svg(&svg), uri);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any time an `Instant` (milliseconds in an i64) can say, in seconds.
        fn any_time() -> impl Strategy<Value = u64> {
            0..=(i64::MAX / 1000) as u64
        }

        fn secret() -> impl Strategy<Value = [u8; SECRET_BYTES]> {
            any::<[u8; SECRET_BYTES]>()
        }

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            /// A code of the current step or one step either side is accepted, as the
            /// step it belongs to; one further away is not (unless it happens to equal a
            /// code within the window, which the case then skips).
            #[test]
            fn a_code_verifies_within_one_step_of_skew_and_not_beyond(
                secret in secret(),
                now in any_time().prop_filter("room for two steps", |t| *t >= 2 * STEP_SECS),
                offset in -3i64..=3,
            ) {
                let current = now / STEP_SECS;
                let step = current.checked_add_signed(offset).unwrap();
                let code = code_at(&secret, step * STEP_SECS).unwrap();
                let window: Vec<String> = (current - 1..=current + 1)
                    .map(|s| code_at(&secret, s * STEP_SECS).unwrap())
                    .collect();
                let verified = verify(&secret, &code, now, None).unwrap();
                if offset.unsigned_abs() <= SKEW_STEPS {
                    prop_assert!(verified.is_some());
                    let first = (current - 1..=current + 1)
                        .find(|s| window[(s + 1 - current) as usize] == code);
                    prop_assert_eq!(verified, first);
                } else {
                    prop_assume!(!window.contains(&code));
                    prop_assert_eq!(verified, None);
                }
            }

            /// A code of an accepted step, or an earlier one, is never accepted again.
            #[test]
            fn a_used_step_is_never_accepted_again(
                secret in secret(),
                now in any_time().prop_filter("room for a step back", |t| *t >= STEP_SECS),
                offset in -1i64..=1,
                since in 0u64..3,
            ) {
                let step = (now / STEP_SECS).checked_add_signed(offset).unwrap();
                let code = code_at(&secret, step * STEP_SECS).unwrap();
                let last = step + since;
                prop_assert_eq!(verify(&secret, &code, now, Some(last)).unwrap().filter(|s| *s <= last), None);
            }

            /// Only six ASCII digits can be a code: anything else is no code, never an
            /// error or a panic.
            #[test]
            fn only_six_digits_can_be_a_code(secret in secret(), now in any_time(), code in any::<String>()) {
                let verified = verify(&secret, &code, now, None).unwrap();
                if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
                    prop_assert_eq!(verified, None);
                }
            }
        }
    }
}
