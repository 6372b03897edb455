//! `tandem doctor`: the effective config with the source of each value, and checks of the model and endpoints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::{DoctorArgs, GlobalArgs, exit};
use crate::config::{Boundary, Config, ProviderConfig, ProviderKind};
use crate::model::ChatMessage;
use crate::model::local::{EngineConfig, EngineError, GenRequest, LocalEngine, check_file};
use crate::protocol::RouteRole;
use crate::router::Target;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// Not checked, or not needed.
    Info,
    /// Works, with something to fix.
    Warn,
    /// Broken.
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Info => "○",
            Status::Warn => "!",
            Status::Fail => "✗",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// Details for a person.
    pub detail: String,
}

/// Runs doctor; exit 0 when no check failed.
pub async fn run(
    config: &Config,
    global: &GlobalArgs,
    args: &DoctorArgs,
    log_dir: &std::path::Path,
) -> anyhow::Result<u8> {
    let mut out = String::new();
    writeln!(out, "tandem {}\n", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Workspace  {}", config.workspace.display())?;
    for f in &config.files {
        let state = if f.loaded { "loaded" } else { "not found" };
        writeln!(
            out,
            "Config     {:<8} {} ({state})",
            f.layer,
            f.path.display()
        )?;
    }
    writeln!(out, "Trust      {}", config.trust.state.describe())?;
    for line in config.trust.notices() {
        writeln!(out, "           {line}")?;
    }
    writeln!(out, "Logs       {}", log_dir.display())?;
    writeln!(out, "Models     {}", config.dirs.models().display())?;
    writeln!(out, "\nEffective config (value, then where it came from)")?;
    let entries = config.entries();
    let width = entries
        .iter()
        .map(|(k, v, _)| k.len() + v.len())
        .max()
        .unwrap_or(0)
        + 4;
    for (key, value, source) in &entries {
        let pair = format!("{key} = {value}");
        writeln!(out, "  {pair:<width$} {source}")?;
    }
    // Values come from config files, including a repository's: printed through the terminal filter.
    crate::out!("{}", crate::text::terminal_safe(&out));

    crate::outln!("\nChecks");
    let mut checks = vec![
        check_model(config, args.no_load).await,
        check_sandbox(config),
    ];
    let chains = [
        (
            "planner",
            crate::router::resolve_target(config, RouteRole::Planner),
        ),
        (
            "executor",
            crate::router::resolve_target(config, RouteRole::Executor),
        ),
    ];
    let mut in_chain = std::collections::BTreeSet::new();
    for (role, target) in &chains {
        let links = match target {
            Target::Local(reason) => format!("local ({reason})"),
            Target::Cloud(names) => {
                in_chain.extend(names.iter().cloned());
                format!("{} → local", names.join(" → "))
            }
        };
        checks.push(Check {
            name: format!("{role} chain"),
            status: Status::Info,
            detail: links,
        });
    }
    let prices = crate::spend::prices::source();
    let overrides = config.values.prices.len();
    checks.push(Check {
        name: "prices".into(),
        status: Status::Info,
        detail: format!(
            "{} models from {}, snapshot of {}{}",
            prices.models,
            prices.source,
            prices.date,
            if overrides > 0 {
                format!("; {overrides} set in config")
            } else {
                String::new()
            }
        ),
    });
    let (rules, count) = crate::router::sensitive::Scanner::rule_source();
    checks.push(Check {
        name: "secret rules".into(),
        status: Status::Info,
        detail: format!("{count} maintained rules: {rules}; plus tandem's own detectors"),
    });
    checks.push(check_hooks(config));
    for (name, provider) in &config.values.providers {
        let used = in_chain.contains(name);
        checks.extend(check_provider(config, name, provider, global.offline, used).await);
    }
    let name_width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        crate::outln!(
            "  {} {:<name_width$}  {}",
            c.status.mark(),
            c.name,
            crate::text::terminal_safe(&c.detail)
        );
    }
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// The hooks in force, each with its event, matcher, command and where it was configured.
fn check_hooks(config: &Config) -> Check {
    let name = "hooks".to_string();
    match crate::hooks::Hooks::from_config(config) {
        Ok(hooks) if hooks.all().is_empty() => Check {
            name,
            status: Status::Info,
            detail: "none".into(),
        },
        Ok(hooks) => Check {
            name,
            status: Status::Info,
            detail: hooks
                .all()
                .iter()
                .map(|h| {
                    let matcher = if h.matcher_text.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", h.matcher_text)
                    };
                    format!(
                        "{} on {}{matcher}: {} (timeout {} s; {})",
                        h.name,
                        h.event.as_str(),
                        h.command,
                        h.timeout.as_secs(),
                        h.origin
                    )
                })
                .collect::<Vec<_>>()
                .join("\n     "),
        },
        Err(e) => Check {
            name,
            status: Status::Fail,
            detail: e,
        },
    }
}

fn check_sandbox(config: &Config) -> Check {
    let settings = crate::agent::session::sandbox_settings(&config.values.sandbox);
    let mode = config.values.sandbox.mode;
    match crate::sandbox::Sandbox::new(&config.workspace, settings) {
        Ok(sb) => {
            let e = sb.enforcement();
            // The Landlock fallback is said out loud: it cannot guard `.git`, metadata, the terminal or the
            // parent process the way the namespace layer does.
            let complete = !e.namespaces.is_empty()
                && (config.values.sandbox.network || !e.network.is_empty());
            let status = match (complete, mode) {
                (true, _) => Status::Ok,
                (false, crate::sandbox::SandboxMode::Required) => Status::Fail,
                (false, _) => Status::Info,
            };
            let mut detail = e.describe();
            for w in &e.warnings {
                detail.push_str(&format!("; {w}"));
            }
            Check {
                name: "sandbox".into(),
                status,
                detail,
            }
        }
        Err(e) => Check {
            name: "sandbox".into(),
            status: Status::Fail,
            detail: format!("cannot set up the command sandbox: {e}"),
        },
    }
}

async fn check_model(config: &Config, no_load: bool) -> Check {
    let mut check = load_model(config, no_load).await;
    let location = config.model_location();
    let in_use = match location.known() {
        Some(known) => format!("\n     in use: {} ({})", known.name, known.about),
        None => String::new(),
    };
    check.detail.push_str(&in_use);
    let (profile, p) = config.profile();
    let strategies: Vec<String> = p
        .strategies
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    check.detail.push_str(&format!(
        "\n     profile: {profile} (strategies: {}; [profiles.{profile}] in config overrides it)",
        strategies.join(", ")
    ));
    if let Some(better) = better_model(&location) {
        check.detail.push_str(&format!("\n     {better}"));
    }
    check
}

/// What to run for a model that can do real work, where the one in use is the demo model.
pub fn better_model(location: &crate::config::ModelLocation) -> Option<String> {
    use crate::model::catalog::{CODER, DEMO};
    (location.known() == Some(&DEMO)).then(|| {
        format!(
            "for real coding tasks: {} (once), then --model {} or local.model = \"{}\"",
            CODER.fetch, CODER.name, CODER.name
        )
    })
}

async fn load_model(config: &Config, no_load: bool) -> Check {
    let location = config.model_location();
    let name = "model".to_string();
    let path = location.path().to_path_buf();
    if let Err(e) = check_file(&path) {
        let detail = model_error_hint(&e, &location);
        return Check {
            name,
            status: Status::Fail,
            detail,
        };
    }
    if no_load {
        return Check {
            name,
            status: Status::Ok,
            detail: format!("{} (GGUF header ok; not loaded)", path.display()),
        };
    }
    let engine_config = match EngineConfig::from_config(config) {
        Ok(c) => c,
        Err(e) => {
            return Check {
                name,
                status: Status::Fail,
                detail: e.to_string(),
            };
        }
    };
    // A load alone does not prove the engine runs: a bad compute path crashes on the first token (issue #36).
    let loaded = tokio::task::spawn_blocking(move || {
        let engine = LocalEngine::load(engine_config)?;
        let request = GenRequest::chat(vec![ChatMessage::user("Say OK.")], 8);
        let started = std::time::Instant::now();
        let pass = engine
            .complete(request)
            .map(|done| (done, started.elapsed()));
        Ok::<_, EngineError>((engine, pass))
    })
    .await;
    match loaded {
        Ok(Ok((engine, pass))) => {
            let i = engine.info();
            let (status, forward) = match pass {
                Ok((done, took)) => (
                    Status::Ok,
                    format!(
                        "{} prompt + {} generated tokens in {:.2} s ({:.0} tok/s prefill, {:.1} tok/s decode)",
                        done.stats.prompt_tokens,
                        done.stats.generated_tokens,
                        took.as_secs_f64(),
                        done.stats.prefill_tps(),
                        done.stats.decode_tps(),
                    ),
                ),
                Err(e) => (Status::Fail, format!("FAILED: {e}")),
            };
            Check {
                name,
                status,
                detail: format!(
                    "{}\n     {}, {:.0}M params, {:.0} MB, loaded in {:.2} s (in a worker process)\n     context {} tokens (trained {}), {} threads (OpenMP wait policy: {}), {} GPU layers\n     chat template: {}\n     JSON schemas decoded by: {}\n     CPU: {}\n     llama.cpp computes with: {}\n     forward pass: {}",
                    i.path.display(),
                    i.description,
                    i.n_params as f64 / 1e6,
                    i.size_bytes as f64 / 1e6,
                    i.load_time.as_secs_f64(),
                    i.n_ctx,
                    i.n_ctx_train,
                    i.threads,
                    crate::model::local::openmp::describe(),
                    i.gpu_layers,
                    i.template,
                    crate::model::local::GrammarEngine::from_env().as_str(),
                    crate::model::local::host_cpu(),
                    i.compute,
                    forward,
                ),
            }
        }
        Ok(Err(e)) => Check {
            name,
            status: Status::Fail,
            detail: model_error_hint(&e, &location),
        },
        Err(e) => Check {
            name,
            status: Status::Fail,
            detail: format!("loading panicked: {e}"),
        },
    }
}

/// Checks each of a provider's base URLs: reachable, key accepted, and serving the configured model.
async fn check_provider(
    config: &Config,
    name: &str,
    p: &ProviderConfig,
    offline: bool,
    in_chain: bool,
) -> Vec<Check> {
    let urls: Vec<&String> = std::iter::once(&p.base_url).chain(&p.replicas).collect();
    let mut out = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let label = if urls.len() > 1 {
            format!("provider {name}@{}", i + 1)
        } else {
            format!("provider {name}")
        };
        let (status, detail) = check_url(config, name, p, url, offline, in_chain).await;
        out.push(Check {
            name: label,
            status,
            detail,
        });
    }
    out
}

async fn check_url(
    config: &Config,
    name: &str,
    p: &ProviderConfig,
    url: &str,
    offline: bool,
    in_chain: bool,
) -> (Status, String) {
    let base = url.trim_end_matches('/');
    let inside = if p.boundary == Boundary::Inside {
        " (inside the trust boundary)"
    } else {
        ""
    };
    if offline {
        return (Status::Info, format!("{base}: not checked (--offline)"));
    }
    let key = config.api_key(name);
    if key.is_none() && !in_chain {
        return (
            Status::Info,
            format!(
                "not in a role's chain and no API key (${} is not set); not checked",
                p.api_key_env
            ),
        );
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (Status::Fail, format!("HTTP client: {e}")),
    };
    let mut request = match p.kind {
        Some(ProviderKind::Anthropic) => client
            .get(format!("{base}/v1/models"))
            .header("anthropic-version", crate::model::anthropic::API_VERSION),
        _ => client.get(format!("{base}/models")),
    };
    if let Some(key) = key {
        request = match p.kind {
            Some(ProviderKind::Anthropic) => request.header("x-api-key", key.secret.expose()),
            _ => request.bearer_auth(key.secret.expose()),
        };
    }
    let key_from = key.map_or_else(
        || "no key".to_string(),
        |k| format!("key from {}", k.source),
    );
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return (Status::Fail, format!("{base}: no answer within 10 s"));
        }
        Err(e) if e.is_connect() => return (Status::Fail, format!("{base}: cannot connect")),
        Err(e) => return (Status::Fail, format!("{base}: {e}")),
    };
    let status = response.status().as_u16();
    if matches!(status, 401 | 403) {
        let fix = if p.api_key_env.is_empty() {
            format!("set providers.{name}.api_key_env")
        } else {
            format!("check ${}", p.api_key_env)
        };
        return (
            Status::Fail,
            format!("{base}: key refused (HTTP {status}; {key_from}): {fix}"),
        );
    }
    if !(200..300).contains(&status) {
        return (Status::Fail, format!("{base}: HTTP {status}"));
    }
    let served = response
        .json::<serde_json::Value>()
        .await
        .map(|v| served_models(&v))
        .unwrap_or_default();
    let accepted = key.map_or_else(
        || "no key needed".to_string(),
        |k| format!("key accepted ({})", k.source),
    );
    let reachable = format!("{base}: reachable, {accepted}{inside}");
    if !served.is_empty()
        && !served
            .iter()
            .any(|m| crate::router::same_model(&p.model, m))
    {
        return (
            Status::Warn,
            format!(
                "{reachable}; it serves {}, not the configured `{}`: set providers.{name}.model (spend is recorded for the model that answers)",
                served.join(", "),
                p.model
            ),
        );
    }
    let prices = crate::spend::PriceTable::new(&config.values.prices);
    if p.boundary == Boundary::Cloud && prices.lookup(&p.model).is_none() {
        return (
            Status::Warn,
            format!(
                "{reachable}; `{}` has no price: spend shows it as unpriced (add [prices.\"{}\"])",
                p.model, p.model
            ),
        );
    }
    (Status::Ok, reachable)
}

/// The model ids a `/models` listing names (OpenAI's and Anthropic's `data[].id`, llama-server's `models[].name`).
fn served_models(listing: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (list, field) in [("data", "id"), ("models", "name")] {
        for m in listing[list].as_array().into_iter().flatten() {
            if let Some(id) = m[field].as_str().filter(|s| !s.is_empty())
                && !out.iter().any(|o| o == id)
            {
                out.push(id.to_string());
            }
        }
    }
    out.truncate(8);
    out
}

/// The engine error, with what to do about it when the missing model is the demo model.
pub fn model_error_hint(
    e: &crate::model::local::EngineError,
    location: &crate::config::ModelLocation,
) -> String {
    match (e, location.known()) {
        (crate::model::local::EngineError::ModelNotFound(path), Some(known)) => format!(
            "the model {} is not at {}: run {}, or pass --model PATH",
            known.name,
            path.display(),
            known.fetch
        ),
        (crate::model::local::EngineError::ModelNotFound(path), None) => format!(
            "{}: no such model file (known by name: {})",
            path.display(),
            crate::model::catalog::KNOWN
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => e.to_string(),
    }
}
