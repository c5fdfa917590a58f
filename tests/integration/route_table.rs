//! The one checker of the route list. The route table in shared/src/routes.rs (with the
//! policy table in shared/src/policy.rs) is the source of truth; the function binaries
//! (`functions/Cargo.toml` and `functions/src/bin`), the `cargo lambda watch` router, the
//! dev server, the SAM template (routes, IAM actions, who reads the master secret) and the
//! README's routes table must agree with it. Nothing else keeps a copy of the list
//! (scripts/check-infra lints the template but leaves the routes to these tests).
//!
//! Also here: the repository's documentation is its own, so no file in it may cite a
//! document kept outside it.

use crate::support::TestEnv;
use latchkey::policy::{Access, Policy, Reauthentication};
use latchkey::routes::FUNCTIONS;
use latchkey::ROUTES;
use reqwest::Method;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
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
    let functions: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| r.function)
        .chain(FUNCTIONS.iter().map(|f| f.function))
        .map(str::to_owned)
        .collect();
    assert_eq!(bins, functions);
    for function in FUNCTIONS {
        assert!(
            !ROUTES.iter().any(|r| r.function == function.function),
            "{} is a route's function and a non-HTTP one",
            function.function
        );
        let source = repo_file(&format!("functions/src/bin/{}.rs", function.function));
        assert!(source.contains("stream_main()"), "{}", function.function);
    }
    for route in ROUTES {
        let source = repo_file(&format!("functions/src/bin/{}.rs", route.function));
        let operation = format!("endpoints::{:?}>()", route.operation);
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
        let events = resource["Properties"]["Events"].as_mapping().cloned();
        for (_, event) in events.iter().flatten() {
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
    for function in FUNCTIONS {
        let granted: BTreeSet<String> = permissions[function.function]
            .iter()
            .filter(|a| {
                a.starts_with("sns:") || a.starts_with("events:") || a.starts_with("dynamodb:")
            })
            .filter(|a| !STREAM_READ.contains(&a.as_str()))
            .cloned()
            .collect();
        let needed: BTreeSet<String> = function
            .dynamodb
            .iter()
            .map(|a| format!("dynamodb:{a}"))
            .chain(function.sns.iter().map(|a| format!("sns:{a}")))
            .chain(function.events.iter().map(|a| format!("events:{a}")))
            .collect();
        assert_eq!(granted, needed, "IAM actions of {}", function.function);
        assert_eq!(
            permissions[function.function].contains("secretsmanager:GetSecretValue"),
            function.keys,
            "secretsmanager:GetSecretValue of {}",
            function.function
        );
        assert_eq!(function.trigger, "DynamoDB");
        // Its trigger: an event source mapping on the table's stream.
        let mapping = resources
            .values()
            .find(|r| {
                r["Type"].as_str() == Some("AWS::Lambda::EventSourceMapping")
                    && tag_free(&r["Properties"]["FunctionName"]).as_str()
                        == Some(logical_id(function.function).as_str())
            })
            .unwrap_or_else(|| panic!("no event source mapping triggers {}", function.function));
        assert_eq!(
            serde_json::to_value(&mapping["Properties"]["FunctionResponseTypes"]).unwrap(),
            serde_json::json!(["ReportBatchItemFailures"])
        );
        for action in STREAM_READ {
            assert!(
                permissions[function.function].contains(*action),
                "{} needs {action}",
                function.function
            );
        }
    }
    // And no function outside the tables reads it either.
    assert_eq!(
        permissions.len(),
        ROUTES.len() + FUNCTIONS.len(),
        "the template's functions are the tables'"
    );
}

/// The template's logical id of a function: `security-events` → `SecurityEventsFunction`.
fn logical_id(function: &str) -> String {
    let words: String = function
        .split('-')
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect();
    format!("{words}Function")
}

/// What a stream's event source mapping reads with its function's role.
const STREAM_READ: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

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
    assert_eq!(
        as_json(&table["Properties"]["StreamSpecification"]["StreamViewType"]),
        local["StreamSpecification"]["StreamViewType"]
    );
}

/// The README's "session" column for a route, from its policy: who may call it, then its
/// re-authentication rule.
fn session_column(policy: &Policy) -> String {
    let access = match policy.access {
        Access::Public => "–",
        Access::Setup => "setup or full",
        Access::Full => "full",
    };
    let reauthentication = match policy.reauthentication {
        Reauthentication::Never => "",
        Reauthentication::Password => " + password",
        Reauthentication::Recent => ", re-authenticated",
        Reauthentication::RecentOnceProtected => "; re-authenticated once a device exists",
    };
    format!("{access}{reauthentication}")
}

/// The rows of the README's routes table (`| method | path | function | session |`), as
/// cells; a note in parentheses closing the session cell (`– (one-time secret)`) is left off.
fn readme_routes(readme: &str) -> Vec<[String; 4]> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_start_matches('|')
            .trim_end_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect()
    };
    let mut lines = readme.lines().skip_while(|line| {
        !(line.trim_start().starts_with('|')
            && cells(line) == ["method", "path", "function", "session"])
    });
    assert!(
        lines.next().is_some(),
        "README.md has no `| method | path | function | session |` table"
    );
    lines
        .skip(1) // the `| --- | ... |` row
        .take_while(|line| line.trim_start().starts_with('|'))
        .map(|line| {
            let row = cells(line);
            let [method, path, function, session] = <[String; 4]>::try_from(row)
                .unwrap_or_else(|_| panic!("README.md routes row without 4 cells: {line}"));
            let session = match session.rfind(" (") {
                Some(at) if session.ends_with(')') => session[..at].to_owned(),
                _ => session,
            };
            [method, path.trim_matches('`').to_owned(), function, session]
        })
        .collect()
}

#[test]
fn the_readme_routes_table_matches_the_route_and_policy_tables() {
    let expected: Vec<[String; 4]> = ROUTES
        .iter()
        .map(|r| {
            [
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
                session_column(r.operation.policy()),
            ]
        })
        .collect();
    let found = readme_routes(&repo_file("README.md"));
    if found != expected {
        let table: String = expected
            .iter()
            .map(|row| format!("| {} |\n", row.join(" | ")))
            .collect();
        let first = (0..found.len().max(expected.len()))
            .find(|&i| found.get(i) != expected.get(i))
            .unwrap_or_default();
        panic!(
            "README.md's routes table differs from ROUTES and POLICIES at row {}: found \
             {:?}, expected {:?}. It should read, in this order (a note in parentheses may \
             close a session cell):\n\n\
             | method | path | function | session |\n| --- | --- | --- | --- |\n{table}",
            first + 1,
            found.get(first),
            expected.get(first)
        );
    }
}

/// Names of documents that live beside the repository, not in it: the repository carries
/// its own API reference (docs/openapi.yaml) and design notes (docs/design.md). Spelt in
/// pieces so that this file does not cite them itself.
fn outside_documents() -> [String; 2] {
    ["API", "DESIGN"].map(|stem| format!("{stem}.md"))
}

#[test]
fn no_file_in_the_repository_cites_a_document_outside_it() {
    let root = repo_root();
    // Tracked files, and new ones not ignored (about to be added).
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .expect("run git ls-files");
    assert!(
        listed.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let names = outside_documents();
    let mut citations = Vec::new();
    for path in String::from_utf8(listed.stdout).unwrap().split('\0') {
        if path.is_empty() {
            continue;
        }
        // Deleted but not yet staged, a directory (submodule) or binary: nothing to read.
        let Ok(bytes) = std::fs::read(root.join(path)) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            for name in &names {
                let cited = line.match_indices(name.as_str()).any(|(at, _)| {
                    !line[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if cited {
                    citations.push(format!("{path}:{}: {}", number + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        citations.is_empty(),
        "cite docs/openapi.yaml, docs/design.md or a README section instead of {}:\n{}",
        names.join(" / "),
        citations.join("\n")
    );
}
