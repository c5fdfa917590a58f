//! Enrollment: from a registration URI to a device the server knows.
//!
//! Order matters: the listeners are bound first (a busy port must not burn the
//! one-time registration, and SNS may post a SubscriptionConfirmation while the server
//! is still answering us); the key is saved before it is sent, so a crash after the
//! server's 201 cannot leave a registered device whose key is gone; and a failed
//! enrollment removes the state it wrote.
//!
//! The server's answer names the push topic (`topic_arn`); it is saved with the device
//! id, and deliveries from any other topic are refused from then on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::Url;
use ring::rand::SystemRandom;
use serde::Deserialize;
use tracing::info;

use crate::agent::{printable, server_error, Agent, SnsSignatures};
use crate::clock::Clock;
use crate::crypto::{enroll_message, DeviceKey};
use crate::error::{Error, Result};
use crate::server::{bind, RunningAgent};
use crate::state::{self, NewState, State};
use crate::uri;

pub struct EnrollOptions {
    pub uri: String,
    /// Where the SNS listener binds.
    pub listen: String,
    /// The endpoint SNS posts to (given to the server).
    pub public_url: String,
    pub name: Option<String>,
    pub state_path: PathBuf,
    /// Replace an already enrolled state file.
    pub force: bool,
    pub signatures: SnsSignatures,
    /// Control channel to start after enrollment; `None` starts none.
    pub control: Option<SocketAddr>,
    pub clock: Arc<dyn Clock>,
}

pub struct Enrolled {
    pub device_id: String,
    pub running: RunningAgent,
}

#[derive(Deserialize)]
struct EnrollResponse {
    device_id: String,
    /// Missing from servers older than this agent.
    #[serde(default)]
    topic_arn: Option<String>,
}

/// What the server's 201 told us.
struct Registered {
    device_id: String,
    /// `None` when the answer named no usable topic.
    topic_arn: Option<String>,
}

/// An SNS topic ARN, `arn:<partition>:sns:<region>:<account>:<name>`, as far as the
/// agent needs to trust it: it is compared, logged and saved, never used to connect.
pub fn is_topic_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    text.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && parts.iter().all(|p| !p.is_empty())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.'))
}

pub fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(
            "--name must be 1 to 64 characters without control characters".to_owned(),
        ));
    }
    Ok(name.to_owned())
}

pub fn check_public_url(text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|_| Error::InvalidArgument("--public-url is not an absolute URL".to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidArgument(
            "--public-url must be an http or https URL".to_owned(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidArgument(
            "--public-url must not carry credentials or a fragment".to_owned(),
        ));
    }
    Ok(url)
}

/// Refuses to replace an enrolled device unless forced: its key would be lost and the
/// server would keep a device nobody can answer for.
fn check_existing(opts: &EnrollOptions) -> Result<()> {
    if opts.force || !opts.state_path.exists() {
        return Ok(());
    }
    match state::load(&opts.state_path) {
        Ok(existing) if existing.device_id.is_none() => Ok(()),
        Ok(_) => Err(Error::AlreadyEnrolled {
            path: opts.state_path.clone(),
        }),
        Err(e) => Err(e),
    }
}

pub async fn enroll(opts: EnrollOptions) -> Result<Enrolled> {
    let parsed = uri::parse(&opts.uri)?;
    let endpoint = check_public_url(&opts.public_url)?;
    let name = opts.name.as_deref().map(check_name).transpose()?;
    check_existing(&opts)?;

    let sns_listener = bind(&opts.listen, "SNS deliveries").await?;
    let control_listener = match opts.control {
        Some(addr) => Some(bind(&addr.to_string(), "the control channel").await?),
        None => None,
    };

    let rng = crate::crypto::system_random();
    let key = DeviceKey::generate(&rng)?;
    let public_key = key.public_key_b64();
    let state = State::new(NewState {
        api: &parsed.api,
        username: &parsed.username,
        issuer: &parsed.issuer,
        name: name.as_deref(),
        server_key: &parsed.server_key,
        device_key: &key,
        endpoint: &endpoint,
        listen: Some(opts.listen.clone()),
    });
    state::save(&opts.state_path, &state)?;

    let agent = Agent::new(
        &opts.state_path,
        state,
        opts.signatures.clone(),
        opts.clock.clone(),
    )?;
    let running = RunningAgent::start(agent.clone(), sns_listener)?;

    let registered = register(&parsed, &key, &public_key, &endpoint, name.as_deref(), &rng).await;
    let Registered {
        device_id,
        topic_arn,
    } = match registered {
        Ok(registered) => registered,
        Err(e) => {
            running.shutdown().await;
            let _ = std::fs::remove_file(&opts.state_path);
            return Err(e);
        }
    };
    // From here on the server knows the key: never delete the state file.
    if let Err(e) = agent.set_enrolled(&device_id, topic_arn.as_deref()) {
        running.shutdown().await;
        return Err(Error::state(
            &opts.state_path,
            format!("enrolled as device {device_id}, but saving that failed: {e}"),
        ));
    }
    let Some(topic_arn) = topic_arn else {
        // The device exists on the server, so the state stays; but an agent that
        // cannot tell its topic from any other refuses every delivery.
        running.shutdown().await;
        return Err(Error::Server {
            status: 201,
            code: "unexpected_response".to_owned(),
            message: format!(
                "enrolled as device {device_id}, but the server's answer names no usable \
                 SNS topic (topic_arn), so this agent would refuse every push; remove the \
                 device from the account and enroll again (--force) against an updated server"
            ),
        });
    };
    info!(device_id = %device_id, topic = %topic_arn, "enrolled");
    let mut running = running;
    if let Some(listener) = control_listener {
        running.start_control(listener)?;
    }
    Ok(Enrolled { device_id, running })
}

async fn register(
    parsed: &uri::EnrollmentUri,
    key: &DeviceKey,
    public_key: &str,
    endpoint: &Url,
    name: Option<&str>,
    rng: &SystemRandom,
) -> Result<Registered> {
    let signature = key.sign(
        rng,
        enroll_message(&parsed.registration_id, public_key).as_bytes(),
    )?;
    let mut body = serde_json::json!({
        "registration_id": parsed.registration_id,
        "secret": parsed.secret.expose(),
        "public_key": public_key,
        "endpoint": endpoint.as_str(),
        "signature": signature,
    });
    if let Some(name) = name {
        body["name"] = name.into();
    }
    let url = parsed.enroll_url()?;
    info!(url = %url, user = %printable(&parsed.username), "enrolling");
    let response = crate::agent::http_client()?
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| Error::network("enrolling", &e))?;
    if !response.status().is_success() {
        return Err(server_error(response).await);
    }
    let answer: EnrollResponse = response
        .json()
        .await
        .map_err(|e| Error::network("reading the enrollment answer", &e))?;
    let device_id = answer.device_id;
    if device_id.is_empty() || device_id.len() > 256 || device_id.chars().any(char::is_control) {
        return Err(Error::Server {
            status: 201,
            code: "unexpected_response".to_owned(),
            message: "the server answered with an unusable device_id".to_owned(),
        });
    }
    let topic_arn = answer.topic_arn.filter(|t| is_topic_arn(t));
    Ok(Registered {
        device_id,
        topic_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arns() {
        assert!(is_topic_arn(
            "arn:aws:sns:us-east-1:123456789012:latchkey-push"
        ));
        assert!(is_topic_arn(
            "arn:aws-cn:sns:cn-north-1:123456789012:push_1.fifo"
        ));
        assert!(!is_topic_arn(
            "arn:aws:sqs:us-east-1:123456789012:latchkey-push"
        ));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:123456789012"));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1::latchkey-push"));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:1:x\u{1b}[2J"));
        assert!(!is_topic_arn(""));
    }
}
