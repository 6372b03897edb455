//! Headless runs: `tandem exec` (a whole session, or `--plan-only`), and `tandem undo`.

pub mod ralph;
mod render;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::agent::transcript;
use crate::cli::{ExecArgs, GlobalArgs, UndoArgs, exit};
use crate::config::Config;
use crate::launch::{Launcher, Mode, SessionSpec, continue_session};
use crate::protocol::{EventMsg, Op, Outcome, Plan, RouteDecision, RouteRole};
use crate::sandbox::Workspace;

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

/// `tandem exec`.
pub async fn run(config: Config, global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<u8> {
    let launcher = Launcher::new(config, Mode::headless(&args.approve), global.offline)?;
    let ws = launcher.workspace().clone();
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
            let (state, task) = continue_session(&ws, &id, read_task_opt(args)?)?;
            (id, Some(state), task)
        }
        None => match &saved_plan {
            Some((task, _)) => (
                transcript::new_id(),
                None,
                read_task_opt(args)?.unwrap_or_else(|| task.clone()),
            ),
            None => (transcript::new_id(), None, read_task(args)?),
        },
    };
    let initial_plan = saved_plan.map(|(_, plan)| plan);

    let router = launcher.router(&session_id)?;
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (session, handle) = launcher.session(
        SessionSpec {
            id: session_id.clone(),
            task: task.clone(),
            plan_only: global.plan_only,
            resume,
            initial_plan,
        },
        router,
        Some(events_tx),
    )?;
    let mcp = launcher.mcp().await;
    let running = tokio::spawn(session.with_mcp(mcp).run());

    let mut renderer = Renderer::new(
        args.json && !global.plan_only,
        std::io::stderr().is_terminal(),
    )
    .with_local(launcher.local().clone());
    let mut plan: Option<Plan> = None;
    let mut planner: Option<RouteDecision> = None;
    let mut interrupts = 0;
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(120));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // One SIGINT stream for the whole run: a fresh `ctrl_c()` future per loop turn misses a Ctrl-C that comes
    // while an event is being rendered.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    // After SIGTERM the session gets this long to end cleanly (and write `session_finished`).
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                renderer.tick();
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    renderer.clear_spinner();
                    crate::errln!("tandem: terminated; the session did not stop in time");
                    return Ok(exit::INTERRUPTED);
                }
            }
            event = events.recv() => {
                let Some(event) = event else { break };
                match &event.msg {
                    EventMsg::PlanReady { plan: p, .. } => plan = Some(p.clone()),
                    EventMsg::Route { decision } if decision.role == RouteRole::Planner => planner = Some(decision.clone()),
                    _ => {}
                }
                renderer.event(&event);
            }
            _ = sigterm.recv(), if deadline.is_none() => {
                handle.send(Op::Interrupt);
                deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5));
            }
            _ = sigint.recv() => {
                interrupts += 1;
                renderer.clear_spinner();
                if interrupts > 1 {
                    crate::errln!("\ntandem: interrupted twice; stopping now (edits are written whole or not at all)");
                    return Ok(exit::INTERRUPTED);
                }
                crate::errln!("\ntandem: interrupting (the model request stops now; an edit in progress is finished or rolled back; Ctrl-C again to stop at once)");
                handle.send(Op::Interrupt);
            }
        }
    }
    renderer.clear_spinner();
    let outcome = running.await.context("the session task failed")?;
    let config = launcher.config();

    if global.plan_only
        && let Some(plan) = &plan
    {
        let saved = save_plan(config, &task, planner.as_ref(), plan)?;
        if args.json {
            let doc = SavedPlan {
                task: &task,
                created: now_rfc3339(),
                planner: planner.as_ref(),
                plan,
            };
            let doc = serde_json::to_string_pretty(&doc)?;
            crate::outln!("{}", crate::text::json_terminal_safe(&doc));
        } else {
            crate::outln!("{}", crate::text::terminal_safe(&plan.to_markdown()));
            if let Some(d) = &planner {
                crate::outln!("_Planned by {}/{} ({})._", d.provider, d.model, d.reason);
            }
        }
        crate::errln!("tandem: plan saved to {}", saved.display());
    } else if !args.json {
        crate::out!("{}", renderer.summary());
    }
    let location = config.model_location();
    if renderer.no_local_model()
        && let Some(known) = location.known()
        && !location.path().exists()
    {
        crate::errln!(
            "tandem: the model {} is not at {}: run {}, or pass --model PATH",
            known.name,
            location.path().display(),
            known.fetch
        );
    }
    crate::errln!(
        "tandem: session {session_id} (continue it with `tandem exec --resume {session_id} \"<follow-up>\"`, or `tandem --resume {session_id}` in the UI)"
    );
    Ok(exit_code(outcome, renderer.no_local_model()))
}

/// The exit code for a session's outcome (the README's table).
pub fn exit_code(outcome: Outcome, no_local_model: bool) -> u8 {
    match outcome {
        Outcome::Done | Outcome::Planned => exit::OK,
        Outcome::VerifyFailed => exit::VERIFY_FAILED,
        Outcome::Unverified => exit::UNVERIFIED,
        Outcome::Interrupted => exit::INTERRUPTED,
        Outcome::Failed if no_local_model => exit::MODEL,
        Outcome::Failed => exit::FAILED,
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
        crate::errln!("tandem: {note}");
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
            crate::outln!(
                "undid checkpoint {checkpoint} of session {id}: {}",
                crate::text::terminal_safe(&files.join(", "))
            );
            Ok(exit::OK)
        }
        None => {
            crate::errln!("tandem: session {id} has nothing left to undo");
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
    crate::errln!(
        "policy:  {:?} ({}) under commands = {}",
        decision.verdict,
        decision.reason,
        serde_json::to_value(config.values.agent.commands)?
            .as_str()
            .unwrap_or("?")
    );
    crate::errln!("sandbox: {}", enforcement.describe());
    for line in sandbox.describe_view() {
        crate::errln!("  {line}");
    }
    for w in &enforcement.warnings {
        crate::errln!("warning: {w}");
    }
    let out = sandbox
        .run(&args.command, std::time::Duration::from_secs(args.timeout))
        .await?;
    crate::out!("{}", crate::text::terminal_safe(&out.output));
    if !out.output.ends_with('\n') && !out.output.is_empty() {
        crate::outln!();
    }
    crate::errln!("{}", out.status_line());
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
