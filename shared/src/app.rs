//! Everything an operation needs, built once per process: configuration, ports, clock,
//! randomness and derived keys.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MasterSecretSource};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::notify::{sns::SnsNotifier, NoNotifier, Notifier};
use crate::password::PasswordHasher;
use crate::random::{Random, SystemRandom};
use crate::store::{dynamo::DynamoStore, Store};
pub use aws_types::SdkConfig;
use std::sync::Arc;
use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// What one function's wiring needs beyond the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// An SNS client: the function publishes, subscribes or unsubscribes.
    pub sns: bool,
    /// Keys derived from the master secret.
    pub keys: bool,
}

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    /// `None` in a function whose route derives no key: it never reads the master secret.
    keys: Option<Keys>,
    pub passwords: PasswordHasher,
    /// The WebAuthn relying party (id, origin, name), checked once at start.
    pub webauthn: Webauthn,
}

impl App {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> Result<App> {
        let keys = Keys::derive(&config.load_master_secret()?)?;
        App::assemble(config, store, notifier, clock, rng, Some(keys))
    }

    fn assemble(
        config: Config,
        store: Arc<dyn Store>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        keys: Option<Keys>,
    ) -> Result<App> {
        let passwords = PasswordHasher::new(config.argon2, rng.as_ref())?;
        let webauthn = relying_party(&config)?;
        Ok(App {
            config,
            store,
            notifier,
            clock,
            rng,
            keys,
            passwords,
            webauthn,
        })
    }

    /// The derived keys; an error in a function whose route the table says derives none.
    pub fn keys(&self) -> Result<&Keys> {
        self.keys
            .as_ref()
            .ok_or_else(|| Error::internal("this function derives no keys (route table)"))
    }

    /// The whole service's wiring, for the operator CLI and the dev server: DynamoDB, SNS,
    /// the system clock and the OS's randomness, with the AWS settings of
    /// [`operator_sdk_config`]. Its one network call is GetSecretValue, once, when the
    /// master secret lives in Secrets Manager (`LATCHKEY_MASTER_SECRET_ARN`); everything
    /// else resolves on first use.
    pub async fn from_config(config: Config) -> Result<App> {
        let sdk = operator_sdk_config(&config).await?;
        App::with_clients(config, &sdk, true, true).await
    }

    /// The wiring of one Lambda function, given what it needs (its route table entry says).
    /// The SNS client is built only when the function may call SNS (constructing an SDK
    /// client parses the SDK's partition table, a measurable part of a cold start), and the
    /// master secret is read and keys derived only when the function uses a key: the others
    /// are not even granted `secretsmanager:GetSecretValue`.
    pub async fn for_function(config: Config, needs: Needs) -> Result<App> {
        let sdk = aws_sdk_config(&config).await?;
        App::with_clients(config, &sdk, needs.sns, needs.keys).await
    }

    /// [`App::for_function`] on an SDK configuration the caller also builds other clients
    /// from (the security-events function's EventBridge client): one HTTPS client and one
    /// TLS configuration per process, not one per caller.
    pub async fn for_function_on(sdk: &SdkConfig, config: Config, needs: Needs) -> Result<App> {
        App::with_clients(config, sdk, needs.sns, needs.keys).await
    }

    async fn with_clients(
        mut config: Config,
        sdk: &SdkConfig,
        sns: bool,
        keys: bool,
    ) -> Result<App> {
        let keys = if keys {
            if let MasterSecretSource::SecretsManager(id) = &config.master_secret {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                config.master_secret =
                    MasterSecretSource::Inline(fetch_master_secret(&client, id).await?);
            }
            Some(Keys::derive(&config.load_master_secret()?)?)
        } else {
            None
        };
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone());
        let notifier: Arc<dyn Notifier> = if sns {
            Arc::new(SnsNotifier::new(
                aws_sdk_sns::Client::new(sdk),
                config.push_topic_arn.clone(),
            ))
        } else {
            Arc::new(NoNotifier)
        };
        App::assemble(
            config,
            Arc::new(store),
            notifier,
            Arc::new(SystemClock),
            Arc::new(SystemRandom::new()),
            keys,
        )
    }

    pub async fn from_env() -> Result<App> {
        App::from_config(Config::from_env()?).await
    }
}

/// Reads the master secret's current value (`SecretString`, decoded by
/// [`crate::config::decode_secret`]). Logs name the secret and the failure, never its value.
async fn fetch_master_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Vec<u8>> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            // The error is the service's answer (access denied, not found, throttled, no
            // network): it never carries the value.
            tracing::error!(
                secret_id,
                error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&e),
                "cannot read the master secret from Secrets Manager"
            );
            Error::Unavailable
        })?;
    let Some(value) = output.secret_string() else {
        tracing::error!(
            secret_id,
            "the master secret in Secrets Manager has no SecretString (a binary secret is not supported)"
        );
        return Err(Error::Unavailable);
    };
    crate::config::decode_secret(value).map_err(|_| {
        tracing::error!(
            secret_id,
            "the master secret in Secrets Manager is not base64url of at least 32 bytes"
        );
        Error::Unavailable
    })
}

/// The WebAuthn relying party. A bad origin, or an RP id that is not the origin's host or a
/// registrable suffix of it (an IP address never is), stops the service at start.
fn relying_party(config: &Config) -> Result<Webauthn> {
    let refuse = |why: &str| {
        tracing::error!(
            rp_id = %config.webauthn_rp_id,
            origin = %config.webauthn_origin,
            "configuration error: {why}"
        );
        Error::internal(format!("configuration error: {why}"))
    };
    let origin = Url::parse(&config.webauthn_origin)
        .map_err(|_| refuse("LATCHKEY_WEBAUTHN_ORIGIN is not a URL"))?;
    WebauthnBuilder::new(&config.webauthn_rp_id, &origin)
        .map_err(|_| {
            refuse(
                "LATCHKEY_WEBAUTHN_RP_ID must be the origin's host name or a parent domain of it",
            )
        })?
        .rp_name(&config.issuer)
        .build()
        .map_err(|_| refuse("the WebAuthn relying party is misconfigured"))
}

/// The AWS SDK configuration: a local endpoint (`LATCHKEY_AWS_ENDPOINT`, moto) with static
/// test credentials that never fall through to real AWS; else the region and credentials
/// Lambda puts in a function's environment, read once here. Retries (standard, 3 attempts)
/// and the 3.1 s connect timeout are what `aws-config` sets, stated here so that no SDK
/// default can change them under us.
///
/// The SDK sets no operation timeout of its own: a store that accepts the connection and
/// then never answers would hold the request until Lambda's own timeout killed it (API
/// Gateway then answers 502/504, without our error body or Retry-After).
/// [`AWS_OPERATION_TIMEOUT`] turns that hang into our `503 unavailable` within seconds.
/// There is deliberately no per-attempt timeout: the retry after a timed-out attempt can
/// find that attempt's own conditional write already done and answer a false 409
/// (docs/reliability.md, "Outage under load", has the run that showed it).
///
/// Without those variables a function does not start, whatever features its build has:
/// a function that looked further (profiles, IMDS) would run with credentials nobody
/// granted it. Only the operator CLI reads the SDK's full default chain
/// ([`operator_sdk_config`]).
pub async fn aws_sdk_config(config: &Config) -> Result<SdkConfig> {
    sdk_config(config, Fallback::Refuse).await
}

/// [`aws_sdk_config`], but when the environment names no region or credentials, the SDK's
/// full default chain (profiles, SSO, IMDS): the operator CLI, built with the
/// `aws-default-chain` feature, and the dev server. Leaving `aws-config` out of the
/// functions leaves out its STS client too, about a tenth of a release build
/// (docs/performance.md).
pub async fn operator_sdk_config(config: &Config) -> Result<SdkConfig> {
    sdk_config(config, Fallback::DefaultChain).await
}

#[derive(Clone, Copy)]
enum Fallback {
    Refuse,
    DefaultChain,
}

async fn sdk_config(config: &Config, fallback: Fallback) -> Result<SdkConfig> {
    use aws_sdk_dynamodb::config::{retry::RetryConfig, timeout::TimeoutConfig};
    use aws_sdk_dynamodb::config::{
        BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
    };
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(AWS_CONNECT_TIMEOUT)
                .operation_timeout(AWS_OPERATION_TIMEOUT)
                .build(),
        )
        .http_client(aws_https_client()?);
    if let Some(endpoint) = &config.aws_endpoint {
        let region = config.aws_region.as_deref().unwrap_or("us-east-1");
        let local = Credentials::new("test", "test", None, None, "local");
        return Ok(sdk
            .endpoint_url(endpoint)
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(local))
            .build());
    }
    if let (Some(region), Some(credentials)) = (&config.aws_region, &config.aws_credentials) {
        return Ok(sdk
            .region(Region::new(region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
            .build());
    }
    match fallback {
        Fallback::DefaultChain => default_chain(config).await,
        Fallback::Refuse => Err(missing_from_the_environment(config)),
    }
}

/// The EventBridge client of the security-events function (and the dev server's).
pub fn eventbridge_client(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(sdk)
}

const AWS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3100);
/// One call with all its attempts and backoff. DynamoDB answers in milliseconds and SNS
/// Publish in tens of them: 4 s is two orders of magnitude over that, so a slow store is not
/// cut off, while a request that meets a store which does not answer says 503 after this,
/// whichever call it was on. A request makes its calls one after another and stops at the
/// first failure, so it answers inside the functions' 10 s timeout (infra/template.yaml)
/// and API Gateway's 29 s.
const AWS_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

#[cfg(feature = "aws-default-chain")]
async fn default_chain(config: &Config) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_https_client()?);
    if let Some(region) = &config.aws_region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(credentials) = &config.aws_credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    Ok(loader.load().await)
}

#[cfg(not(feature = "aws-default-chain"))]
async fn default_chain(config: &Config) -> Result<SdkConfig> {
    Err(missing_from_the_environment(config))
}

fn missing_from_the_environment(config: &Config) -> Error {
    let missing = match (
        config.aws_region.is_some(),
        config.aws_credentials.is_some(),
    ) {
        (false, false) => "AWS_REGION and the AWS credentials",
        (false, true) => "AWS_REGION",
        _ => "the AWS credentials",
    };
    tracing::error!(
        "configuration error: missing from the environment: {missing} (AWS_REGION, \
         AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for a role, AWS_SESSION_TOKEN, as \
         Lambda sets them); a function does not read AWS profiles"
    );
    Error::internal(format!(
        "configuration error: missing from the environment: {missing}"
    ))
}

/// The SDK's own default HTTPS client (aws-smithy-runtime `default_https_client`) but for
/// the trust store and the crypto provider: no other client is compiled in.
fn aws_https_client() -> Result<aws_sdk_dynamodb::config::SharedHttpClient> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
    let context = aws_tls_context()?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

/// Amazon Trust Services' roots (Amazon Root CA 1–4 and Starfield Services Root CA G2),
/// to which every AWS endpoint chains.
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// TLS for the SDK's HTTPS client (rustls on ring) trusting the AWS roots compiled in
/// rather than the OS trust store: parsing ~150 system certificates was 20 M of the 24 M
/// instructions, and ~7 of the ~10 ms, from exec to a function's first poll
/// (docs/performance.md). `SSL_CERT_FILE` or `SSL_CERT_DIR`, when set (a TLS-inspecting
/// proxy's bundle), are trusted as well.
fn aws_tls_context() -> Result<aws_smithy_http_client::tls::TlsContext> {
    use aws_smithy_http_client::tls::{TlsContext, TrustStore};
    let chosen_by_user =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    let trust = TrustStore::empty()
        .with_native_roots(chosen_by_user)
        .with_pem_certificate(AWS_ROOTS);
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|_| {
            tracing::error!("configuration error: the AWS TLS trust store cannot be built");
            Error::internal("configuration error: the AWS TLS trust store cannot be built")
        })
}

impl From<crate::notify::NotifyError> for Error {
    fn from(_: crate::notify::NotifyError) -> Self {
        Error::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rp_id: &str, origin: &str) -> Config {
        Config::from_lookup(|name| match name {
            "LATCHKEY_MASTER_SECRET" => Some("A".repeat(43)),
            "LATCHKEY_WEBAUTHN_RP_ID" => Some(rp_id.to_owned()),
            "LATCHKEY_WEBAUTHN_ORIGIN" => Some(origin.to_owned()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_relying_party_must_match_its_origin() {
        assert!(relying_party(&config("localhost", "http://localhost:8080")).is_ok());
        assert!(relying_party(&config("example.com", "https://login.example.com")).is_ok());
        // An IP address is never an RP id; a foreign domain or a non-URL neither.
        assert!(relying_party(&config("localhost", "http://127.0.0.1:8080")).is_err());
        assert!(relying_party(&config("example.com", "https://example.org")).is_err());
        assert!(relying_party(&config("localhost", "not a url")).is_err());
    }

    fn aws_config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| {
            if name == "LATCHKEY_MASTER_SECRET" {
                return Some("A".repeat(43));
            }
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap()
    }

    /// A store that accepts connections and never answers costs a call at most the
    /// operation timeout, which leaves room for two calls inside the functions' 10 s; no
    /// attempt is cut short and sent again (its conditional write may have landed).
    fn assert_timeouts_bound_a_hung_store(sdk: &SdkConfig) {
        let timeouts = sdk.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(AWS_OPERATION_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), None);
        assert!(AWS_OPERATION_TIMEOUT * 2 < std::time::Duration::from_secs(10));
    }

    async fn credentials_of(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Credentials {
        use aws_sdk_dynamodb::config::ProvideCredentials;
        let provider = sdk.credentials_provider().unwrap();
        provider.provide_credentials().await.unwrap()
    }

    #[tokio::test]
    async fn a_function_signs_with_the_region_and_credentials_lambda_puts_in_its_environment() {
        let sdk = aws_sdk_config(&aws_config(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret-key"),
            ("AWS_SESSION_TOKEN", "session-token"),
        ]))
        .await
        .unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(sdk.endpoint_url(), None);
        assert!(sdk.behavior_version().is_some());
        assert!(sdk.http_client().is_some());
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(3));
        assert_eq!(
            sdk.timeout_config().and_then(|t| t.connect_timeout()),
            Some(AWS_CONNECT_TIMEOUT)
        );
        assert_timeouts_bound_a_hung_store(&sdk);
        let credentials = credentials_of(&sdk).await;
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret-key");
        assert_eq!(credentials.session_token(), Some("session-token"));
    }

    #[tokio::test]
    async fn a_local_endpoint_gets_static_test_credentials_whatever_the_environment_holds() {
        let sdk = aws_sdk_config(&aws_config(&[
            ("LATCHKEY_AWS_ENDPOINT", "http://127.0.0.1:5056"),
            ("AWS_ACCESS_KEY_ID", "AKIAREAL"),
            ("AWS_SECRET_ACCESS_KEY", "real-secret"),
        ]))
        .await
        .unwrap();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5056"));
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_timeouts_bound_a_hung_store(&sdk);
        let credentials = credentials_of(&sdk).await;
        assert_eq!(credentials.access_key_id(), "test");
    }

    #[tokio::test]
    async fn a_function_without_region_or_key_does_not_start_whatever_the_features() {
        let key = [
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret-key"),
        ];
        assert!(aws_sdk_config(&aws_config(&key)).await.is_err());
        assert!(aws_sdk_config(&aws_config(&[("AWS_REGION", "eu-west-3")]))
            .await
            .is_err());
        assert!(aws_sdk_config(&aws_config(&[])).await.is_err());
    }
}
