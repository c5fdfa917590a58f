//! Prints docs/openapi.yaml as the code generates it: `scripts/openapi` writes the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a build tool

fn main() {
    print!("{}", latchkey_tests::openapi::yaml());
}
