//! Building a router from config: providers, role targets, the scanner, prices and budgets.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::sensitive::{PatternError, Scanner, ScannerConfig};
use super::{Router, RouterConfig, Target};
use crate::config::{Boundary, Config, ProviderKind};
use crate::model::anthropic::AnthropicProvider;
use crate::model::openai::OpenAiProvider;
use crate::model::{ChatModel, ProviderError};
use crate::protocol::{RouteReason, RouteRole};
use crate::spend::{Ledger, PriceTable};

/// The model local tokens are priced at when neither config nor a cloud planner names one.
pub const DEFAULT_REFERENCE_MODEL: &str = "gpt-5.1";

/// Why a router could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouterSetupError {
    /// A provider could not be set up.
    #[error("provider {name}: {error}")]
    Provider {
        /// Its name.
        name: String,
        /// What went wrong.
        error: ProviderError,
    },
    /// A privacy pattern does not compile.
    #[error("privacy: {0}")]
    Pattern(#[from] PatternError),
}

/// The providers named in config, one model per replica (with or without a key: a team server may need none).
pub fn cloud_providers(config: &Config) -> Result<Vec<Arc<dyn ChatModel>>, RouterSetupError> {
    let mut out: Vec<Arc<dyn ChatModel>> = Vec::new();
    for (name, p) in &config.values.providers {
        let key = config.api_key(name).map(|k| k.secret.clone());
        let timeout = Duration::from_secs(if p.timeout_secs == 0 {
            120
        } else {
            p.timeout_secs
        });
        let err = |error| RouterSetupError::Provider {
            name: name.clone(),
            error,
        };
        for url in std::iter::once(&p.base_url).chain(&p.replicas) {
            let model: Arc<dyn ChatModel> = match p.kind {
                Some(ProviderKind::Anthropic) => Arc::new(
                    AnthropicProvider::new(name, url, &p.model, key.clone(), timeout)
                        .map_err(err)?,
                ),
                _ => Arc::new(
                    OpenAiProvider::new(name, url, &p.model, key.clone(), timeout).map_err(err)?,
                ),
            };
            out.push(model);
        }
    }
    Ok(out)
}

/// Where a role's requests go, from `planner.provider` / `executor.provider` and their `fallback` lists.
///
/// `auto` (and `cloud`) pick the cloud provider with an API key, preferring `openai`, then `anthropic`, then
/// the others by name; with no key anywhere the role is local (unless a fallback names a provider). A provider
/// named explicitly is used even without a key (a team's llama-server needs none). The local model always
/// comes last.
pub fn resolve_target(config: &Config, role: RouteRole) -> Target {
    let role_config = match role {
        RouteRole::Planner => &config.values.planner,
        RouteRole::Executor => &config.values.executor,
    };
    let first = match role_config.provider.as_str() {
        "local" => return Target::Local(RouteReason::Configured),
        "auto" if role == RouteRole::Executor => return Target::Local(RouteReason::Configured),
        "auto" | "cloud" => {
            let mut keyed: Vec<&String> = config
                .values
                .providers
                .keys()
                .filter(|n| config.api_key(n).is_some())
                .collect();
            keyed.sort_by_key(|n| match n.as_str() {
                "openai" => 0,
                "anthropic" => 1,
                _ => 2,
            });
            keyed.first().map(|n| (*n).clone())
        }
        name => Some(name.to_string()),
    };
    let mut chain: Vec<String> = first.into_iter().collect();
    for name in &role_config.fallback {
        if name != "local" && !chain.contains(name) {
            chain.push(name.clone());
        }
    }
    if chain.is_empty() {
        Target::Local(RouteReason::NoCloudKey)
    } else {
        Target::Cloud(chain)
    }
}

impl Router {
    /// A router from config, with `local` as the local model (if there is one) and `ledger` for spend rows.
    pub fn from_config(
        config: &Config,
        local: Option<Arc<dyn ChatModel>>,
        offline: bool,
        session: String,
        ledger: Option<Arc<Ledger>>,
    ) -> Result<Router, RouterSetupError> {
        let planner = resolve_target(config, RouteRole::Planner);
        let executor = resolve_target(config, RouteRole::Executor);
        let v = &config.values;
        let prices = PriceTable::new(&v.prices);
        let inside: BTreeSet<String> = v
            .providers
            .iter()
            .filter(|(_, p)| p.boundary == Boundary::Inside)
            .map(|(n, _)| n.clone())
            .collect();
        // Savings are priced at the first priced cloud model the planner would use.
        let reference_model = if !v.spend.reference_model.trim().is_empty() {
            v.spend.reference_model.trim().to_string()
        } else if let Target::Cloud(chain) = &planner {
            chain
                .iter()
                .filter(|n| !inside.contains(*n))
                .filter_map(|n| v.providers.get(n))
                .map(|p| p.model.clone())
                .find(|m| prices.lookup(m).is_some())
                .unwrap_or_else(|| DEFAULT_REFERENCE_MODEL.to_string())
        } else {
            DEFAULT_REFERENCE_MODEL.to_string()
        };
        let cap = |v: f64| (v > 0.0).then_some(v);
        let tokens = |n: u32| if n == 0 { v.local.max_tokens } else { n };
        let router_config = RouterConfig {
            planner,
            executor,
            offline,
            policy: v.privacy.policy,
            session_cap_usd: cap(v.budget.session_usd),
            daily_cap_usd: cap(v.budget.daily_usd),
            reference_model,
            session,
            inside,
            key_env: v
                .providers
                .iter()
                .filter(|(_, p)| !p.api_key_env.is_empty())
                .map(|(n, p)| (n.clone(), p.api_key_env.clone()))
                .collect(),
            local_max_tokens: Some(v.local.max_tokens),
            planner_max_tokens: tokens(v.planner.max_tokens),
            executor_max_tokens: tokens(v.executor.max_tokens),
        };
        let scanner = Scanner::new(&ScannerConfig {
            detect_pii: v.privacy.detect_pii,
            patterns: v.privacy.patterns.clone(),
            paths: v.privacy.paths.clone(),
        })?;
        // Secrets are followed by their bytes: the workspace's sensitive files and the provider keys.
        scanner.watch(&config.workspace);
        scanner.remember_env(v.providers.values().map(|p| p.api_key_env.as_str()));
        let cloud = if offline {
            Vec::new()
        } else {
            cloud_providers(config)?
        };
        Ok(Router::new(
            router_config,
            local,
            cloud,
            scanner,
            prices,
            ledger,
        ))
    }
}
