//! The route table in shared/src/routes.rs is the source of truth; the function binaries,
//! the `cargo lambda watch` router, the dev server and the SAM template must agree with it.

use crate::support::TestEnv;
use latchkey::ROUTES;
use reqwest::Method;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn table_routes() -> BTreeSet<(String, String, String)> {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_route_has_its_binary_and_every_function_binary_a_route() {
    let manifest: toml::Table = toml::from_str(&repo_file("functions/Cargo.toml")).unwrap();
    let bins: BTreeSet<String> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .filter(|name| name != "dev-server" && name != "latchkey-admin")
        .collect();
    let functions: BTreeSet<String> = ROUTES.iter().map(|r| r.function.to_owned()).collect();
    assert_eq!(bins, functions);
    for route in ROUTES {
        let source = repo_file(&format!("functions/src/bin/{}.rs", route.function));
        let operation = format!("Operation::{:?}", route.operation);
        assert!(
            source.contains(&operation),
            "{} must serve {operation}",
            route.function
        );
    }
}

#[test]
fn the_cargo_lambda_watch_router_matches_the_table() {
    let manifest: toml::Table = toml::from_str(&repo_file("Cargo.toml")).unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut found = BTreeSet::new();
    for (path, entries) in router {
        for entry in entries.as_array().unwrap() {
            found.insert((
                entry["method"].as_str().unwrap().to_owned(),
                path.clone(),
                entry["function"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert_eq!(found, table_routes());
}

#[tokio::test]
async fn the_dev_server_serves_every_route_of_the_table() {
    let env = TestEnv::start().await;
    for route in ROUTES {
        let path = route.path.replace("{id}", "x");
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let r = env.raw(method, &path, None, b"{}".to_vec()).await;
        assert!(
            ![404, 405].contains(&r.status.as_u16()) || r.code() != "not_found" && r.status != 405,
            "{} {} is not mounted: {} {}",
            route.method,
            route.path,
            r.status,
            r.body
        );
    }
    // And nothing else under /v1.
    env.raw(Method::GET, "/v1/accounts", None, vec![])
        .await
        .expect(405);
}

fn tag_free(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

fn template() -> Yaml {
    serde_yaml::from_str(&repo_file("infra/template.yaml")).expect("infra/template.yaml parses")
}

fn statement_actions(function: &Yaml) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let Some(policies) = function["Properties"]["Policies"].as_sequence() else {
        return actions;
    };
    for policy in policies {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            match tag_free(&statement["Action"]) {
                Yaml::String(action) => {
                    actions.insert(action.clone());
                }
                Yaml::Sequence(list) => {
                    actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                }
                _ => {}
            }
        }
    }
    actions
}

#[test]
fn the_sam_template_routes_and_permissions_match_the_table() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut routes = BTreeSet::new();
    let mut permissions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        for (_, event) in resource["Properties"]["Events"].as_mapping().unwrap() {
            if event["Type"].as_str() == Some("HttpApi") {
                routes.insert((
                    event["Properties"]["Method"]
                        .as_str()
                        .unwrap()
                        .to_uppercase(),
                    event["Properties"]["Path"].as_str().unwrap().to_owned(),
                    function.clone(),
                ));
            }
        }
        permissions.insert(function, statement_actions(resource));
    }
    assert_eq!(routes, table_routes());
    for route in ROUTES {
        let granted: BTreeSet<String> = permissions[route.function]
            .iter()
            .filter(|a| a.starts_with("dynamodb:") || a.starts_with("sns:"))
            .cloned()
            .collect();
        let needed: BTreeSet<String> = route
            .dynamodb
            .iter()
            .map(|a| format!("dynamodb:{a}"))
            .chain(route.sns.iter().map(|a| format!("sns:{a}")))
            .collect();
        assert_eq!(granted, needed, "IAM actions of {}", route.function);
        // Only the functions that derive keys may read the master secret.
        assert_eq!(
            permissions[route.function].contains("secretsmanager:GetSecretValue"),
            route.keys,
            "secretsmanager:GetSecretValue of {} (keys: {})",
            route.function,
            route.keys
        );
    }
    // And no function outside the table reads it either.
    assert_eq!(
        permissions.len(),
        ROUTES.len(),
        "the template's functions are the table's"
    );
}

#[test]
fn the_sam_table_matches_the_local_stack_table() {
    let template = template();
    let table = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .expect("a DynamoDB table in the template");
    let local: serde_json::Value = serde_json::from_str(&repo_file("infra/table.json")).unwrap();
    let as_json = |y: &Yaml| serde_json::to_value(y).unwrap();
    assert_eq!(
        as_json(&table["Properties"]["KeySchema"]),
        local["KeySchema"]
    );
    assert_eq!(
        as_json(&table["Properties"]["AttributeDefinitions"]),
        local["AttributeDefinitions"]
    );
    assert_eq!(
        as_json(&table["Properties"]["BillingMode"]),
        local["BillingMode"]
    );
    assert_eq!(
        as_json(&table["Properties"]["TimeToLiveSpecification"]["AttributeName"]),
        local["TimeToLiveAttribute"]
    );
}
