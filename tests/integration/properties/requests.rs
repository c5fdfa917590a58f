//! Every route's request parser, reached through the dispatcher (`latchkey::handle`) for
//! every entry of `ROUTES`, so a new route is covered the day it is added. Each case sends
//! its body to every route with a live `full` session (the caller is authenticated before
//! the body is read) and a real device as `{id}`; a body's `mfa_token` may be a live one,
//! so the second step's own checks run too. Whatever the body, the answer is the route's
//! success or a 4xx in the error format that echoes nothing sent ([`super::check_answer`]).

use super::{block_on, cases, check_answer, json, marked, send, Answer, MARKER};
use crate::machines::harness::{text, Machine};
use crate::support::PASSWORD;
use latchkey::policy::Access;
use latchkey::{Operation, ROUTES};
use proptest::prelude::*;
use serde_json::Value;
use std::cell::RefCell;

const USER: &str = "parsers";
/// Stands for the caller's live mfa_token in a generated body.
const LIVE_MFA_TOKEN: &str = "(live mfa_token)";

/// A signed-in user with an authenticator app: the session, the device, and a login
/// waiting for its second factor.
struct Caller {
    m: Machine,
    token: String,
    /// The authenticator app's base32 secret.
    secret: String,
    device: String,
    mfa_token: String,
}

impl Caller {
    async fn new() -> Caller {
        let m = Machine::new();
        let (token, secret, _) = m.user_with_totp(USER).await;
        let device = text(&m.devices(&token).await[0]["id"]);
        let mfa_token = m.mfa_token(USER).await;
        Caller {
            m,
            token,
            secret,
            device,
            mfa_token,
        }
    }

    /// Makes sure the session still stands after a body that a route accepted (`{}`
    /// signs out), and starts over when it does not.
    async fn keep_signed_in(&mut self) {
        if self.m.scope(&self.token).await != "full" {
            *self = Caller::new().await;
        }
    }

    /// A fresh login waiting for its second factor, for the next case: wrong codes spend
    /// one, and the account's lock may come; then a new account.
    async fn next_case(&mut self) {
        let r = self.m.login(USER, PASSWORD).await;
        match r.body["mfa_token"].as_str() {
            Some(mfa_token) if r.status == 200 => self.mfa_token = mfa_token.to_owned(),
            _ => *self = Caller::new().await,
        }
    }

    /// Sends `bodies[i]` to `ROUTES[i]` (or the one body to all), with `device` as the
    /// `{id}` (else the caller's device), checking every answer.
    async fn every_route(
        &mut self,
        bodies: &[Vec<u8>],
        device: Option<&str>,
    ) -> Result<(), TestCaseError> {
        for (i, route) in ROUTES.iter().enumerate() {
            let body = bodies[i % bodies.len()].clone();
            let device = device.unwrap_or(&self.device);
            let answer = send(&self.m, route.operation, &self.token, device, body).await;
            let what = format!("{} {}", route.method, route.path);
            check_answer(&what, &answer)?;
            self.no_secret_echoed(&what, &answer)?;
            if answer.status < 300 {
                self.keep_signed_in().await;
            }
        }
        self.next_case().await;
        Ok(())
    }

    fn no_secret_echoed(&self, what: &str, answer: &Answer) -> Result<(), TestCaseError> {
        if answer.status >= 400 {
            let text = String::from_utf8_lossy(&answer.body);
            prop_assert!(!text.contains(&self.mfa_token), "{}: {}", what, text);
            prop_assert!(!text.contains(&self.token), "{}: {}", what, text);
        }
        Ok(())
    }

    /// `body` with the stand-in for the live mfa_token replaced.
    fn live(&self, body: &Value) -> Vec<u8> {
        let mut body = body.clone();
        if let Some(object) = body.as_object_mut() {
            for value in object.values_mut() {
                if value == LIVE_MFA_TOKEN {
                    *value = self.mfa_token.clone().into();
                }
            }
        }
        body.to_string().into_bytes()
    }
}

/// The top-level fields of each route's request body, as the API reference says them
/// (docs/openapi.yaml, generated from the request types); none for a route without one.
fn fields() -> Vec<Vec<String>> {
    let doc = latchkey_tests::openapi::document();
    ROUTES
        .iter()
        .map(|route| {
            let operation = &doc["paths"][route.path][route.method.to_lowercase().as_str()];
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            let name = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap_or_default();
            doc["components"]["schemas"][name]["properties"]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// Every field name of every route.
fn all_names(fields: &[Vec<String>]) -> Vec<String> {
    let mut names: Vec<String> = fields.iter().flatten().cloned().collect();
    names.sort();
    names.dedup();
    names
}

/// For each route, an object of its own fields, most present, each a string, any value or
/// the live mfa_token, and sometimes a field it does not have.
fn shaped(fields: &[Vec<String>]) -> impl Strategy<Value = Vec<Value>> {
    let names = all_names(fields);
    let per_route: Vec<_> = fields
        .iter()
        .map(|own| {
            let value = prop_oneof![
                5 => marked().prop_map(Value::from),
                2 => json(names.clone()),
                2 => Just(Value::from(LIVE_MFA_TOKEN)),
            ];
            let present = proptest::collection::vec((0u8..8, value), own.len());
            let extra = proptest::option::weighted(0.2, json(names.clone()));
            let own = own.clone();
            (present, extra).prop_map(move |(present, extra)| {
                let mut object = serde_json::Map::new();
                for (name, (p, value)) in own.iter().zip(present) {
                    if p > 0 {
                        object.insert(name.clone(), value);
                    }
                }
                if let Some(extra) = extra {
                    object.insert("unexpected".to_owned(), extra);
                }
                Value::Object(object)
            })
        })
        .collect();
    per_route
}

/// Bytes: anything; JSON text with bytes changed; an object's opening brace and anything;
/// arrays or objects nested deep.
fn bytes(names: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<proptest::sample::Index>(), any::<u8>(), any::<bool>());
    let edited =
        (json(names.clone()), proptest::collection::vec(edit, 1..4)).prop_map(|(v, edits)| {
            let mut bytes = v.to_string().into_bytes();
            for (at, byte, insert) in edits {
                let i = at.index(bytes.len() + 1);
                if insert || i == bytes.len() {
                    bytes.insert(i, byte);
                } else {
                    bytes[i] = byte;
                }
            }
            bytes
        });
    // Past serde_json's recursion limit (128) too: refused, not a stack overflow.
    let nested = (
        proptest::sample::select(names.clone()),
        1usize..400,
        any::<bool>(),
    )
        .prop_map(|(name, depth, arrays)| {
            let (open, close) = if arrays {
                ("[", "]")
            } else {
                (r#"{"a":"#, "}")
            };
            let value = format!(r#"{}"{MARKER}"{}"#, open.repeat(depth), close.repeat(depth));
            format!(r#"{{"{name}":{value}}}"#).into_bytes()
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        edited,
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| [b"{".to_vec(), b].concat()),
        nested,
    ]
}

/// Runs `property` with one caller for all cases (a new one when a case used it up).
fn with_caller(property: impl Fn(&RefCell<Caller>)) {
    let caller = RefCell::new(block_on(Caller::new()));
    property(&caller);
}

#[test]
fn every_route_refuses_arbitrary_json_in_the_error_format() {
    let names = all_names(&fields());
    with_caller(|caller| {
        proptest!(cases(64), |(body in json(names.clone()))| {
            let mut caller = caller.borrow_mut();
            let body = caller.live(&body);
            block_on(caller.every_route(&[body], None))?;
        });
    });
}

#[test]
fn every_route_refuses_arbitrary_bytes_in_the_error_format() {
    let names = all_names(&fields());
    with_caller(|caller| {
        proptest!(cases(64), |(body in bytes(names.clone()))| {
            block_on(caller.borrow_mut().every_route(&[body], None))?;
        });
    });
}

#[test]
fn every_route_answers_bodies_of_its_own_shape_in_the_error_format() {
    let fields = fields();
    with_caller(|caller| {
        let device = || proptest::option::weighted(0.25, marked());
        proptest!(cases(64), |(bodies in shaped(&fields), device in device())| {
            let mut caller = caller.borrow_mut();
            let bodies: Vec<Vec<u8>> = bodies.iter().map(|b| caller.live(b)).collect();
            block_on(caller.every_route(&bodies, device.as_deref()))?;
        });
    });
}

/// A bearer token that is not the caller's: any text; a token's shape around an account
/// that is ours, anyone's or not UTF-8; the caller's token with one character of its
/// secret changed; the caller's secret under another account's name.
#[derive(Debug, Clone)]
enum Forged {
    Text(String),
    Shaped(Vec<u8>, String),
    NearMiss(proptest::sample::Index, char),
    Renamed(String),
}

fn forged() -> impl Strategy<Value = Forged> {
    let base64url = proptest::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            .chars()
            .collect::<Vec<_>>(),
    );
    let account = prop_oneof![
        Just(USER.as_bytes().to_vec()),
        marked().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    prop_oneof![
        "[!-~]{0,300}".prop_map(|t| Forged::Text(format!("{MARKER}{t}"))),
        (account, "[A-Za-z0-9_-]{43}").prop_map(|(a, s)| Forged::Shaped(a, s)),
        (any::<proptest::sample::Index>(), base64url).prop_map(|(i, c)| Forged::NearMiss(i, c)),
        "[a-z0-9]{3,20}".prop_map(Forged::Renamed),
    ]
}

impl Forged {
    /// The token, made from the caller's `real` one where it needs it; `None` when the
    /// change would give the real token back.
    fn token(&self, real: &str) -> Option<String> {
        let (account, secret) = real.split_once('.').unwrap();
        let token = match self {
            Forged::Text(text) => text.clone(),
            Forged::Shaped(account, secret) => format!("{}.{secret}", b64(account)),
            Forged::NearMiss(at, c) => {
                let mut chars: Vec<char> = secret.chars().collect();
                let i = at.index(chars.len());
                chars[i] = *c;
                format!("{account}.{}", chars.into_iter().collect::<String>())
            }
            Forged::Renamed(other) => format!("{}.{secret}", b64(other.as_bytes())),
        };
        (token != real).then_some(token)
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The session routes read the bearer token before anything else: a token that is not a
/// live session's own is `401 unauthenticated` on every one, in the error format, and
/// is not echoed.
#[test]
fn every_session_route_refuses_a_forged_token() {
    with_caller(|caller| {
        proptest!(cases(64), |(forged in forged())| {
            let caller = caller.borrow();
            let Some(token) = forged.token(&caller.token) else { return Ok(()) };
            for route in ROUTES.iter().filter(|r| r.operation.policy().access != Access::Public) {
                let answer = block_on(send(&caller.m, route.operation, &token, &caller.device, b"{}".to_vec()));
                let what = format!("{} {}", route.method, route.path);
                check_answer(&what, &answer)?;
                prop_assert_eq!(answer.status, 401, "{}", what);
                let text = String::from_utf8_lossy(&answer.body);
                prop_assert!(!text.contains(&token), "{}: {}", what, text);
            }
        });
    });
}

/// Whatever is typed as a code, it is a code or it is wrong: `401 invalid_code`, never
/// `400` (login.rs, `CodeRequest`), both for the authenticator app's code and for a
/// recovery code; or `429` once the wrong ones have locked the account.
#[test]
fn any_code_that_is_not_right_is_401_never_400() {
    let code = || {
        prop_oneof![
            any::<String>(),
            "[ \t]{0,2}[0-9]{5,7}[ \t]{0,2}",
            "[0-9a-zA-Z -]{18,26}",
        ]
    };
    with_caller(|caller| {
        proptest!(cases(64), |(code in code())| {
            let mut caller = caller.borrow_mut();
            let now = caller.m.now().secs();
            let right = [-30, 0, 30].map(|d| crate::settings::code_for(&caller.secret, now + d));
            prop_assume!(!right.iter().any(|r| r == code.trim()));
            for operation in [Operation::LoginTotp, Operation::LoginRecoveryCode] {
                let body = serde_json::json!({ "mfa_token": caller.mfa_token, "code": code });
                let answer = block_on(send(&caller.m, operation, "", "", body.to_string().into_bytes()));
                let what = format!("{operation:?}");
                check_answer(&what, &answer)?;
                let error: Value = serde_json::from_slice(&answer.body).unwrap();
                let refusal = (answer.status, error["error"]["code"].as_str().unwrap_or_default());
                prop_assert!(
                    matches!(refusal, (401, "invalid_code") | (429, "too_many_attempts")),
                    "{}: {:?}",
                    what,
                    refusal
                );
            }
            block_on(caller.next_case());
        });
    });
}
