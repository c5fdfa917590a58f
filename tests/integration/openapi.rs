//! docs/openapi.yaml, the API reference, against the code: its operations are exactly the
//! route table's, each operation lists the error statuses its route can produce, and every
//! error code in it is one error.rs has, under the status error.rs gives it.
//!
//! Plain tests: they read files, no moto needed.

use latchkey::policy::{Access, Reauthentication};
use latchkey::{Error, Operation, ROUTES};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Yaml {
    let path = format!("{}/../docs/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_yaml::from_str(&text).expect("docs/openapi.yaml must be YAML")
}

/// Follows a node that is only a local `$ref` (`{"$ref": "#/components/..."}`) to its
/// target. A schema with keywords beside its `$ref` is returned as it is.
fn resolve<'a>(doc: &'a Yaml, node: &'a Yaml) -> &'a Yaml {
    let mut node = node;
    for _ in 0..16 {
        let only_ref = node.as_mapping().is_some_and(|m| m.len() == 1);
        let Some(reference) = node.get("$ref").and_then(Yaml::as_str).filter(|_| only_ref) else {
            return node;
        };
        let pointer = reference
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("only local references are used: {reference}"));
        node = pointer.split('/').fold(doc, |n, part| &n[part]);
        assert!(!node.is_null(), "unresolved $ref {reference}");
    }
    panic!("$ref chain too long")
}

/// Every error error.rs can make. `exhaustive` stops compiling when a variant is added,
/// so this list cannot fall behind.
fn every_error() -> Vec<Error> {
    let all = vec![
        Error::invalid("x"),
        Error::WeakPassword("x"),
        Error::InvalidUsername,
        Error::Unauthenticated,
        Error::InvalidCredentials,
        Error::InvalidCode,
        Error::InvalidMfaToken,
        Error::InvalidSignature,
        Error::MfaSetupRequired,
        Error::ReauthenticationRequired,
        Error::Forbidden,
        Error::NotFound,
        Error::UsernameTaken,
        Error::MethodLimitReached,
        Error::MethodNotRegistered,
        Error::AlreadyAnswered,
        Error::RegistrationUsed,
        Error::SamePassword,
        Error::Expired,
        Error::PayloadTooLarge,
        Error::TooManyAttempts {
            retry_after_secs: 1,
        },
        Error::Unavailable,
        Error::Contention,
        Error::internal("x"),
    ];
    all.iter().for_each(exhaustive);
    all
}

fn exhaustive(error: &Error) {
    match error {
        Error::InvalidRequest(_)
        | Error::WeakPassword(_)
        | Error::InvalidUsername
        | Error::Unauthenticated
        | Error::InvalidCredentials
        | Error::InvalidCode
        | Error::InvalidMfaToken
        | Error::InvalidSignature
        | Error::MfaSetupRequired
        | Error::ReauthenticationRequired
        | Error::Forbidden
        | Error::NotFound
        | Error::UsernameTaken
        | Error::MethodLimitReached
        | Error::MethodNotRegistered
        | Error::AlreadyAnswered
        | Error::RegistrationUsed
        | Error::SamePassword
        | Error::Expired
        | Error::PayloadTooLarge
        | Error::TooManyAttempts { .. }
        | Error::Unavailable
        | Error::Contention
        | Error::Internal(_) => {}
    }
}

/// error.rs's codes and the status of each.
fn error_statuses() -> BTreeMap<&'static str, u16> {
    let mut statuses = BTreeMap::new();
    for error in every_error() {
        let previous = statuses.insert(error.code(), error.status());
        assert!(
            previous.is_none_or(|s| s == error.status()),
            "{} has two statuses",
            error.code()
        );
    }
    statuses
}

/// The operations of the document: (METHOD, path) → operation object.
fn operations(doc: &Yaml) -> BTreeMap<(String, String), &Yaml> {
    let mut out = BTreeMap::new();
    let paths = doc["paths"].as_mapping().expect("paths");
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings");
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.insert((method.to_uppercase(), path.to_owned()), op);
            }
        }
    }
    out
}

/// The codes an error response's schema allows: the `enum` of `error.code`.
fn response_codes(doc: &Yaml, response: &Yaml) -> BTreeSet<String> {
    let response = resolve(doc, response);
    let schema = resolve(doc, &response["content"]["application/json"]["schema"]);
    schema["properties"]["error"]["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap_or_else(|| panic!("an error response narrows error.code to an enum: {schema:?}"))
        .iter()
        .map(|code| code.as_str().expect("codes are strings").to_owned())
        .collect()
}

/// Every error code written anywhere in the document: code enums of error schemas and
/// the codes of error examples.
fn codes_anywhere(node: &Yaml, out: &mut BTreeSet<String>) {
    match node {
        Yaml::Mapping(map) => {
            let code_enum = &node["properties"]["error"]["properties"]["code"]["enum"];
            out.extend(
                code_enum
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|c| c.as_str().expect("codes are strings").to_owned()),
            );
            if let Some(code) = node["error"]["code"].as_str() {
                out.insert(code.to_owned());
            }
            map.values().for_each(|v| codes_anywhere(v, out));
        }
        Yaml::Sequence(items) => items.iter().for_each(|v| codes_anywhere(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_operations_are_exactly_the_route_table() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
}

#[test]
fn openapi_operations_list_the_errors_their_routes_can_produce() {
    let doc = document();
    let statuses = error_statuses();
    let ops = operations(&doc);
    for route in ROUTES {
        let what = format!("{} {}", route.method, route.path);
        let Some(op) = ops.get(&(route.method.to_owned(), route.path.to_owned())) else {
            panic!("{what} is not in docs/openapi.yaml");
        };
        let responses = op["responses"].as_mapping().expect("responses");
        let listed: BTreeSet<u16> = responses
            .keys()
            .map(|k| {
                k.as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("status keys")
            })
            .collect();
        assert!(
            listed.iter().any(|s| (200..300).contains(s)),
            "{what}: no success answer"
        );

        // Authentication: bearerAuth exactly on the routes that take a session.
        let bearer = op["security"]
            .as_sequence()
            .expect("every operation says its security")
            .iter()
            .any(|requirement| requirement.get("bearerAuth").is_some());
        let policy = route.operation.policy();
        assert_eq!(bearer, policy.access != Access::Public, "{what}: security");

        // What every route, or every route of a kind, can answer.
        let has_body = route.method != "GET";
        // Routes that judge no credential of any kind: nothing to answer 401 about.
        let anonymous = policy.access == Access::Public
            && matches!(
                route.operation,
                Operation::CreateAccount | Operation::LoginPasskeyStart
            );
        // The two 403s: the scope check of full-only routes, and the re-authentication a
        // route without a required password in its body asks for.
        let mut forbidden = BTreeSet::new();
        if policy.access == Access::Full {
            forbidden.insert("mfa_setup_required".to_owned());
        }
        if matches!(
            policy.reauthentication,
            Reauthentication::Recent | Reauthentication::RecentOnceProtected
        ) {
            forbidden.insert("reauthentication_required".to_owned());
        }
        let expected = [
            (400, has_body),
            (401, !anonymous),
            (403, !forbidden.is_empty()),
            (413, has_body),
            (500, true),
            (503, true),
        ];
        for (status, due) in expected {
            if due {
                assert!(listed.contains(&status), "{what}: must list {status}");
            }
        }
        // Nothing else answers 403.
        assert_eq!(listed.contains(&403), !forbidden.is_empty(), "{what}: 403");
        // A route that checks a password answers a wrong one and the lock.
        let checks_password = policy.reauthentication != Reauthentication::Never;
        if checks_password {
            assert!(listed.contains(&429), "{what}: must list 429 (the lock)");
        }

        for (key, response) in responses {
            let status: u16 = key.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            if status < 400 {
                continue;
            }
            let codes = response_codes(&doc, response);
            assert!(!codes.is_empty(), "{what} {status}: no code");
            for code in &codes {
                assert_eq!(
                    statuses.get(code.as_str()),
                    Some(&status),
                    "{what}: `{code}` listed under {status}"
                );
            }
            if status == 401 && policy.access != Access::Public {
                assert!(
                    codes.contains("unauthenticated"),
                    "{what}: 401 unauthenticated"
                );
            }
            if status == 401 && checks_password {
                assert!(
                    codes.contains("invalid_credentials"),
                    "{what}: 401 invalid_credentials (a wrong password)"
                );
            }
            if status == 403 {
                assert_eq!(codes, forbidden, "{what}: 403");
            }
            let headers = &resolve(&doc, response)["headers"];
            if status == 429 || status == 503 {
                let retry_after = resolve(&doc, &headers["Retry-After"]);
                assert_eq!(
                    retry_after["required"].as_bool(),
                    Some(true),
                    "{what} {status}: Retry-After"
                );
            }
            assert!(
                !headers["Cache-Control"].is_null(),
                "{what} {status}: Cache-Control"
            );
        }
    }
}

#[test]
fn openapi_error_codes_are_error_rs_codes() {
    let doc = document();
    let statuses = error_statuses();
    let mut written = BTreeSet::new();
    codes_anywhere(&doc, &mut written);
    let unknown: Vec<&String> = written
        .iter()
        .filter(|c| !statuses.contains_key(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "codes error.rs does not have: {unknown:?}"
    );

    // The ErrorCode schema names them all, no more and no fewer.
    let declared: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_sequence()
        .expect("ErrorCode enum")
        .iter()
        .map(|c| c.as_str().expect("codes are strings"))
        .collect();
    let all: BTreeSet<&str> = statuses.keys().copied().collect();
    assert_eq!(declared, all);
}
