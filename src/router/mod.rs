//! The router: binds roles to providers and decides, per request, where it runs and why.
//!
//! For a role bound to a cloud provider, each request is checked in order: `--offline`; sensitive data (kept
//! local, or redacted by policy); the session and daily budgets; the provider's circuit breaker. Then the cloud
//! is tried; a failure it reports with a short wait is retried once in place, anything else opens the breaker and
//! the request falls back to the local model, so the work goes on. Every decision is an event and a log line;
//! every answered request is a row in the spend ledger.

pub mod breaker;
pub mod sensitive;
mod setup;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use crate::protocol::{RouteDecision, RouteReason, RouteRole, clock};
pub use setup::{RouterSetupError, cloud_providers, new_session_id, resolve_target};

use crate::config::SensitivePolicy;
use crate::model::{ChatEvent, ChatModel, ChatRequest, ChatResponse, ProviderError, collect};
use crate::spend::{Ledger, PriceTable, SpendRow, now_ms, start_of_day_ms};
use breaker::{Admission, Breaker};
use sensitive::{Kind, Redactor, Scanner};

/// The longest provider-requested wait that is slept through inside one request; longer ones fall back at once.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);

/// Where a role's requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The local model, and why.
    Local(RouteReason),
    /// A cloud provider, by name.
    Cloud(String),
}

/// The router's settings.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The planner's target.
    pub planner: Target,
    /// The executor's target.
    pub executor: Target,
    /// No network at all.
    pub offline: bool,
    /// What to do with sensitive requests.
    pub policy: SensitivePolicy,
    /// Session cap in USD.
    pub session_cap_usd: Option<f64>,
    /// Daily cap in USD (UTC days, all sessions).
    pub daily_cap_usd: Option<f64>,
    /// The cloud model local tokens are priced at, to report savings.
    pub reference_model: String,
    /// This session's id (in the ledger).
    pub session: String,
}

/// What the router tells its caller while a request runs.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterEvent {
    /// Where the request goes now (a fallback sends a second one).
    Decision(RouteDecision),
    /// A streamed piece of the reply.
    Delta(ChatEvent),
    /// Text streamed so far is void: the provider failed part-way and the request starts again elsewhere.
    Restart,
    /// A provider failed.
    ProviderFailed {
        /// The provider.
        provider: String,
        /// What went wrong.
        error: ProviderError,
    },
    /// The ledger could not be written (the request itself succeeded).
    LedgerError(String),
}

/// A routed request's outcome.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The reply (placeholders mapped back).
    pub response: ChatResponse,
    /// Where it ran and why.
    pub decision: RouteDecision,
    /// What it cost (`None`: unpriced).
    pub usd: Option<f64>,
    /// What it saved by running locally.
    pub saved_usd: Option<f64>,
    /// Wall time.
    pub latency: Duration,
}

/// Why a request could not be served at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouterError {
    /// The request must run locally, but no local model is available.
    #[error(
        "the request must run locally ({reason}), but the local model is unavailable: {detail}"
    )]
    NoLocalModel {
        /// Why it had to be local.
        reason: String,
        /// Why the local model is unavailable.
        detail: String,
    },
    /// The provider that served the request (after any fallback) failed.
    #[error("{provider}: {error}")]
    Provider {
        /// The provider.
        provider: String,
        /// The error.
        error: ProviderError,
    },
}

/// The router.
pub struct Router {
    config: RouterConfig,
    local: Option<Arc<dyn ChatModel>>,
    cloud: BTreeMap<String, Arc<dyn ChatModel>>,
    scanner: Scanner,
    prices: PriceTable,
    ledger: Option<Arc<Ledger>>,
    breakers: Mutex<BTreeMap<String, Breaker>>,
    spent: Mutex<f64>,
}

impl Router {
    /// A router over these providers.
    pub fn new(
        config: RouterConfig,
        local: Option<Arc<dyn ChatModel>>,
        cloud: Vec<Arc<dyn ChatModel>>,
        scanner: Scanner,
        prices: PriceTable,
        ledger: Option<Arc<Ledger>>,
    ) -> Self {
        let cloud = cloud
            .into_iter()
            .map(|m| (m.provider().to_string(), m))
            .collect();
        Router {
            config,
            local,
            cloud,
            scanner,
            prices,
            ledger,
            breakers: Mutex::default(),
            spent: Mutex::new(0.0),
        }
    }

    /// The router's settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Whether a workspace path is marked sensitive (its content never goes to the cloud).
    pub fn is_sensitive_path(&self, path: &str) -> bool {
        self.scanner.is_sensitive_path(path)
    }

    /// Whether `text` holds anything sensitive (a secret, or personal data when that is detected).
    pub fn holds_sensitive(&self, text: &str) -> bool {
        !self.scanner.scan(text).is_empty()
    }

    /// USD this session has spent through this router.
    pub fn session_spent(&self) -> f64 {
        *self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves one request for `role`, reporting decisions and streamed text to `on`.
    pub async fn chat(
        &self,
        role: RouteRole,
        request: &ChatRequest,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Result<Routed, RouterError> {
        let target = match role {
            RouteRole::Planner => &self.config.planner,
            RouteRole::Executor => &self.config.executor,
        };
        self.route(role, target, request, on).await
    }

    /// Whether a failed executor step can be escalated: the planner is bound to a different provider than the
    /// executor.
    pub fn can_escalate(&self) -> bool {
        matches!(&self.config.planner, Target::Cloud(_))
            && self.config.planner != self.config.executor
    }

    /// Serves an executor request on the planner's provider (a step the executor failed), with the same checks
    /// (sensitive data still stays local).
    pub async fn chat_escalated(
        &self,
        request: &ChatRequest,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Result<Routed, RouterError> {
        let target = self.config.planner.clone();
        self.route(RouteRole::Executor, &target, request, on).await
    }

    async fn route(
        &self,
        role: RouteRole,
        target: &Target,
        request: &ChatRequest,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Result<Routed, RouterError> {
        let name = match target {
            // Offline, "no key" is not why the request stays here.
            Target::Local(RouteReason::NoCloudKey) if self.config.offline => {
                return self
                    .run_local(role, request, RouteReason::Offline, on)
                    .await;
            }
            Target::Local(reason) => {
                return self.run_local(role, request, reason.clone(), on).await;
            }
            Target::Cloud(name) => name.clone(),
        };
        if self.config.offline {
            return self
                .run_local(role, request, RouteReason::Offline, on)
                .await;
        }
        let Some(model) = self.cloud.get(&name).cloned() else {
            return Err(RouterError::Provider {
                provider: name,
                error: ProviderError::Rejected {
                    status: 0,
                    message: "no such provider".into(),
                },
            });
        };

        let found = self.scanner.scan_request(request);
        let mut redactor = None;
        let mut redacted = None;
        if !found.is_empty() {
            if self.config.policy == SensitivePolicy::Redact
                && !found.contains(&Kind::SensitivePath)
            {
                let mut r = Redactor::default();
                redacted = Some(r.redact_request(&self.scanner, request));
                redactor = Some((r, found));
            } else {
                return self
                    .run_local(role, request, RouteReason::Sensitive { found }, on)
                    .await;
            }
        }
        if let Some(reason) = self.budget_spent() {
            return self.run_local(role, request, reason, on).await;
        }
        let admission = self.breaker(&name, |b| b.admit(Instant::now()));
        if let Admission::Deny { until } = admission {
            let reason = RouteReason::CircuitOpen {
                provider: name,
                retry_at: system_time(until),
            };
            return self.run_local(role, request, reason, on).await;
        }

        let reason = match (&redactor, admission) {
            (Some((r, found)), _) => RouteReason::Redacted {
                found: found.clone(),
                values: r.len(),
            },
            (None, Admission::Probe) => RouteReason::Probe,
            (None, _) => RouteReason::Configured,
        };
        let decision = RouteDecision {
            role,
            provider: name.clone(),
            model: model.model().to_string(),
            reason,
        };
        tracing::info!(%decision, "route");
        on(RouterEvent::Decision(decision.clone()));
        let outgoing = redacted.as_ref().unwrap_or(request);
        let started = Instant::now();
        let mut attempt = 0;
        let error = loop {
            attempt += 1;
            let mut streamed = false;
            let result = async {
                let stream = model.stream(outgoing).await?;
                collect(stream, |e| {
                    streamed |=
                        matches!(e, ChatEvent::Text { .. } | ChatEvent::ToolCallStart { .. });
                    on(RouterEvent::Delta(e.clone()));
                })
                .await
            }
            .await;
            match result {
                Ok(mut response) => {
                    self.breaker(&name, Breaker::success);
                    if let Some((r, _)) = &redactor {
                        response.text = r.restore(&response.text);
                        for call in &mut response.tool_calls {
                            call.arguments = r.restore(&call.arguments);
                        }
                    }
                    return Ok(self.finish(decision, response, started, on));
                }
                Err(e) => {
                    tracing::warn!(provider = %name, attempt, error = %e, "cloud request failed");
                    on(RouterEvent::ProviderFailed {
                        provider: name.clone(),
                        error: e.clone(),
                    });
                    if streamed {
                        on(RouterEvent::Restart);
                    }
                    let wait = e.wait_hint().unwrap_or(Duration::from_millis(500));
                    let retry = attempt < 2
                        && matches!(
                            e,
                            ProviderError::RateLimited { .. }
                                | ProviderError::Overloaded { .. }
                                | ProviderError::Server(_)
                                | ProviderError::BadResponse(_)
                        )
                        && wait <= MAX_INLINE_WAIT;
                    if !retry {
                        break e;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        };
        let until = self.breaker(&name, |b| b.failure(Instant::now(), &error, jitter()));
        let reason = RouteReason::FellBack {
            provider: name,
            error: error.to_string(),
            retry_at: system_time(until),
        };
        self.run_local(role, request, reason, on).await
    }

    async fn run_local(
        &self,
        role: RouteRole,
        request: &ChatRequest,
        reason: RouteReason,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Result<Routed, RouterError> {
        let Some(local) = self.local.clone() else {
            return Err(RouterError::NoLocalModel {
                reason: reason.to_string(),
                detail: "none is configured".into(),
            });
        };
        let decision = RouteDecision {
            role,
            provider: "local".into(),
            model: local.model().to_string(),
            reason,
        };
        tracing::info!(%decision, "route");
        on(RouterEvent::Decision(decision.clone()));
        let started = Instant::now();
        let result = async {
            let stream = local.stream(request).await?;
            collect(stream, |e| on(RouterEvent::Delta(e.clone()))).await
        }
        .await;
        match result {
            Ok(response) => Ok(self.finish(decision, response, started, on)),
            Err(ProviderError::LocalModelUnavailable(detail)) => Err(RouterError::NoLocalModel {
                reason: decision.reason.to_string(),
                detail,
            }),
            Err(error) => Err(RouterError::Provider {
                provider: "local".into(),
                error,
            }),
        }
    }

    /// Prices the reply, writes the ledger row, and counts it against the budget.
    fn finish(
        &self,
        decision: RouteDecision,
        response: ChatResponse,
        started: Instant,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Routed {
        let latency = started.elapsed();
        let local = decision.is_local();
        let (usd, saved_usd) = if local {
            (
                Some(0.0),
                self.prices
                    .cost(&self.config.reference_model, &response.usage),
            )
        } else {
            (self.prices.cost(&decision.model, &response.usage), None)
        };
        if let Some(spent) = usd {
            *self
                .spent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += spent;
        }
        if let Some(ledger) = &self.ledger {
            let row = SpendRow {
                ts_ms: now_ms(),
                session: self.config.session.clone(),
                role: decision.role.as_str().into(),
                provider: decision.provider.clone(),
                model: decision.model.clone(),
                local,
                usage: response.usage,
                usd,
                saved_usd,
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                reason: decision.reason.to_string(),
            };
            if let Err(e) = ledger.record(&row) {
                tracing::error!(error = %e, "ledger write failed");
                on(RouterEvent::LedgerError(e.to_string()));
            }
        }
        Routed {
            response,
            decision,
            usd,
            saved_usd,
            latency,
        }
    }

    /// The budget reason to stay local, if a cap is reached.
    fn budget_spent(&self) -> Option<RouteReason> {
        let session = self.session_spent();
        if let Some(cap) = self.config.session_cap_usd.filter(|&c| session >= c) {
            return Some(RouteReason::BudgetSpent {
                scope: "session".into(),
                spent_usd: session,
                cap_usd: cap,
            });
        }
        let cap = self.config.daily_cap_usd?;
        let today = match &self.ledger {
            Some(l) => l
                .spent_since(start_of_day_ms(now_ms()), None)
                .unwrap_or(session),
            None => session,
        };
        (today >= cap).then(|| RouteReason::BudgetSpent {
            scope: "daily".into(),
            spent_usd: today,
            cap_usd: cap,
        })
    }

    fn breaker<T>(&self, name: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut map = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(name.to_string()).or_default())
    }
}

/// The wall-clock time of an `Instant` in the future.
fn system_time(at: Instant) -> SystemTime {
    SystemTime::now() + at.saturating_duration_since(Instant::now())
}

/// A factor in 0.8–1.2 that spreads retries of many clients apart.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms().unsigned_abs());
    0.8 + (h.finish() % 10_000) as f64 / 10_000.0 * 0.4
}
