//! Route decisions: which provider served a request, and why. Every decision is an event and a log line.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// What kind of sensitive data a request held.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A PEM private key block.
    PrivateKey,
    /// A cloud provider key (AWS, Google Cloud, Azure).
    CloudKey,
    /// A service's key or token: GitHub, GitLab, Slack, and the providers gitleaks' rules know.
    ServiceToken,
    /// An OpenAI or Anthropic API key.
    ModelApiKey,
    /// A payment provider key (Stripe).
    PaymentKey,
    /// A JSON Web Token.
    Jwt,
    /// `password|secret|token = "..."` with a high-entropy value.
    SecretAssignment,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number (Luhn-valid).
    CardNumber,
    /// An IBAN (checksum-valid).
    Iban,
    /// A US social security number.
    UsSsn,
    /// A pattern from config.
    UserPattern,
    /// A file matching a sensitive path glob.
    SensitivePath,
    /// A value seen in a sensitive file or a provider key variable, in any form a request carries it.
    KnownSecret,
}

impl Kind {
    /// The placeholder's label when the value is redacted: `[SECRET_1]`, `[EMAIL_2]`, …
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::CardNumber => "CARD",
            Kind::Iban => "IBAN",
            Kind::UsSsn => "SSN",
            Kind::UserPattern => "REDACTED",
            Kind::SensitivePath => "PATH",
            _ => "SECRET",
        }
    }
}

/// The two roles requests are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteRole {
    /// Planning and re-planning.
    Planner,
    /// Carrying out a step.
    Executor,
}

impl RouteRole {
    /// `planner` or `executor`.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteRole::Planner => "planner",
            RouteRole::Executor => "executor",
        }
    }
}

/// Why a request went where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteReason {
    /// The role is bound to this provider.
    Configured,
    /// The role wants the cloud, but no cloud provider has a key.
    NoCloudKey,
    /// `--offline`.
    Offline,
    /// The request holds sensitive data and the policy keeps such requests local.
    Sensitive {
        /// What was found.
        found: Vec<Kind>,
    },
    /// Sensitive values were replaced by placeholders before the request left.
    Redacted {
        /// What was found.
        found: Vec<Kind>,
        /// How many distinct values were replaced.
        values: usize,
    },
    /// A spending cap is reached.
    BudgetSpent {
        /// `session` or `daily`.
        scope: String,
        /// USD spent.
        spent_usd: f64,
        /// The cap.
        cap_usd: f64,
    },
    /// The provider's breaker is open after an earlier failure.
    CircuitOpen {
        /// The provider.
        provider: String,
        /// When it will be tried again.
        #[serde(with = "system_time")]
        retry_at: SystemTime,
    },
    /// The provider failed this request; it fell back.
    FellBack {
        /// The provider.
        provider: String,
        /// What went wrong.
        error: String,
        /// When it will be tried again.
        #[serde(with = "system_time")]
        retry_at: SystemTime,
    },
    /// The first request to the provider after its breaker opened.
    Probe,
}

/// A request's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The role.
    pub role: RouteRole,
    /// The provider that serves it.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Why.
    pub reason: RouteReason,
    /// Which of the provider's replicas (`team@2`), when it has more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

impl RouteDecision {
    /// Whether the request runs on this machine.
    pub fn is_local(&self) -> bool {
        self.provider == "local"
    }
}

/// HH:MM:SS UTC of a time.
pub fn clock(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(time::macros::format_description!(
        "[hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

impl fmt::Display for RouteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteReason::Configured => f.write_str("configured"),
            RouteReason::NoCloudKey => f.write_str("no cloud API key is set"),
            RouteReason::Offline => f.write_str("--offline"),
            RouteReason::Sensitive { found } => {
                write!(f, "sensitive data ({}) stays local", kinds(found))
            }
            RouteReason::Redacted { found, values } => {
                write!(f, "{values} sensitive value(s) redacted ({})", kinds(found))
            }
            RouteReason::BudgetSpent {
                scope,
                spent_usd,
                cap_usd,
            } => {
                write!(f, "{scope} budget spent (${spent_usd:.4} of ${cap_usd:.2})")
            }
            RouteReason::CircuitOpen { provider, retry_at } => {
                write!(
                    f,
                    "{provider} unavailable; local until {} UTC",
                    clock(*retry_at)
                )
            }
            RouteReason::FellBack {
                provider,
                error,
                retry_at,
            } => {
                write!(
                    f,
                    "{provider} failed ({error}); local until {} UTC",
                    clock(*retry_at)
                )
            }
            RouteReason::Probe => f.write_str("retrying after the provider's reset"),
        }
    }
}

impl fmt::Display for RouteDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} → {}/{} (",
            self.role.as_str(),
            self.replica.as_deref().unwrap_or(&self.provider),
            self.model
        )?;
        // The reason's own text says "local until…"; a request that moved down a chain went elsewhere.
        match &self.reason {
            RouteReason::CircuitOpen { provider, retry_at } if !self.is_local() => write!(
                f,
                "{provider} unavailable; back to it after {} UTC",
                clock(*retry_at)
            )?,
            RouteReason::FellBack {
                provider,
                error,
                retry_at,
            } if !self.is_local() => write!(
                f,
                "{provider} failed ({error}); back to it after {} UTC",
                clock(*retry_at)
            )?,
            RouteReason::Sensitive { found } if !self.is_local() => write!(
                f,
                "sensitive data ({}) stays inside the trust boundary",
                kinds(found)
            )?,
            reason => write!(f, "{reason}")?,
        }
        f.write_str(")")
    }
}

fn kinds(found: &[Kind]) -> String {
    let names: Vec<String> = found
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    names.join(", ")
}

mod system_time {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(
            &time::OffsetDateTime::from(*t)
                .format(&Rfc3339)
                .unwrap_or_default(),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        time::OffsetDateTime::parse(&text, &Rfc3339)
            .map(SystemTime::from)
            .map_err(serde::de::Error::custom)
    }
}
