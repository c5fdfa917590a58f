//! The notifier port on SNS: one topic; each device's HTTP(S) endpoint subscribes with a
//! filter policy on the `device_id` message attribute, so a push reaches only its device.

use super::{Notifier, NotifyError};
use async_trait::async_trait;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

pub struct SnsNotifier {
    client: Client,
    topic_arn: Option<String>,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: Option<String>) -> Self {
        SnsNotifier { client, topic_arn }
    }

    fn topic(&self) -> Result<&str, NotifyError> {
        self.topic_arn.as_deref().ok_or_else(|| {
            tracing::error!("LATCHKEY_PUSH_TOPIC_ARN is not configured");
            NotifyError::Unavailable
        })
    }
}

fn failed(operation: &'static str, error: impl std::error::Error) -> NotifyError {
    tracing::error!(operation, error = %DisplayErrorContext(&error), "SNS call failed");
    NotifyError::Unavailable
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(device_id)
            .build()
            .map_err(|e| failed("Publish", e))?;
        self.client
            .publish()
            .topic_arn(self.topic()?)
            .message(message)
            .message_attributes("device_id", attribute)
            .send()
            .await
            .map_err(|e| failed("Publish", e))?;
        Ok(())
    }

    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError> {
        let protocol = if endpoint.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        let filter = serde_json::json!({ "device_id": [device_id] }).to_string();
        let output = self
            .client
            .subscribe()
            .topic_arn(self.topic()?)
            .protocol(protocol)
            .endpoint(endpoint)
            .attributes("FilterPolicy", filter)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| failed("Subscribe", e))?;
        output
            .subscription_arn()
            .map(str::to_owned)
            .ok_or(NotifyError::Unavailable)
    }

    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError> {
        self.client
            .unsubscribe()
            .subscription_arn(subscription)
            .send()
            .await
            .map_err(|e| failed("Unsubscribe", e))?;
        Ok(())
    }
}
