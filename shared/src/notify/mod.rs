//! The notifier port: how a login push reaches a device. SNS is an untrusted pipe: every
//! message is signed by the server, so the port carries opaque text.

pub mod bus;
pub mod sns;

use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotifyError {
    #[error("notifier unavailable")]
    Unavailable,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes `message` to the device whose subscription filters on `device_id`.
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError>;
    /// Subscribes `endpoint` for messages to `device_id`; returns the subscription id.
    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError>;
    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError>;
}

/// The notifier of a function whose route table entry grants no SNS action: it has no SNS
/// client, and its IAM policy would refuse the call anyway. Reaching it is a route-table bug,
/// answered 503 and logged.
pub struct NoNotifier;

#[async_trait]
impl Notifier for NoNotifier {
    async fn publish(&self, _device_id: &str, _message: &str) -> Result<(), NotifyError> {
        Err(not_granted("Publish"))
    }
    async fn subscribe(&self, _endpoint: &str, _device_id: &str) -> Result<String, NotifyError> {
        Err(not_granted("Subscribe"))
    }
    async fn unsubscribe(&self, _subscription: &str) -> Result<(), NotifyError> {
        Err(not_granted("Unsubscribe"))
    }
}

fn not_granted(action: &str) -> NotifyError {
    tracing::error!(
        action,
        "SNS call from a function whose route table entry grants no SNS action"
    );
    NotifyError::Unavailable
}

/// Records what would be sent: unit tests of pure logic and in-process benchmarks.
#[derive(Default)]
pub struct RecordingNotifier {
    pub published: Mutex<Vec<(String, String)>>,
    pub subscriptions: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError> {
        self.published
            .lock()
            .map_err(|_| NotifyError::Unavailable)?
            .push((device_id.to_owned(), message.to_owned()));
        Ok(())
    }
    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError> {
        let mut subs = self
            .subscriptions
            .lock()
            .map_err(|_| NotifyError::Unavailable)?;
        subs.push((endpoint.to_owned(), device_id.to_owned()));
        Ok(format!("recorded:{}", subs.len()))
    }
    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError> {
        self.subscriptions
            .lock()
            .map_err(|_| NotifyError::Unavailable)?
            .retain(|(_, id)| id != subscription);
        Ok(())
    }
}
