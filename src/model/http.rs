//! HTTP details shared by the cloud providers: rate-limit headers, status codes to typed errors, the client.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::error::ProviderError;

/// Seconds to wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP client for providers: connect timeout, and a read timeout that catches a stalled stream.
pub fn client(read_timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .build()
        .map_err(|e| ProviderError::Connect(format!("HTTP client: {e}")))
}

/// What every cloud provider holds: its config name, model, base URL, key and HTTP client.
pub struct Endpoint {
    /// The provider's name in config.
    pub name: String,
    /// The model requested.
    pub model: String,
    /// The API's base URL, without a trailing slash.
    pub base_url: String,
    /// The API key, if one is configured.
    pub key: Option<crate::secret::Secret>,
    /// The HTTP client (connect and read timeouts set).
    pub client: reqwest::Client,
}

impl Endpoint {
    /// An endpoint for `model` at `base_url`; `read_timeout` is the longest silence a response may have.
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        model: impl Into<String>,
        key: Option<crate::secret::Secret>,
        read_timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Endpoint {
            name: name.into(),
            model: model.into(),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            key,
            client: client(read_timeout)?,
        })
    }
}

impl Endpoint {
    /// The error with this endpoint's key removed from its message (some servers echo what they were sent).
    pub fn scrub(&self, error: ProviderError) -> ProviderError {
        let Some(key) = self.key.as_ref().map(crate::secret::Secret::expose) else {
            return error;
        };
        if key.len() < 4 {
            return error;
        }
        match error {
            ProviderError::Auth(m) => ProviderError::Auth(m.replace(key, "[the key]")),
            ProviderError::Rejected { status, message } => ProviderError::Rejected {
                status,
                message: message.replace(key, "[the key]"),
            },
            other => other,
        }
    }
}

impl Endpoint {
    /// Sends `request` and returns the response if its status is a success, else the typed error (key scrubbed).
    pub async fn open(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.scrub(transport_error(&e)))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Err(self.scrub(status_error(status, &headers, &body)))
    }
}

/// The error for a server-sent-event stream that broke after it opened.
pub fn stream_error(e: eventsource_stream::EventStreamError<reqwest::Error>) -> ProviderError {
    match e {
        eventsource_stream::EventStreamError::Transport(e) if e.is_timeout() => {
            ProviderError::Timeout
        }
        eventsource_stream::EventStreamError::Transport(e) => {
            ProviderError::BadResponse(format!("the stream broke: {}", without_url(&e)))
        }
        other => ProviderError::BadResponse(format!("the stream broke: {other}")),
    }
}

/// Maps a transport error.
pub fn transport_error(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_connect() {
        ProviderError::Connect(without_url(e))
    } else if e.is_body() || e.is_decode() {
        ProviderError::BadResponse(format!("the response broke off: {}", without_url(e)))
    } else {
        ProviderError::Connect(without_url(e))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    // The URL carries no secret, but the message is clearer without it repeated.
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "the endpoint");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The typed error for a non-success status, from its headers and body.
pub fn status_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    let message = error_message(body);
    match status {
        401 | 403 => ProviderError::Auth(format!("HTTP {status}: {message}")),
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers),
            reset_at: reset_at(headers),
        },
        503 | 529 => ProviderError::Overloaded {
            retry_after: retry_after(headers),
        },
        400 | 413 if is_context_overflow(&message) => ProviderError::ContextLengthExceeded(message),
        500..=599 => ProviderError::Server(status),
        _ => ProviderError::Rejected { status, message },
    }
}

/// Whether an error message says the prompt is too long.
pub fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "maximum context length",
        "prompt is too long",
        "context window",
        "too many tokens",
        // llama-server: "the request exceeds the available context size, try increasing it"
        "exceeds the available context",
        "exceed_context_size",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The `message` of a JSON error body (OpenAI's `error.message`, Anthropic's `error.message`), else the body.
pub fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let mut text: String = text.chars().take(300).collect();
    if text.is_empty() {
        text = "(no message)".into();
    }
    text
}

/// `retry-after-ms`, else `retry-after` (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return duration_secs(ms / 1000.0);
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return duration_secs(secs);
    }
    let at = httpdate(value)?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

fn duration_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The latest reset time among the rate-limit headers that say a limit is spent (or all, if none says so).
pub fn reset_at(headers: &HeaderMap) -> Option<SystemTime> {
    let now = SystemTime::now();
    let mut resets = Vec::new();
    for (name, value) in headers {
        let (name, Ok(value)) = (name.as_str(), value.to_str()) else {
            continue;
        };
        let at = if let Some(kind) = name.strip_prefix("x-ratelimit-reset-") {
            // OpenAI: a duration such as "1s", "6m0s", "20ms"; only count limits that are spent.
            let remaining = headers
                .get(format!("x-ratelimit-remaining-{kind}"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if remaining.is_some_and(|r| r > 0) {
                continue;
            }
            go_duration(value).map(|d| now + d)
        } else if name.starts_with("anthropic-ratelimit-") && name.ends_with("-reset") {
            let kind = &name["anthropic-ratelimit-".len()..name.len() - "-reset".len()];
            let remaining = headers
                .get(format!("anthropic-ratelimit-{kind}-remaining"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if remaining.is_some_and(|r| r > 0) {
                continue;
            }
            rfc3339(value)
        } else {
            None
        };
        resets.extend(at);
    }
    resets.into_iter().max()
}

/// Parses Go-style durations as OpenAI sends them: "1s", "6m0s", "1h2m3.5s", "20ms".
pub fn go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit;
        any = true;
    }
    if !number.is_empty() {
        return None;
    }
    any.then(|| Duration::from_secs_f64(total))
}

fn rfc3339(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(SystemTime::from(t))
}

fn httpdate(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc2822)
        .ok()?;
    Some(SystemTime::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
        assert_eq!(go_duration("abc"), None);
        assert_eq!(go_duration("12"), None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after", "30"),
                ("retry-after-ms", "1500")
            ])),
            Some(Duration::from_millis(1500))
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
        let date = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn reset_headers_of_spent_limits() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "30s"),
            ("x-ratelimit-remaining-tokens", "5000"),
            ("x-ratelimit-reset-tokens", "10m0s"),
        ]);
        let at = reset_at(&h).unwrap();
        let secs = at.duration_since(SystemTime::now()).unwrap().as_secs_f64();
        assert!(
            (28.0..=30.0).contains(&secs),
            "the spent request limit, not the token one: {secs}"
        );

        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(45);
        let stamp = later
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let h = headers(&[
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            ("anthropic-ratelimit-input-tokens-reset", &stamp),
        ]);
        let secs = reset_at(&h)
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap()
            .as_secs_f64();
        assert!((43.0..=45.0).contains(&secs), "{secs}");
    }

    #[test]
    fn statuses_become_typed_errors() {
        let none = HeaderMap::new();
        let body =
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        assert_eq!(
            status_error(401, &none, body),
            ProviderError::Auth("HTTP 401: Incorrect API key provided".into())
        );
        assert_eq!(
            status_error(429, &headers(&[("retry-after", "2")]), ""),
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                reset_at: None
            }
        );
        assert_eq!(
            status_error(529, &none, ""),
            ProviderError::Overloaded { retry_after: None }
        );
        assert_eq!(
            status_error(502, &none, "bad gateway"),
            ProviderError::Server(502)
        );
        let long = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        assert!(matches!(
            status_error(400, &none, long),
            ProviderError::ContextLengthExceeded(_)
        ));
        assert!(matches!(
            status_error(404, &none, "{}"),
            ProviderError::Rejected { status: 404, .. }
        ));
    }
}
