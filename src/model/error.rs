//! Provider errors, typed so the router can act on them without reading strings.

use std::time::{Duration, SystemTime};

/// Why a model request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 429: come back later.
    #[error("rate limited{}", wait_text(.retry_after, .reset_at))]
    RateLimited {
        /// From Retry-After / retry-after-ms.
        retry_after: Option<Duration>,
        /// From the provider's rate-limit reset headers.
        reset_at: Option<SystemTime>,
    },
    /// 529 or 503: the provider is overloaded.
    #[error("the provider is overloaded{}", wait_text(.retry_after, &None))]
    Overloaded {
        /// From Retry-After, if sent.
        retry_after: Option<Duration>,
    },
    /// Another 5xx.
    #[error("server error (HTTP {0})")]
    Server(u16),
    /// No answer in time.
    #[error("the request timed out")]
    Timeout,
    /// No connection.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// 401/403: the key is missing, wrong or not allowed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The prompt is too long for the model.
    #[error("the context length was exceeded: {0}")]
    ContextLengthExceeded(String),
    /// The request itself was refused (400, 404, …); retrying will not help.
    #[error("the request was refused (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The reply was malformed or broke off.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The local engine failed.
    #[error("local engine: {0}")]
    Local(String),
    /// The local model could not be loaded.
    #[error("the local model is unavailable: {0}")]
    LocalModelUnavailable(String),
}

fn wait_text(retry_after: &Option<Duration>, reset_at: &Option<SystemTime>) -> String {
    match (retry_after, reset_at) {
        (Some(d), _) => format!("; retry after {:.1} s", d.as_secs_f64()),
        (None, Some(t)) => {
            let secs = t
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs_f64();
            format!("; limit resets in {secs:.0} s")
        }
        (None, None) => String::new(),
    }
}

impl ProviderError {
    /// How long the provider asked us to wait, if it said.
    pub fn wait_hint(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited {
                retry_after: Some(d),
                ..
            }
            | ProviderError::Overloaded {
                retry_after: Some(d),
            } => Some(*d),
            ProviderError::RateLimited {
                reset_at: Some(t), ..
            } => Some(t.duration_since(SystemTime::now()).unwrap_or_default()),
            _ => None,
        }
    }
}
