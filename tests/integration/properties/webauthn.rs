//! The WebAuthn credential JSON, as webauthn-rs reads it behind the three finishes that
//! take one: a security key's registration, its use as a second factor, and a passkey
//! sign-in. Each case makes a new user and a real ceremony up to a valid credential from
//! the soft authenticator, then changes it (a member replaced by any JSON, removed or
//! added, a bit of a binary member flipped or the member cut short, or the whole
//! credential replaced) and sends it with the ceremony's live ids. The answer is never a
//! 5xx, a refusal is in the error format, and an assertion whose signed bytes changed
//! never signs anyone in.

use super::{block_on, cases, check_answer, json, send, Answer};
use crate::machines::harness::{text, Machine, ORIGIN};
use crate::machines::webauthn::{register_key, SoftAuthenticator};
use crate::support::PASSWORD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use latchkey::Operation;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json as value, Value};
use std::cell::Cell;

/// What an assertion's signature covers, or names the key that made it.
const SIGNED: [&str; 4] = [
    "/rawId",
    "/response/authenticatorData",
    "/response/clientDataJSON",
    "/response/signature",
];

/// The member names of WebAuthn credentials, for the JSON the changes put in.
fn names() -> Vec<String> {
    [
        "id",
        "rawId",
        "type",
        "response",
        "clientDataJSON",
        "attestationObject",
        "authenticatorData",
        "signature",
        "userHandle",
        "transports",
        "clientExtensionResults",
        "credProps",
        "rk",
        "appid",
        "authenticatorAttachment",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[derive(Debug, Clone)]
enum Change {
    Replace(Index, Value),
    Remove(Index),
    Add(Index, String, Value),
    FlipBit(Index, Index),
    Truncate(Index, Index),
    Whole(Value),
}

fn any_change() -> impl Strategy<Value = Change> {
    let index = any::<Index>;
    let member = proptest::sample::select(names());
    prop_oneof![
        2 => (index(), json(names())).prop_map(|(at, v)| Change::Replace(at, v)),
        2 => index().prop_map(Change::Remove),
        1 => (index(), member, json(names())).prop_map(|(at, k, v)| Change::Add(at, k, v)),
        3 => (index(), index()).prop_map(|(at, bit)| Change::FlipBit(at, bit)),
        2 => (index(), index()).prop_map(|(at, len)| Change::Truncate(at, len)),
        1 => json(names()).prop_map(Change::Whole),
    ]
}

/// The JSON pointers of every value in `v` below the root.
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        out.push(pointer.clone());
        pointers(child, &pointer, out);
    }
}

fn all_pointers(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    pointers(v, "", &mut out);
    out
}

/// The pointers of the binary (base64url) members.
fn binary(v: &Value) -> Vec<String> {
    all_pointers(v)
        .into_iter()
        .filter(|p| {
            v.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| URL_SAFE_NO_PAD.decode(s).is_ok() && !s.is_empty())
        })
        .collect()
}

/// Edits the bytes of one binary member of `v` (a real credential has several).
fn edit_binary(v: &mut Value, at: Index, edit: impl FnOnce(&mut Vec<u8>)) {
    let pointers = binary(v);
    let member = v.pointer_mut(&pointers[at.index(pointers.len())]).unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(member.as_str().unwrap()).unwrap();
    edit(&mut bytes);
    *member = URL_SAFE_NO_PAD.encode(bytes).into();
}

/// `credential` changed by `change`.
fn changed(credential: &Value, change: Change) -> Value {
    let mut v = credential.clone();
    match change {
        Change::Replace(at, new) => {
            let pointers = all_pointers(&v);
            *v.pointer_mut(&pointers[at.index(pointers.len())]).unwrap() = new;
        }
        Change::Remove(at) => {
            let pointers = all_pointers(&v);
            let pointer = &pointers[at.index(pointers.len())];
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap() {
                Value::Object(m) => {
                    m.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(a) => {
                    a.remove(key.parse::<usize>().unwrap());
                }
                _ => unreachable!("a parent holds its child"),
            }
        }
        Change::Add(at, key, new) => {
            let mut objects: Vec<String> = vec![String::new()];
            objects.extend(
                all_pointers(&v)
                    .into_iter()
                    .filter(|p| v.pointer(p).is_some_and(Value::is_object)),
            );
            let object = &objects[at.index(objects.len())];
            v.pointer_mut(object)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert(key, new);
        }
        Change::FlipBit(at, bit) => edit_binary(&mut v, at, |bytes| {
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }),
        Change::Truncate(at, len) => edit_binary(&mut v, at, |bytes| {
            bytes.truncate(len.index(bytes.len()));
        }),
        Change::Whole(new) => v = new,
    }
    v
}

/// One machine for all cases, a new user for each.
struct Users {
    m: Machine,
    next: Cell<u32>,
}

impl Users {
    fn new() -> Users {
        Users {
            m: Machine::new(),
            next: Cell::new(0),
        }
    }

    /// A new user's setup session.
    async fn setup_session(&self) -> (String, String) {
        let n = self.next.get();
        self.next.set(n + 1);
        let username = format!("webauthn{n}");
        self.m.signup(&username).await;
        let session = self.m.setup_session(&username).await;
        (username, session)
    }

    async fn post(&self, operation: Operation, token: &str, body: Value) -> Answer {
        send(&self.m, operation, token, "", body.to_string().into_bytes()).await
    }

    /// A registration's finish with the credential changed.
    async fn register(&self, change: Change) -> Result<(), TestCaseError> {
        let (_, session) = self.setup_session().await;
        let r = self
            .m
            .call_as(Operation::StartWebauthnRegistration, &session, value!({}))
            .await
            .expect(200);
        let credential = SoftAuthenticator::new(ORIGIN)
            .create(&r.body["publicKey"])
            .unwrap();
        let body = value!({ "registration_id": text(&r.body["registration_id"]), "credential": changed(&credential, change) });
        let answer = self
            .post(Operation::ConfirmWebauthnRegistration, &session, body)
            .await;
        check_answer("confirm-webauthn-registration", &answer)
    }

    /// A second factor's or a passkey sign-in's finish with the assertion changed.
    async fn sign_in(&self, passkey: bool, change: Change) -> Result<(), TestCaseError> {
        let (username, session) = self.setup_session().await;
        let mut key = if passkey {
            SoftAuthenticator::with_resident_keys(ORIGIN)
        } else {
            SoftAuthenticator::new(ORIGIN)
        };
        register_key(&self.m, &session, &mut key, value!({})).await;
        let (operation, id, assertion) = if passkey {
            let r = self
                .m
                .call(Operation::LoginPasskeyStart, value!({}))
                .await
                .expect(200);
            let assertion = key.discover(&r.body["publicKey"], 0).unwrap();
            (
                Operation::LoginPasskeyFinish,
                value!({ "login_id": text(&r.body["login_id"]) }),
                assertion,
            )
        } else {
            let r = self.m.login(&username, PASSWORD).await.expect(200);
            let mfa_token = text(&r.body["mfa_token"]);
            let r = self
                .m
                .call(
                    Operation::LoginWebauthnStart,
                    value!({ "mfa_token": mfa_token }),
                )
                .await
                .expect(200);
            let assertion = key.get(&r.body["publicKey"]);
            (
                Operation::LoginWebauthnFinish,
                value!({ "mfa_token": mfa_token }),
                assertion,
            )
        };
        let credential = changed(&assertion, change);
        let mut body = id;
        body["credential"] = credential.clone();
        let answer = self.post(operation, "", body).await;
        let what = format!("{operation:?}");
        check_answer(&what, &answer)?;
        let tampered = SIGNED
            .iter()
            .any(|p| credential.pointer(p) != assertion.pointer(p));
        prop_assert!(
            !(tampered && answer.status < 300),
            "{}: an assertion whose signed bytes changed signed in: {}",
            what,
            credential
        );
        Ok(())
    }
}

#[test]
fn a_changed_registration_credential_is_registered_or_refused_never_a_5xx() {
    let users = Users::new();
    proptest!(cases(64), |(change in any_change())| {
        block_on(users.register(change))?;
    });
}

#[test]
fn a_changed_assertion_is_refused_in_the_error_format_and_never_signs_in() {
    let users = Users::new();
    proptest!(cases(64), |(passkey in any::<bool>(), change in any_change())| {
        block_on(users.sign_in(passkey, change))?;
    });
}
