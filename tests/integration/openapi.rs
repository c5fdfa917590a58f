//! docs/openapi.yaml, the API reference, is generated from the code (tests/openapi/): these
//! tests fail when the committed file is not what the code generates, and check what the
//! generator itself could get wrong: its operations are exactly the route table's, and
//! every error code it names is one error.rs has, under the status error.rs gives it.
//!
//! Plain tests: they read files, no moto needed.

use latchkey::ROUTES;
use latchkey_tests::openapi;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn committed() -> String {
    let path = format!("{}/../docs/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let generated = openapi::yaml();
    let committed = committed();
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(g, c)| g != c)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()))
            + 1;
        panic!(
            "docs/openapi.yaml is not what the code generates (first difference at line \
             {line}); regenerate it with `{}` and commit it",
            openapi::REGENERATE
        );
    }
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

#[test]
fn openapi_operations_are_exactly_the_route_table() {
    let doc: Yaml = serde_yaml::from_str(&committed()).expect("docs/openapi.yaml is YAML");
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
}

/// Every `enum` of an error response's `code`, with the status it is listed under.
fn listed_codes(doc: &Yaml, status: u16, response: &Yaml, out: &mut Vec<(u16, String)>) {
    let response = match response.get("$ref").and_then(Yaml::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &doc["components"]["responses"][name]
        }
        None => response,
    };
    let schema = &response["content"]["application/json"]["schema"];
    let codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap_or_else(|| panic!("an error response narrows error.code: {schema:?}"));
    out.extend(
        codes
            .iter()
            .map(|c| (status, c.as_str().unwrap().to_owned())),
    );
}

#[test]
fn openapi_error_codes_are_error_rs_codes_under_their_statuses() {
    let doc: Yaml = serde_yaml::from_str(&openapi::yaml()).unwrap();
    let statuses: BTreeMap<&str, u16> = openapi::every_error()
        .iter()
        .map(|e| (e.code(), e.status()))
        .collect();
    let mut listed = Vec::new();
    for op in operations(&doc).values() {
        for (key, response) in op["responses"].as_mapping().unwrap() {
            let status: u16 = key.as_str().unwrap().parse().unwrap();
            if status >= 400 {
                listed_codes(&doc, status, response, &mut listed);
            }
        }
    }
    for (status, code) in &listed {
        assert_eq!(
            statuses.get(code.as_str()),
            Some(status),
            "`{code}` under {status}"
        );
    }
    let declared: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(declared, statuses.keys().copied().collect());
}
