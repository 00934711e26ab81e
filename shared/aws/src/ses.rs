//! The mailer on SES v2: `SendEmail` with raw content (the exact MIME bytes `pulso_core::mail`
//! built), the configuration set that routes bounce and complaint events back, and the account's
//! sending rate from `GetAccount`. SES errors are mapped to `MailError` by [`classify`].

use std::sync::Arc;

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use pulso_core::ports::{MailError, Mailer, OutgoingEmail};

use crate::dynamo::DisplayErrorChain;
use crate::lazy::LazyClient;

/// The SES v2 adapter of [`Mailer`]. Cheap to clone.
#[derive(Clone)]
pub struct SesMailer {
    client: LazyClient<Client>,
    configuration_set: Option<Arc<str>>,
}

impl std::fmt::Debug for SesMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesMailer")
            .field("configuration_set", &self.configuration_set)
            .finish()
    }
}

impl SesMailer {
    /// `configuration_set`: `email.configuration_set` from config (unset: none is named).
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self::with_client(LazyClient::ready(client), configuration_set)
    }

    /// The client is built on first use.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, configuration_set: Option<String>) -> Self {
        let sdk = sdk.clone();
        Self::with_client(
            LazyClient::new(move || Client::new(&sdk)),
            configuration_set,
        )
    }

    fn with_client(client: LazyClient<Client>, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            configuration_set: configuration_set
                .filter(|c| !c.trim().is_empty())
                .map(|c| Arc::from(c.trim())),
        }
    }

    pub fn client(&self) -> &Client {
        self.client.get()
    }

    /// Whether the SES client has been built (at cold start where the function's first event uses
    /// it, else on first use).
    pub fn client_built(&self) -> bool {
        self.client.is_built()
    }
}

/// What an SES error means for the caller.
pub fn classify(code: Option<&str>, message: Option<&str>) -> fn(String) -> MailError {
    let code = code.unwrap_or("");
    let message = message.unwrap_or("");
    match code {
        // Sending too fast, or the daily quota is used up: later will pass.
        "TooManyRequestsException"
        | "Throttling"
        | "ThrottlingException"
        | "LimitExceededException" => MailError::Throttled,
        // The message, the address or the sender is refused for good.
        "MessageRejected"
        | "MailFromDomainNotVerifiedException"
        | "AccountSuspendedException"
        | "BadRequestException"
        | "NotFoundException" => MailError::Rejected,
        // SES v1 words throttling as a message of a generic error.
        _ if message.contains("Maximum sending rate exceeded")
            || message.contains("Daily message quota exceeded") =>
        {
            MailError::Throttled
        }
        // SendingPausedException and anything else (network, 5xx) may pass on a later try.
        _ => MailError::Unavailable,
    }
}

/// Maps an SES SDK error (after the SDK's own retries) to a [`MailError`]. Messages carry the
/// error code, never a recipient.
pub fn map_ses_err<E, R>(op: &str, e: SdkError<E, R>) -> MailError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = e.as_service_error() {
        let code = service.code();
        let kind = classify(code, service.message());
        let text = format!("ses {op}: {}", code.unwrap_or("unknown error"));
        tracing::warn!(op, code = code.unwrap_or(""), "ses request failed");
        return kind(text);
    }
    let text = format!("ses {op}: {}", DisplayErrorChain(&e));
    tracing::warn!(op, error = %text, "ses request failed");
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => MailError::Unavailable(text),
        _ => classify(None, Some(&text))(text),
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(email.raw.clone()))
            .build()
            .map_err(|e| MailError::Rejected(format!("raw message: {e}")))?;
        let out = self
            .client()
            .send_email()
            .from_email_address(&email.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.as_deref().map(String::from))
            .send()
            .await
            .map_err(|e| map_ses_err("SendEmail", e))?;
        let id = out
            .message_id
            .ok_or_else(|| MailError::Unavailable("ses SendEmail: no message id".into()))?;
        tracing::info!(tag = email.tag, reference = %email.reference, message_id = %id, "email sent");
        Ok(id)
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, MailError> {
        let out = self
            .client()
            .get_account()
            .send()
            .await
            .map_err(|e| map_ses_err("GetAccount", e))?;
        Ok(out
            .send_quota()
            .map(|q| q.max_send_rate())
            .filter(|r| *r > 0.0 && r.is_finite()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(code: &str, message: &str) -> MailError {
        classify(Some(code), Some(message))(String::new())
    }

    #[test]
    fn throttling_is_retried_later() {
        for (code, message) in [
            ("TooManyRequestsException", ""),
            ("Throttling", "Maximum sending rate exceeded."),
            ("LimitExceededException", ""),
            ("SomethingNew", "Maximum sending rate exceeded."),
        ] {
            assert!(
                matches!(kind(code, message), MailError::Throttled(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn refusals_are_final_and_the_rest_is_retried() {
        for code in [
            "MessageRejected",
            "MailFromDomainNotVerifiedException",
            "AccountSuspendedException",
        ] {
            assert!(matches!(kind(code, ""), MailError::Rejected(_)), "{code}");
        }
        for code in ["SendingPausedException", "InternalFailure", ""] {
            assert!(
                matches!(kind(code, ""), MailError::Unavailable(_)),
                "{code}"
            );
        }
    }
}
