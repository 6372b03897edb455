//! Headless runs: `tandem exec` (a whole session, or `--plan-only`), and `tandem undo`.

pub mod ralph;
mod render;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::agent::session::{Session, SessionConfig};
use crate::agent::transcript::{self, Resumed};
use crate::cli::{ExecArgs, GlobalArgs, UndoArgs, exit};
use crate::config::{ApprovalPolicy, CommandPolicy, Config};
use crate::model::ChatModel;
use crate::model::local::{EngineConfig, SamplingParams};
use crate::model::local_provider::LocalProvider;
use crate::prompts::{self, PromptName};
use crate::protocol::{EventMsg, Op, Outcome, Plan, RouteDecision, RouteRole};
use crate::router::{Router, new_session_id};
use crate::sandbox::Workspace;
use crate::spend::Ledger;

pub use render::Renderer;

/// A plan as saved under `.tandem/plans/`.
#[derive(Debug, Serialize)]
pub struct SavedPlan<'a> {
    /// The task as given.
    pub task: &'a str,
    /// When the plan was made (UTC, RFC 3339).
    pub created: String,
    /// Who planned and why.
    pub planner: Option<&'a RouteDecision>,
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
pub fn build_router(config: &Config, offline: bool, session: &str) -> anyhow::Result<Router> {
    let engine_config = EngineConfig::from_config(config)?;
    let sampling = SamplingParams::from(&config.values.local.sampling);
    let local: Arc<dyn ChatModel> = Arc::new(LocalProvider::lazy(engine_config, sampling));
    Ok(Router::from_config(
        config,
        Some(local),
        offline,
        session.to_string(),
        open_ledger(config),
    )?)
}

/// Project instructions for the planner: the first of AGENTS.md, CLAUDE.md, CONVENTIONS.md, .cursorrules,
/// read through the same path policy as the tools (a link to a file outside the workspace is refused).
pub fn project_instructions(root: &std::path::Path) -> Option<String> {
    let ws = Workspace::new(root).ok()?;
    crate::sandbox::paths::INSTRUCTION_FILES
        .iter()
        .find_map(|name| {
            let bytes = match ws.read(name, 1 << 20) {
                // A link may lead to another instruction or Markdown file (CLAUDE.md -> AGENTS.md), not to
                // an arbitrary file such as `.env`.
                Ok((real, bytes)) if instruction_like(&ws.relative(&real)) => bytes,
                Ok((real, _)) => {
                    tracing::warn!(
                        "{name} leads to {}, which is not an instruction file; not read",
                        ws.relative(&real)
                    );
                    return None;
                }
                Err(crate::sandbox::PathError::NotFound(_)) => return None,
                Err(e) => {
                    tracing::warn!("project instructions not read: {e}");
                    return None;
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(8_000).collect();
            (!text.trim().is_empty()).then(|| format!("({name})\n{text}"))
        })
}

/// Whether a workspace-relative path is an instruction file or Markdown.
fn instruction_like(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    crate::sandbox::paths::INSTRUCTION_FILES
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
        || (name.to_ascii_lowercase().ends_with(".md") && !name.starts_with('.'))
}

/// `tandem exec`.
pub async fn run(mut config: Config, global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<u8> {
    let ws = Workspace::new(&config.workspace)
        .with_context(|| format!("workspace {}", config.workspace.display()))?;
    let resume_id = match (&args.resume, args.continue_last) {
        (Some(id), _) => Some(id.clone()),
        (None, true) => Some(
            transcript::latest(ws.root())
                .context("no earlier session in this workspace to continue")?,
        ),
        (None, false) => None,
    };
    let saved_plan = match &args.plan {
        Some(path) => Some(load_saved_plan(path)?),
        None => None,
    };
    let (session_id, resume, task) = match resume_id {
        Some(id) => {
            let events = transcript::load(ws.root(), &id)?;
            let mut state = transcript::replay(&events);
            let follow_up = read_task_opt(args)?;
            let task = match (state.outcome, follow_up) {
                (None, None) => state.task.clone(),
                (None, Some(_)) => {
                    bail!("session {id} is unfinished: resume it without a new task first")
                }
                (Some(outcome), None) => bail!(
                    "session {id} already finished ({outcome:?}); give a follow-up task to continue it"
                ),
                (Some(_), Some(task)) => {
                    // A follow-up: a new plan for the new task, in the same session.
                    state = Resumed {
                        plan: None,
                        round: 0,
                        steps: Default::default(),
                        outcome: None,
                        ..state
                    };
                    task
                }
            };
            (id, Some(state), task)
        }
        None => match &saved_plan {
            Some((task, _)) => (
                new_session_id(),
                None,
                read_task_opt(args)?.unwrap_or_else(|| task.clone()),
            ),
            None => (new_session_id(), None, read_task(args)?),
        },
    };
    let initial_plan = saved_plan.map(|(_, plan)| plan);

    headless_policies(&mut config, &args.approve);
    let router = Arc::new(build_router(&config, global.offline, &session_id)?);
    let session_config = SessionConfig {
        id: session_id.clone(),
        task: task.clone(),
        agent: config.values.agent.clone(),
        sandbox: config.values.sandbox.clone(),
        plan_only: global.plan_only,
        planner_prompt: prompts::load(PromptName::Planner, &config.dirs.config),
        executor_prompt: prompts::load(PromptName::Executor, &config.dirs.config),
        instructions: project_instructions(ws.root()),
        max_tokens: config.values.local.max_tokens,
        resume,
        initial_plan,
        transcript: true,
    };
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (session, handle) = Session::new(session_config, ws.clone(), router, Some(events_tx))?;
    let mcp = Arc::new(crate::agent::session::mcp_hub(&config).await);
    let running = tokio::spawn(session.with_mcp(mcp).run());

    let mut renderer = Renderer::new(
        args.json && !global.plan_only,
        std::io::stderr().is_terminal(),
    );
    let mut plan: Option<Plan> = None;
    let mut planner: Option<RouteDecision> = None;
    let mut interrupts = 0;
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(120));
    loop {
        tokio::select! {
            _ = ticks.tick() => renderer.tick(),
            event = events.recv() => {
                let Some(event) = event else { break };
                match &event.msg {
                    EventMsg::PlanReady { plan: p, .. } => plan = Some(p.clone()),
                    EventMsg::Route { decision } if decision.role == RouteRole::Planner => planner = Some(decision.clone()),
                    _ => {}
                }
                renderer.event(&event);
            }
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                if interrupts > 1 {
                    eprintln!("\ntandem: interrupted twice; stopping now (edits are written whole or not at all)");
                    return Ok(exit::INTERRUPTED);
                }
                eprintln!("\ntandem: interrupting after the current action (Ctrl-C again to stop at once)");
                handle.send(Op::Interrupt);
            }
        }
    }
    renderer.clear_spinner();
    let outcome = running.await.context("the session task failed")?;

    if global.plan_only
        && let Some(plan) = &plan
    {
        let saved = save_plan(&config, &task, planner.as_ref(), plan)?;
        if args.json {
            let doc = SavedPlan {
                task: &task,
                created: now_rfc3339(),
                planner: planner.as_ref(),
                plan,
            };
            let doc = serde_json::to_string_pretty(&doc)?;
            println!("{}", crate::text::json_terminal_safe(&doc));
        } else {
            println!("{}", crate::text::terminal_safe(&plan.to_markdown()));
            if let Some(d) = &planner {
                println!("_Planned by {}/{} ({})._", d.provider, d.model, d.reason);
            }
        }
        eprintln!("tandem: plan saved to {}", saved.display());
    } else if !args.json {
        print!("{}", renderer.summary());
    }
    let location = config.model_location();
    if renderer.no_local_model()
        && let Some(known) = location.known()
        && !location.path().exists()
    {
        eprintln!(
            "tandem: the model {} is not at {}: run {}, or pass --model PATH",
            known.name,
            location.path().display(),
            known.fetch
        );
    }
    eprintln!("tandem: session {session_id} (resume with `tandem exec --resume {session_id}`)");
    Ok(match outcome {
        Outcome::Done | Outcome::Planned => exit::OK,
        Outcome::VerifyFailed => exit::VERIFY_FAILED,
        Outcome::Interrupted => exit::INTERRUPTED,
        Outcome::Failed if renderer.no_local_model() => exit::MODEL,
        Outcome::Failed => exit::FAILED,
    })
}

/// Headless runs take approvals from `--approve auto|never`, never from a prompt that would hang.
pub fn headless_policies(config: &mut Config, approve: &str) {
    let never = approve == "never";
    if matches!(
        config.values.agent.approval,
        ApprovalPolicy::PerFile | ApprovalPolicy::PerHunk
    ) {
        eprintln!(
            "tandem: headless run: edits follow --approve {approve} (agent.approval = per-file/per-hunk needs the UI)"
        );
    }
    config.values.agent.approval = if never {
        ApprovalPolicy::Never
    } else {
        ApprovalPolicy::Auto
    };
    // Nobody can answer a question here: what would ask is refused instead.
    let commands = &mut config.values.agent.commands;
    if never
        || matches!(
            *commands,
            CommandPolicy::Untrusted | CommandPolicy::OnRequest
        )
    {
        *commands = CommandPolicy::Never;
    }
}

/// Reads a plan saved by `--plan-only` (the JSON file, or a bare Plan object): returns its task and plan.
pub fn load_saved_plan(path: &std::path::Path) -> anyhow::Result<(String, Plan)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let plan_value = if value.get("plan").is_some() {
        value["plan"].clone()
    } else {
        value.clone()
    };
    let plan = Plan::parse(&plan_value.to_string())
        .with_context(|| format!("{} holds no usable plan", path.display()))?;
    let task = value
        .get("task")
        .and_then(|t| t.as_str())
        .unwrap_or(&plan.summary)
        .to_string();
    Ok((task, plan))
}

/// `tandem undo`: undoes the newest checkpoint of a session and records it in the transcript.
pub fn undo(config: &Config, args: &UndoArgs) -> anyhow::Result<u8> {
    let ws = Workspace::new(&config.workspace)?;
    let id = match &args.session {
        Some(id) => id.clone(),
        None => transcript::latest(ws.root()).context("no session in this workspace")?,
    };
    let events = transcript::load(ws.root(), &id)?;
    let last_seq = transcript::replay(&events).last_seq;
    let checkpoints =
        crate::agent::checkpoint::Checkpoints::new(transcript::checkpoints_dir(ws.root(), &id));
    let outcome = checkpoints.undo(&ws)?;
    for note in &outcome.skipped {
        eprintln!("tandem: {note}");
    }
    match outcome.undone {
        Some((checkpoint, files)) => {
            let mut sink = crate::agent::events::EventSink::new(
                Some(&transcript::transcript_path(ws.root(), &id)),
                None,
                last_seq,
            )?;
            sink.emit(EventMsg::Undone {
                checkpoint,
                files: files.clone(),
            });
            println!(
                "undid checkpoint {checkpoint} of session {id}: {}",
                crate::text::terminal_safe(&files.join(", "))
            );
            Ok(exit::OK)
        }
        None => {
            eprintln!("tandem: session {id} has nothing left to undo");
            Ok(exit::FAILED)
        }
    }
}

fn read_task_opt(args: &ExecArgs) -> anyhow::Result<Option<String>> {
    match (&args.task, &args.file) {
        (Some(task), _) => Ok(Some(task.trim().to_string())),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the task from {}", file.display()))?;
            Ok(Some(text.trim().to_string()))
        }
        (None, None) => Ok(None),
    }
}

fn read_task(args: &ExecArgs) -> anyhow::Result<String> {
    let task = match read_task_opt(args)? {
        Some(task) => task,
        None if !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the task from stdin")?;
            s
        }
        None => bail!("no task: pass it as an argument, with -f FILE, or on stdin"),
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
    planner: Option<&RouteDecision>,
    plan: &Plan,
) -> anyhow::Result<PathBuf> {
    let dir = config.workspace.join(".tandem").join("plans");
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let base = format!("{stamp}-{}", slug(task));
    let doc = SavedPlan {
        task,
        created: now_rfc3339(),
        planner,
        plan,
    };
    let json_path = dir.join(format!("{base}.json"));
    crate::sandbox::state::write(&json_path, serde_json::to_string_pretty(&doc)?.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md = format!("Task: {task}\n\n{}", plan.to_markdown());
    let md_path = dir.join(format!("{base}.md"));
    crate::sandbox::state::write(&md_path, md.as_bytes())
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

/// `tandem sandbox "<command>"`: what the command policy decides, what the sandbox enforces here, and the
/// command's output when run inside it (even when the policy would ask or refuse: a person typed it).
pub async fn sandbox(config: &Config, args: &crate::cli::SandboxArgs) -> anyhow::Result<u8> {
    use crate::sandbox::{CommandRules, Sandbox, commands};
    let sb = &config.values.sandbox;
    let rules = CommandRules::new(&sb.allow, &sb.deny).map_err(anyhow::Error::msg)?;
    let decision = commands::decide(config.values.agent.commands, &rules, &args.command);
    let sandbox = Sandbox::new(
        &config.workspace,
        crate::agent::session::sandbox_settings(sb),
    )?;
    let enforcement = sandbox.enforcement();
    eprintln!(
        "policy:  {:?} ({}) under commands = {}",
        decision.verdict,
        decision.reason,
        serde_json::to_value(config.values.agent.commands)?
            .as_str()
            .unwrap_or("?")
    );
    eprintln!("sandbox: {}", enforcement.describe());
    for line in sandbox.describe_view() {
        eprintln!("  {line}");
    }
    for w in &enforcement.warnings {
        eprintln!("warning: {w}");
    }
    let out = sandbox
        .run(&args.command, std::time::Duration::from_secs(args.timeout))
        .await?;
    print!("{}", crate::text::terminal_safe(&out.output));
    if !out.output.ends_with('\n') && !out.output.is_empty() {
        println!();
    }
    eprintln!("{}", out.status_line());
    Ok(match out.exit_code {
        Some(0) => exit::OK,
        _ => exit::FAILED,
    })
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
