//! Building a router from config: providers, role targets, the scanner, prices and budgets.

use std::sync::Arc;
use std::time::Duration;

use super::sensitive::{PatternError, Scanner, ScannerConfig};
use super::{Router, RouterConfig, Target};
use crate::config::{Config, ProviderKind};
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

/// The cloud providers named in config (with or without a key: a local server may need none).
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
        let model: Arc<dyn ChatModel> = match p.kind {
            Some(ProviderKind::Anthropic) => Arc::new(
                AnthropicProvider::new(name, &p.base_url, &p.model, key, timeout).map_err(err)?,
            ),
            _ => Arc::new(
                OpenAiProvider::new(name, &p.base_url, &p.model, key, timeout).map_err(err)?,
            ),
        };
        out.push(model);
    }
    Ok(out)
}

/// Where a role's requests go, from `planner.provider` / `executor.provider`.
///
/// `auto` (and `cloud`) pick the cloud provider with an API key, preferring `openai`, then `anthropic`, then
/// the others by name; with no key anywhere the role is local. A provider named explicitly is used even
/// without a key (a local llama-server needs none).
pub fn resolve_target(config: &Config, role: RouteRole) -> Target {
    let provider = match role {
        RouteRole::Planner => config.values.planner.provider.as_str(),
        RouteRole::Executor => config.values.executor.provider.as_str(),
    };
    match provider {
        "local" => Target::Local(RouteReason::Configured),
        "auto" if role == RouteRole::Executor => Target::Local(RouteReason::Configured),
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
            match keyed.first() {
                Some(name) => Target::Cloud((*name).clone()),
                None => Target::Local(RouteReason::NoCloudKey),
            }
        }
        name => Target::Cloud(name.to_string()),
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
        let reference_model = if !v.spend.reference_model.trim().is_empty() {
            v.spend.reference_model.trim().to_string()
        } else if let Target::Cloud(name) = &planner {
            v.providers
                .get(name)
                .map_or_else(|| DEFAULT_REFERENCE_MODEL.to_string(), |p| p.model.clone())
        } else {
            DEFAULT_REFERENCE_MODEL.to_string()
        };
        let cap = |v: f64| (v > 0.0).then_some(v);
        let router_config = RouterConfig {
            planner,
            executor,
            offline,
            policy: v.privacy.policy,
            session_cap_usd: cap(v.budget.session_usd),
            daily_cap_usd: cap(v.budget.daily_usd),
            reference_model,
            session,
        };
        let scanner = Scanner::new(&ScannerConfig {
            detect_pii: v.privacy.detect_pii,
            patterns: v.privacy.patterns.clone(),
            paths: v.privacy.paths.clone(),
        })?;
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
            PriceTable::new(&v.prices),
            ledger,
        ))
    }
}
