//! Headless runs: `tandem exec` (for now, `--plan-only`: a plan through the router, saved, nothing changed).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::agent::plan::{PlanTurnError, plan, planner_request};
use crate::cli::{ExecArgs, GlobalArgs, exit};
use crate::config::{Config, ModelLocation};
use crate::model::ChatModel;
use crate::model::local::{EngineConfig, EngineError, SamplingParams};
use crate::model::local_provider::LocalProvider;
use crate::prompts::{self, PromptName};
use crate::protocol::Plan;
use crate::router::{RouteDecision, Router, RouterError, RouterEvent, new_session_id};
use crate::spend::Ledger;

/// Characters of repository overview the planner gets.
const OVERVIEW_BUDGET: usize = 12_000;

/// A plan as saved under `.tandem/plans/`.
#[derive(Debug, Serialize)]
pub struct SavedPlan<'a> {
    /// The task as given.
    pub task: &'a str,
    /// When the plan was made (UTC, RFC 3339).
    pub created: String,
    /// Who planned and why.
    pub planner: &'a RouteDecision,
    /// The plan.
    pub plan: &'a Plan,
}

/// Opens the spend ledger, or says why spend will not be recorded.
pub fn open_ledger(config: &Config) -> Option<Arc<Ledger>> {
    match Ledger::open(&Ledger::default_path(&config.dirs.data)) {
        Ok(l) => Some(Arc::new(l)),
        Err(e) => {
            eprintln!("tandem: warning: spend will not be recorded: {e}");
            None
        }
    }
}

/// The router for a run: the lazily loaded local model, the configured cloud providers, the ledger.
pub fn build_router(config: &Config, offline: bool) -> anyhow::Result<Router> {
    let engine_config = EngineConfig::from_config(config)?;
    let sampling = SamplingParams::from(&config.values.local.sampling);
    let local: Arc<dyn ChatModel> = Arc::new(LocalProvider::lazy(engine_config, sampling));
    Ok(Router::from_config(
        config,
        Some(local),
        offline,
        new_session_id(),
        open_ledger(config),
    )?)
}

/// `tandem exec`.
pub async fn run(config: Config, global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<u8> {
    let task = read_task(args)?;
    if !global.plan_only {
        eprintln!(
            "tandem exec: executing plans is not built yet (the agent core is issue #4). \
             Use `tandem exec --plan-only` to make and save a plan."
        );
        return Ok(exit::NOT_BUILT);
    }
    let router = build_router(&config, global.offline)?;
    let overview = crate::repomap::overview(&config.workspace, OVERVIEW_BUDGET, &|p| {
        !router.is_sensitive_path(p)
    });
    let system = prompts::load(PromptName::Planner, &config.dirs.config);
    let request = planner_request(
        &system,
        &task,
        &overview.text,
        overview.inlined,
        config.values.local.max_tokens,
    );

    let mut on = |event: RouterEvent| match event {
        RouterEvent::Decision(d) => eprintln!("tandem: {d}"),
        RouterEvent::ProviderFailed { provider, error } => eprintln!("tandem: {provider}: {error}"),
        RouterEvent::LedgerError(e) => eprintln!("tandem: warning: {e}"),
        RouterEvent::Delta(_) | RouterEvent::Restart => {}
    };
    let outcome = tokio::select! {
        outcome = plan(&router, request, &mut on) => outcome,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("tandem: interrupted; nothing was changed");
            return Ok(exit::INTERRUPTED);
        }
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(PlanTurnError::Unparseable {
            attempts,
            error,
            last_reply,
        }) => {
            tracing::warn!(%last_reply, "last unparseable plan reply");
            eprintln!("tandem: no usable plan after {attempts} attempts: {error}");
            return Ok(exit::FAILED);
        }
        Err(PlanTurnError::Router(e @ RouterError::NoLocalModel { .. })) => {
            eprintln!("tandem: {}", no_model_hint(&e, &config.model_location()));
            return Ok(exit::MODEL);
        }
        Err(PlanTurnError::Router(e)) => bail!(e),
    };
    for (i, attempt) in outcome.attempts.iter().enumerate() {
        let u = &attempt.response.usage;
        let cost = match (attempt.usd, attempt.saved_usd) {
            (_, Some(saved)) if attempt.decision.is_local() => format!("$0 (saved ${saved:.4})"),
            (Some(usd), _) => format!("${usd:.4}"),
            (None, _) => "unpriced".into(),
        };
        eprintln!(
            "tandem: attempt {}: {}/{}: {} input tokens ({} cached), {} output, {:.1} s, {cost}",
            i + 1,
            attempt.decision.provider,
            attempt.decision.model,
            u.total_input(),
            u.cached_input_tokens,
            u.output_tokens,
            attempt.latency.as_secs_f64(),
        );
    }
    let Some(last) = outcome.attempts.last() else {
        bail!("a plan with no attempt")
    };
    let decision = &last.decision;
    let saved = save_plan(&config, &task, decision, &outcome.plan)?;
    if args.json {
        let doc = SavedPlan {
            task: &task,
            created: now_rfc3339(),
            planner: decision,
            plan: &outcome.plan,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", outcome.plan.to_markdown());
        println!(
            "_Planned by {}/{} ({})._",
            decision.provider, decision.model, decision.reason
        );
    }
    eprintln!("tandem: plan saved to {}", saved.display());
    Ok(exit::OK)
}

/// The "no local model" error, with how to get the demo model when that is what is missing.
fn no_model_hint(e: &RouterError, location: &ModelLocation) -> String {
    match location {
        ModelLocation::Demo(path) if !path.exists() => {
            format!(
                "{e}\n  the demo model is not at {}: run scripts/fetch-demo-model.sh, or pass --model PATH",
                path.display()
            )
        }
        _ => e.to_string(),
    }
}

/// The engine error, with what to do about it.
pub fn model_error_hint(e: &EngineError, location: &ModelLocation) -> String {
    match (e, location) {
        (EngineError::ModelNotFound(path), ModelLocation::Demo(_)) => format!(
            "the demo model is not at {}: run scripts/fetch-demo-model.sh, or pass --model PATH",
            path.display()
        ),
        _ => e.to_string(),
    }
}

fn read_task(args: &ExecArgs) -> anyhow::Result<String> {
    let task = match (&args.task, &args.file) {
        (Some(task), _) => task.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the task from {}", file.display()))?,
        (None, None) if !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the task from stdin")?;
            s
        }
        (None, None) => bail!("no task: pass it as an argument, with -f FILE, or on stdin"),
    };
    if task.trim().is_empty() {
        bail!("the task is empty");
    }
    Ok(task.trim().to_string())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Saves the plan as JSON and Markdown under `.tandem/plans/`; returns the JSON file's path.
fn save_plan(
    config: &Config,
    task: &str,
    route: &RouteDecision,
    plan: &Plan,
) -> anyhow::Result<PathBuf> {
    let dir = config.workspace.join(".tandem").join("plans");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let base = format!("{stamp}-{}", slug(task));
    let doc = SavedPlan {
        task,
        created: now_rfc3339(),
        planner: route,
        plan,
    };
    let json_path = dir.join(format!("{base}.json"));
    crate::sandbox::write_atomic(&json_path, serde_json::to_string_pretty(&doc)?.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md = format!("Task: {task}\n\n{}", plan.to_markdown());
    let md_path = dir.join(format!("{base}.md"));
    crate::sandbox::write_atomic(&md_path, md.as_bytes())
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    Ok(json_path)
}

/// A short file-name-safe form of the task.
fn slug(task: &str) -> String {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "task".into()
    } else {
        words.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_and_safe() {
        assert_eq!(
            slug("Add a `--done` flag to todo.py, please! now"),
            "add-a-done-flag-to-todo"
        );
        assert_eq!(slug("日本語"), "task");
    }
}
