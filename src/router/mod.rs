//! The router: binds roles to providers and decides, per request, where it runs and why.
//!
//! For a role bound to a cloud provider, each request is checked in order: `--offline`; sensitive data (kept
//! local, or redacted by policy); the session and daily budgets; the provider's circuit breaker. Then the cloud
//! is tried; a failure it reports with a short wait is retried once in place, anything else opens the breaker and
//! the request falls back to the local model, so the work goes on. Every decision is an event and a log line;
//! every answered request is a row in the spend ledger.

mod account;
pub mod breaker;
mod links;
pub mod sensitive;
mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use crate::protocol::{RouteDecision, RouteReason, RouteRole, clock};
pub use links::{replica_order, same_model};
pub use setup::{RouterSetupError, cloud_providers, resolve_target};

use crate::config::SensitivePolicy;
use crate::model::{ChatEvent, ChatModel, ChatRequest, ChatResponse, ProviderError, collect};
use crate::spend::{Ledger, PriceTable, now_ms};
use breaker::{Admission, Breaker};
use links::{note, replica_label};
use sensitive::{Kind, Redactor, Scanner};

/// The longest provider-requested wait that is slept through inside one request; longer ones fall back at once.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);

/// Where a role's requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The local model, and why.
    Local(RouteReason),
    /// Providers by name, in order of preference; the local model is the last resort after them.
    Cloud(Vec<String>),
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
    /// This session's id (in the ledger; it also picks the session's replica of each provider).
    pub session: String,
    /// Providers inside the trust boundary (the team's own servers).
    pub inside: BTreeSet<String>,
    /// The environment variable each provider's API key comes from (named when a key is refused).
    pub key_env: BTreeMap<String, String>,
    /// Most tokens a reply of the local model may have (a request asking for more is capped).
    pub local_max_tokens: Option<u32>,
    /// The planner's output cap.
    pub planner_max_tokens: u32,
    /// The executor's output cap.
    pub executor_max_tokens: u32,
}

impl RouterConfig {
    /// Settings with these targets and session id, and the defaults for the rest: online, sensitive requests
    /// local, no caps, savings priced at gpt-5.1, no provider inside the boundary, the built-in output caps.
    pub fn new(planner: Target, executor: Target, session: impl Into<String>) -> Self {
        let local = crate::config::LocalConfig::default().max_tokens;
        RouterConfig {
            planner,
            executor,
            offline: false,
            policy: SensitivePolicy::Local,
            session_cap_usd: None,
            daily_cap_usd: None,
            reference_model: setup::DEFAULT_REFERENCE_MODEL.into(),
            session: session.into(),
            inside: BTreeSet::new(),
            key_env: BTreeMap::new(),
            local_max_tokens: None,
            planner_max_tokens: crate::config::PLANNER_MAX_TOKENS,
            executor_max_tokens: local,
        }
    }
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
    /// Something the person should know that does not stop the request (a provider serving another model).
    Notice(String),
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
    /// Its row in the spend ledger, if one was written.
    pub ledger_row: Option<i64>,
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
    /// A provider refused the API key: not a fallback reason, since every later request would be refused too.
    #[error(
        "{provider} refused the API key ({message}); check {}",
        if key_env.is_empty() { format!("providers.{provider}.api_key_env") } else { format!("${key_env}") }
    )]
    Auth {
        /// The provider.
        provider: String,
        /// The environment variable the key comes from (empty when none is configured).
        key_env: String,
        /// What the provider said (HTTP status and message; never the key).
        message: String,
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

/// The tools whose arguments get redacted values back: they write workspace files and reach no network.
const RESTORED_INTO: &[&str] = &["edit", "write_file"];

/// The router.
pub struct Router {
    config: RouterConfig,
    local: Option<Arc<dyn ChatModel>>,
    /// Each provider's replicas, in config order.
    cloud: BTreeMap<String, Vec<Arc<dyn ChatModel>>>,
    scanner: Scanner,
    prices: PriceTable,
    ledger: Option<Arc<Ledger>>,
    breakers: Mutex<BTreeMap<String, Breaker>>,
    spent: Mutex<f64>,
    /// Providers whose served model was reported as differing from the configured one.
    noticed: Mutex<BTreeSet<String>>,
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
        let mut by_name: BTreeMap<String, Vec<Arc<dyn ChatModel>>> = BTreeMap::new();
        for m in cloud {
            by_name.entry(m.provider().to_string()).or_default().push(m);
        }
        let cloud = by_name;
        Router {
            config,
            local,
            cloud,
            scanner,
            prices,
            ledger,
            breakers: Mutex::default(),
            spent: Mutex::new(0.0),
            noticed: Mutex::default(),
        }
    }

    /// The router's settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The most tokens a reply for `role` may have.
    pub fn max_tokens(&self, role: RouteRole) -> u32 {
        match role {
            RouteRole::Planner => self.config.planner_max_tokens,
            RouteRole::Executor => self.config.executor_max_tokens,
        }
    }

    /// Whether the executor's route is the local model (not a cloud provider it would only fall back from):
    /// it is bound to it, or the session is offline.
    pub fn executes_locally(&self) -> bool {
        self.config.offline || matches!(self.config.executor, Target::Local(_))
    }

    /// Whether the planner's route is the local model: it is bound to it, or the session is offline.
    pub fn plans_locally(&self) -> bool {
        self.config.offline || matches!(self.config.planner, Target::Local(_))
    }

    /// Whether a workspace path is marked sensitive (its content never goes to the cloud).
    pub fn is_sensitive_path(&self, path: &str) -> bool {
        self.scanner.is_sensitive_path(path)
    }

    /// Zeroes the savings recorded for these ledger rows: the work they did did not land.
    pub fn void_saved(&self, rows: &[i64]) -> Result<(), String> {
        match &self.ledger {
            Some(ledger) if !rows.is_empty() => ledger.void_saved(rows).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
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
        let chain = match target {
            // Offline, "no key" is not why the request stays here.
            Target::Local(RouteReason::NoCloudKey) if self.config.offline => {
                return self
                    .run_local(role, request, RouteReason::Offline, on)
                    .await;
            }
            Target::Local(reason) => {
                return self.run_local(role, request, reason.clone(), on).await;
            }
            Target::Cloud(chain) => chain,
        };
        if self.config.offline {
            return self
                .run_local(role, request, RouteReason::Offline, on)
                .await;
        }
        self.scanner.refresh();
        let found = self.scanner.scan_request(request);
        // Why the request is not (yet) on a preferred link: the reason the next link or the local model runs.
        let mut why: Option<RouteReason> = None;
        for name in chain.iter().filter(|n| n.as_str() != "local") {
            let Some(replicas) = self.cloud.get(name) else {
                return Err(RouterError::Provider {
                    provider: name.clone(),
                    error: ProviderError::Rejected {
                        status: 0,
                        message: "no such provider".into(),
                    },
                });
            };
            let inside = self.config.inside.contains(name);
            let mut redactor = None;
            if !found.is_empty() && !inside {
                if self.config.policy == SensitivePolicy::Redact
                    && !found.contains(&Kind::SensitivePath)
                {
                    let mut r = Redactor::default();
                    let outgoing = r.redact_request(&self.scanner, request);
                    redactor = Some((r, outgoing));
                } else {
                    why.get_or_insert(RouteReason::Sensitive {
                        found: found.clone(),
                    });
                    continue;
                }
            }
            if !inside && let Some(reason) = self.budget_spent() {
                why.get_or_insert(reason);
                continue;
            }
            let order = replica_order(&self.config.session, replicas.len());
            for index in order {
                let label = replica_label(name, index, replicas.len());
                let admission = self.breaker(&label, |b| b.admit(Instant::now()));
                if let Admission::Deny { until } = admission {
                    note(
                        &mut why,
                        RouteReason::CircuitOpen {
                            provider: label,
                            retry_at: system_time(until),
                        },
                    );
                    continue;
                }
                let reason = match (&redactor, admission, why.clone()) {
                    (Some((r, _)), _, _) => RouteReason::Redacted {
                        found: found.clone(),
                        values: r.len(),
                    },
                    (None, _, Some(earlier)) => earlier,
                    (None, Admission::Probe, None) => RouteReason::Probe,
                    (None, _, None) => RouteReason::Configured,
                };
                let model = replicas[index].clone();
                let decision = RouteDecision {
                    role,
                    provider: name.clone(),
                    model: model.model().to_string(),
                    reason,
                    replica: (replicas.len() > 1).then(|| label.clone()),
                };
                let outgoing = redactor.as_ref().map_or(request, |(_, o)| o);
                let restore = redactor.as_ref().map(|(r, _)| r);
                match self
                    .try_link(&label, &model, decision, outgoing, restore, on)
                    .await
                {
                    Ok(routed) => return Ok(routed),
                    // No breaker is opened: the next request should say the same, not quietly go elsewhere.
                    Err(ProviderError::Auth(message)) => {
                        return Err(RouterError::Auth {
                            provider: name.clone(),
                            key_env: self.config.key_env.get(name).cloned().unwrap_or_default(),
                            message,
                        });
                    }
                    Err(error) => {
                        let until =
                            self.breaker(&label, |b| b.failure(Instant::now(), &error, jitter()));
                        note(
                            &mut why,
                            RouteReason::FellBack {
                                provider: label,
                                error: error.to_string(),
                                retry_at: system_time(until),
                            },
                        );
                    }
                }
            }
        }
        let reason = why.unwrap_or(RouteReason::Configured);
        self.run_local(role, request, reason, on).await
    }

    /// Sends the request to one replica of one provider; a failure it reports with a short wait is retried once
    /// in place. Returns the provider's last error when it did not answer.
    async fn try_link(
        &self,
        label: &str,
        model: &Arc<dyn ChatModel>,
        decision: RouteDecision,
        outgoing: &ChatRequest,
        restore: Option<&Redactor>,
        on: &mut (dyn FnMut(RouterEvent) + Send),
    ) -> Result<Routed, ProviderError> {
        tracing::info!(%decision, replica = label, "route");
        on(RouterEvent::Decision(decision.clone()));
        // Replies sampled beside the first are for a model whose tokens cost nothing; a cloud link would bill
        // each one.
        let single;
        let outgoing = if outgoing.alternatives > 0 && !model.is_local() {
            single = ChatRequest {
                alternatives: 0,
                ..outgoing.clone()
            };
            &single
        } else {
            outgoing
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
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
                    self.breaker(label, Breaker::success);
                    if let Some(r) = restore {
                        response.text = r.restore(&response.text);
                        // Real values go back only into edits of workspace files: a command or an MCP call
                        // could carry them off the machine.
                        for call in &mut response.tool_calls {
                            if RESTORED_INTO.contains(&call.name.as_str()) {
                                call.arguments = r.restore(&call.arguments);
                            }
                        }
                    }
                    return Ok(self.finish(decision, response, started, on));
                }
                Err(e) => {
                    tracing::warn!(provider = %label, attempt, error = %e, "provider request failed");
                    on(RouterEvent::ProviderFailed {
                        provider: label.to_string(),
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
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
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
            replica: None,
        };
        tracing::info!(%decision, "route");
        on(RouterEvent::Decision(decision.clone()));
        let started = Instant::now();
        let capped;
        let request = match self.config.local_max_tokens {
            Some(cap) if request.max_tokens > cap => {
                capped = ChatRequest {
                    max_tokens: cap,
                    ..request.clone()
                };
                &capped
            }
            _ => request,
        };
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
            Err(error) => {
                // Said as it happens (a crashed engine worker, a decode error), not only in the step's end.
                on(RouterEvent::ProviderFailed {
                    provider: "local".into(),
                    error: error.clone(),
                });
                Err(RouterError::Provider {
                    provider: "local".into(),
                    error,
                })
            }
        }
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
