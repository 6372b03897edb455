//! Headless runs: `tandem exec` (for now, `--plan-only` on the local model).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::agent::plan::{PlanTurnError, plan_locally, planner_messages};
use crate::cli::{ExecArgs, GlobalArgs, exit};
use crate::config::{Config, ModelLocation};
use crate::model::local::{
    CancelToken, EngineConfig, EngineError, GenStats, LocalEngine, SamplingParams,
};
use crate::prompts::{self, PromptName};
use crate::protocol::Plan;

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
    pub planner: &'a Route,
    /// The plan.
    pub plan: &'a Plan,
}

/// Which model plans, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `local` or a provider name.
    pub provider: String,
    /// The model's name.
    pub model: String,
    /// Why this provider.
    pub reason: String,
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
    let reason = match planner_reason(&config, global.offline) {
        Ok(reason) => reason,
        Err(message) => {
            eprintln!("tandem exec: {message}");
            return Ok(exit::NOT_BUILT);
        }
    };

    let location = config.model_location();
    let engine_config = EngineConfig::from_config(&config)?;
    eprintln!("tandem: loading {}", location.path().display());
    let engine = match tokio::task::spawn_blocking(move || LocalEngine::load(engine_config)).await?
    {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("tandem: {}", model_error_hint(&e, &location));
            return Ok(exit::MODEL);
        }
    };
    let route = Route {
        provider: "local".into(),
        model: engine.info().description.clone(),
        reason,
    };
    eprintln!(
        "tandem: planning with {} (local: {})",
        route.model, route.reason
    );

    let overview = crate::repomap::overview(&config.workspace, OVERVIEW_BUDGET);
    let system = prompts::load(PromptName::Planner, &config.dirs.config);
    let messages = planner_messages(&system, &task, &overview);
    let sampling = SamplingParams::from(&config.values.local.sampling);
    let max_tokens = config.values.local.max_tokens;
    let cancel = CancelToken::new();
    let interrupt = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    let turn = tokio::task::spawn_blocking(move || {
        let outcome = plan_locally(&engine, messages, &sampling, max_tokens, &cancel);
        (outcome, engine)
    });
    let (outcome, _engine) = turn.await?;
    ctrl_c.abort();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(PlanTurnError::Cancelled) => {
            eprintln!("tandem: interrupted; nothing was changed");
            return Ok(exit::INTERRUPTED);
        }
        Err(PlanTurnError::Unparseable {
            attempts,
            error,
            last_reply,
        }) => {
            tracing::warn!(%last_reply, "last unparseable plan reply");
            eprintln!("tandem: no usable plan after {attempts} attempts: {error}");
            return Ok(exit::FAILED);
        }
        Err(PlanTurnError::Engine(e)) => bail!(e),
    };
    for (i, attempt) in outcome.attempts.iter().enumerate() {
        eprintln!(
            "tandem: attempt {}: {}",
            i + 1,
            describe_stats(&attempt.stats)
        );
    }

    let saved = save_plan(&config, &task, &route, &outcome.plan)?;
    if args.json {
        let created = now_rfc3339();
        let doc = SavedPlan {
            task: &task,
            created,
            planner: &route,
            plan: &outcome.plan,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", outcome.plan.to_markdown());
        println!(
            "_Planned by {} ({}: {})._",
            route.model, route.provider, route.reason
        );
    }
    eprintln!("tandem: plan saved to {}", saved.display());
    Ok(exit::OK)
}

/// Why the planner runs locally, or a plain message if the configured planner is not available yet.
fn planner_reason(config: &Config, offline: bool) -> Result<String, String> {
    let provider = config.values.planner.provider.as_str();
    let origin = config.origin("planner.provider");
    match provider {
        "local" => Ok(format!("planner.provider = local ({origin})")),
        "auto" if offline => Ok("--offline".into()),
        "auto" => {
            let keyed: Vec<&str> = config
                .values
                .providers
                .keys()
                .filter(|name| config.api_key(name).is_some())
                .map(String::as_str)
                .collect();
            if keyed.is_empty() {
                Ok("no cloud API key is set".into())
            } else {
                Ok(format!(
                    "a key is set for {}, but cloud providers are not built yet (issue #3)",
                    keyed.join(", ")
                ))
            }
        }
        other => Err(format!(
            "planning with `{other}` ({origin}) needs the cloud providers, which are not built yet (issue #3); \
             use --planner local"
        )),
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

/// One line about a generation's cost.
pub fn describe_stats(s: &GenStats) -> String {
    format!(
        "{} prompt tokens ({} reused), {} generated; prefill {:.0} tok/s, decode {:.1} tok/s, {:.1} s",
        s.prompt_tokens,
        s.reused_tokens,
        s.generated_tokens,
        s.prefill_tps(),
        s.decode_tps(),
        (s.prefill + s.decode).as_secs_f64()
    )
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
fn save_plan(config: &Config, task: &str, route: &Route, plan: &Plan) -> anyhow::Result<PathBuf> {
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
