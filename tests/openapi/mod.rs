//! docs/openapi.yaml, generated: the paths from the route table ([`latchkey::ROUTES`]),
//! each operation's request and answer schemas from its endpoint's `Input` and `Output`
//! types (`#[derive(utoipa::ToSchema)]` in the core crate, constraints on the fields),
//! its status from `Endpoint::STATUS`, its security and the errors every route of its kind
//! can answer from the policy table, and its own errors and prose from [`operations`].
//! The document's front matter, the push webhook and the push protocol's string formats
//! (none of them a Rust type of the API) come from `base.yaml` beside this file.
//!
//! `scripts/openapi` writes it; a test fails when the committed file differs.

use latchkey::policy::{Access, Reauthentication};
use latchkey::{Error, ROUTES};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

pub mod operations;

/// The decision every registration start shares (`Reauthentication::RecentOnceProtected`).
const REAUTHENTICATION_ONCE_PROTECTED: &str = r#"
    On an account that already has a device, needs a re-authenticated session
    (`POST /v1/session/reauthenticate` in the last 5 minutes) or a right `password` in
    the body, else `403 reauthentication_required`; a setup session registering the
    first device needs none. A wrong `password` is `401 invalid_credentials` and counts
    toward the lock; a locked account is `429`.
"#;

/// The command that rewrites the committed document.
pub const REGENERATE: &str = "scripts/openapi";

const HEADER: &str = "\
# Latchkey HTTP API, version 1: the project's own API reference.
#
# GENERATED: do not edit. `scripts/openapi` writes it from the code: the route table
# (shared/src/routes.rs), the request and answer types (their #[derive(utoipa::ToSchema)]
# and #[schema(...)] constraints), the policy table (shared/src/policy.rs), error.rs, and
# tests/openapi/ (each operation's prose and errors, the front matter). A test fails when
# this file differs from what the code generates.
#
# It has two layers: the base contract of API version 1, which clients outside this
# repository were built against and which must not change, and what the implementation
# decided where the base contract is silent. Every such decision is marked
# `x-latchkey-decision` (or said in a description), so a client author can tell the
# contract from the implementation's choices. Overview: docs/api.md; how the service
# works: docs/design.md.
";

/// The document as YAML text, exactly as committed.
pub fn yaml() -> String {
    let body = serde_yaml::to_string(&document()).expect("the document serialises");
    format!("{HEADER}{body}")
}

/// A request's or answer's schema, and the components it refers to.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

pub fn document() -> Value {
    let base: Mapping =
        serde_yaml::from_str(include_str!("base.yaml")).expect("tests/openapi/base.yaml is YAML");
    let mut schemas = Schemas::new();
    let mut responses = BTreeMap::new();
    let mut paths = Mapping::new();
    for route in ROUTES {
        let mut doc = operations::doc(route.operation);
        schemas.append(&mut doc.schemas);
        let item = paths
            .entry(Value::from(route.path))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let item = item.as_mapping_mut().expect("a path item is a mapping");
        if route.path.contains("{id}") && !item.contains_key("parameters") {
            item.insert(
                "parameters".into(),
                seq([reference("parameters", "DeviceId")]),
            );
        }
        item.insert(
            route.method.to_lowercase().into(),
            render_operation(route, doc, &mut responses),
        );
    }

    let mut doc = Mapping::new();
    for (key, value) in &base {
        doc.insert(key.clone(), value.clone());
        if key.as_str() == Some("security") {
            doc.insert("paths".into(), Value::Mapping(paths.clone()));
        }
    }
    let components = doc
        .get_mut("components")
        .and_then(Value::as_mapping_mut)
        .expect("base.yaml has components");
    let base_schemas = components
        .remove("schemas")
        .and_then(|s| s.as_mapping().cloned())
        .unwrap_or_default();
    components.insert(
        "parameters".into(),
        map([("DeviceId", device_id_parameter())]),
    );
    components.insert(
        "responses".into(),
        Value::Mapping(
            responses
                .into_iter()
                .map(|(name, response)| (Value::from(name), response))
                .collect(),
        ),
    );
    let mut all = BTreeMap::new();
    all.insert("Error".to_owned(), error_schema());
    all.insert("ErrorCode".to_owned(), error_code_schema());
    all.insert("EmptyRequest".to_owned(), empty_request_schema());
    for (name, schema) in schemas {
        let value = serde_yaml::to_value(&schema).expect("a schema serialises");
        if let Some(previous) = all.get(&name) {
            assert_eq!(previous, &value, "two different schemas are named {name}");
        }
        all.insert(name, value);
    }
    let mut schemas: Mapping = all.into_iter().map(|(k, v)| (k.into(), v)).collect();
    schemas.extend(base_schemas);
    components.insert("schemas".into(), Value::Mapping(schemas));
    Value::Mapping(doc)
}

fn render_operation(
    route: &latchkey::Route,
    doc: operations::Doc,
    components: &mut BTreeMap<String, Value>,
) -> Value {
    let policy = route.operation.policy();
    let mut op = Mapping::new();
    op.insert("operationId".into(), doc.id.into());
    op.insert("tags".into(), seq([doc.tag.into()]));
    op.insert("summary".into(), doc.summary.into());
    if let Some(text) = &doc.description {
        op.insert("description".into(), text.as_str().into());
    }
    let decision = match policy.reauthentication {
        Reauthentication::RecentOnceProtected => Some(
            doc.decision.clone().unwrap_or_default() + &dedent(REAUTHENTICATION_ONCE_PROTECTED),
        ),
        _ => doc.decision.clone(),
    };
    if let Some(text) = decision {
        op.insert("x-latchkey-decision".into(), text.into());
    }
    let security = match policy.access {
        Access::Public => seq([]),
        Access::Setup | Access::Full => seq([map([("bearerAuth", seq([]))])]),
    };
    op.insert("security".into(), security);
    match policy.access {
        Access::Public => {}
        Access::Setup => {
            op.insert("x-latchkey-scope".into(), "setup".into());
        }
        Access::Full => {
            op.insert("x-latchkey-scope".into(), "full".into());
        }
    }
    match policy.reauthentication {
        Reauthentication::Recent => {
            op.insert("x-latchkey-reauthentication".into(), "recent".into());
        }
        Reauthentication::RecentOnceProtected => {
            op.insert(
                "x-latchkey-reauthentication".into(),
                "recent once the account has a device".into(),
            );
        }
        Reauthentication::Never | Reauthentication::Password => {}
    }
    if let Some(body) = doc.body.render() {
        op.insert("requestBody".into(), body);
    }

    let mut responses = Mapping::new();
    let mut success = Mapping::new();
    success.insert("description".into(), doc.success.into());
    success.insert("headers".into(), cache_control_only());
    if let Some(output) = &doc.output {
        success.insert(
            "content".into(),
            map([(
                "application/json",
                map([("schema", reference("schemas", output))]),
            )]),
        );
    }
    responses.insert(doc.status.to_string().into(), Value::Mapping(success));

    let mut by_status: BTreeMap<u16, Vec<Failure>> = BTreeMap::new();
    for failure in generic_failures(route).into_iter().chain(doc.failures) {
        by_status.entry(failure.status()).or_default().push(failure);
    }
    for (status, failures) in by_status {
        let response = match failures.as_slice() {
            [only] if only.name.is_some() => {
                let name = only.name.unwrap_or_default();
                components
                    .entry(name.to_owned())
                    .or_insert_with(|| only.render());
                reference("responses", name)
            }
            _ => Failure::merge(failures).render(),
        };
        responses.insert(status.to_string().into(), response);
    }
    op.insert("responses".into(), Value::Mapping(responses));
    Value::Mapping(op)
}

/// What every route of a kind can answer: decided by its method and its policy.
fn generic_failures(route: &latchkey::Route) -> Vec<Failure> {
    use operations::failures as f;
    let policy = route.operation.policy();
    let has_body = route.method != "GET";
    let checks_password = policy.reauthentication != Reauthentication::Never;
    let mut out = Vec::new();
    if has_body {
        out.push(f::invalid_request());
        out.push(f::payload_too_large());
    }
    if policy.access != Access::Public {
        out.push(f::unauthenticated());
    }
    if checks_password {
        out.push(f::wrong_password());
        out.push(f::account_locked());
    }
    if policy.access == Access::Full {
        out.push(f::mfa_setup_required());
    }
    if matches!(
        policy.reauthentication,
        Reauthentication::Recent | Reauthentication::RecentOnceProtected
    ) {
        out.push(f::reauthentication_required());
    }
    out.push(f::internal_error());
    out.push(f::unavailable());
    out
}

/// Error answers of one status: the errors (their codes), and what they mean here. A named
/// one is a shared component (`#/components/responses/<name>`).
pub struct Failure {
    pub name: Option<&'static str>,
    pub errors: Vec<Error>,
    pub description: String,
    pub example: Option<&'static str>,
}

impl Failure {
    pub fn new(errors: Vec<Error>, description: &str) -> Failure {
        assert!(!errors.is_empty());
        Failure {
            name: None,
            errors,
            description: dedent(description),
            example: None,
        }
    }

    pub fn named(name: &'static str, errors: Vec<Error>, description: &str) -> Failure {
        Failure {
            name: Some(name),
            ..Failure::new(errors, description)
        }
    }

    fn status(&self) -> u16 {
        let status = self.errors[0].status();
        assert!(
            self.errors.iter().all(|e| e.status() == status),
            "one failure, one status: {:?}",
            self.errors
        );
        status
    }

    /// The codes, each once, in the order given.
    fn codes(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        for error in &self.errors {
            if !codes.contains(&error.code()) {
                codes.push(error.code());
            }
        }
        codes
    }

    fn merge(failures: Vec<Failure>) -> Failure {
        let mut errors = Vec::new();
        let mut descriptions: Vec<String> = Vec::new();
        for failure in failures {
            errors.extend(failure.errors);
            let description = failure.description.trim_end().to_owned();
            if !descriptions.contains(&description) {
                descriptions.push(description);
            }
        }
        Failure {
            name: None,
            errors,
            description: descriptions.join("\n") + "\n",
            example: None,
        }
    }

    fn render(&self) -> Value {
        let codes = self.codes();
        let mut headers = Mapping::new();
        headers.insert("Cache-Control".into(), reference("headers", "CacheControl"));
        if self.errors.iter().any(|e| e.retry_after().is_some()) {
            headers.insert("Retry-After".into(), reference("headers", "RetryAfter"));
        }
        let schema = map([(
            "allOf",
            seq([
                reference("schemas", "Error"),
                map([(
                    "properties",
                    map([(
                        "error",
                        map([(
                            "properties",
                            map([(
                                "code",
                                map([("enum", seq(codes.iter().map(|c| Value::from(*c))))]),
                            )]),
                        )]),
                    )]),
                )]),
            ]),
        )]);
        let mut content = Mapping::new();
        content.insert("schema".into(), schema);
        if let [error] = self.errors.as_slice() {
            let message = self
                .example
                .map_or_else(|| error.to_string(), str::to_owned);
            content.insert(
                "example".into(),
                map([(
                    "error",
                    map([("code", error.code().into()), ("message", message.into())]),
                )]),
            );
        }
        let mut response = Mapping::new();
        response.insert("description".into(), self.description.as_str().into());
        response.insert("headers".into(), Value::Mapping(headers));
        response.insert(
            "content".into(),
            map([("application/json", Value::Mapping(content))]),
        );
        Value::Mapping(response)
    }
}

/// Every error error.rs can make. `exhaustive` stops compiling when a variant is added, so
/// this list (and the `ErrorCode` schema made of it) cannot fall behind.
pub fn every_error() -> Vec<Error> {
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
        Error::internal("x"),
        Error::Unavailable,
        Error::Contention,
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

fn error_schema() -> Value {
    serde_yaml::from_str(
        r##"
description: The one error body of every route.
type: object
required: [error]
additionalProperties: false
properties:
  error:
    type: object
    required: [code, message]
    additionalProperties: false
    properties:
      code:
        $ref: "#/components/schemas/ErrorCode"
      message:
        type: string
        description: One human sentence. Names fields, never echoes values, secrets or store errors.
"##,
    )
    .expect("the error schema is YAML")
}

fn error_code_schema() -> Value {
    let mut codes: Vec<(u16, &str)> = Vec::new();
    for error in every_error() {
        if !codes.iter().any(|(_, c)| *c == error.code()) {
            codes.push((error.status(), error.code()));
        }
    }
    let by_status = codes
        .iter()
        .map(|(status, code)| format!("{status} {code}"))
        .collect::<Vec<_>>()
        .join(", ");
    map([
        (
            "description",
            format!(
                "Every error code, with its status: {by_status}. `forbidden` is reserved: no \
                 route returns it. `reauthentication_required` and the 500 row are \
                 x-latchkey-decision."
            )
            .into(),
        ),
        ("type", "string".into()),
        ("enum", seq(codes.iter().map(|(_, c)| Value::from(*c)))),
    ])
}

fn empty_request_schema() -> Value {
    map([
        (
            "description",
            "An empty object; routes that take no body also accept none.".into(),
        ),
        ("type", "object".into()),
        ("additionalProperties", false.into()),
        ("maxProperties", 0.into()),
    ])
}

fn device_id_parameter() -> Value {
    map([
        ("name", "id".into()),
        ("in", "path".into()),
        ("required", true.into()),
        (
            "description",
            "A device `id` from `GET /v1/mfa`. Another user's device id, or one that cannot \
             exist, is `404 not_found`."
                .into(),
        ),
        ("schema", map([("type", "string".into())])),
    ])
}

fn cache_control_only() -> Value {
    map([("Cache-Control", reference("headers", "CacheControl"))])
}

pub(crate) fn reference(kind: &str, name: &str) -> Value {
    map([("$ref", format!("#/components/{kind}/{name}").into())])
}

pub(crate) fn map<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Mapping(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

pub(crate) fn seq(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Sequence(items.into_iter().collect())
}

/// Text written indented in a Rust string, as its lines without the common indentation and
/// without the blank first and last line.
pub(crate) fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.trim_start_matches('\n').trim_end().lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    if out.contains('\n') {
        out.push('\n');
    }
    out
}
