//! `tandem loop`: the ralph loop. The same prompt, fed to a fresh session again and again, with a progress file
//! carrying what earlier iterations did; it keeps going when the cloud throttles (the router falls back to the
//! local planner and returns to the cloud after the reset), and stops on a limit, a completion promise, a
//! marker file, an interrupt, or a run of iterations that change nothing.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::Renderer;
use crate::agent::session::tail;
use crate::agent::transcript;
use crate::cli::{GlobalArgs, LoopArgs, exit};
use crate::config::Config;
use crate::launch::{Launcher, Mode, SessionSpec};
use crate::protocol::{EventMsg, Op, Outcome, RouteDecision, RouteRole, StepStatus, Summary};

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `--max-iterations` reached.
    MaxIterations,
    /// The planner said the `--until` text.
    Promise,
    /// The `--until-file` exists.
    MarkerFile,
    /// Ctrl-C.
    Interrupted,
    /// `--max-idle` iterations in a row changed nothing.
    NoProgress,
}

/// What one iteration did.
#[derive(Debug, Clone)]
struct Iteration {
    outcome: Outcome,
    summary: Summary,
    plan_summary: String,
    steps: Vec<(u32, String, Option<StepStatus>)>,
    planner: Option<RouteDecision>,
    said: String,
}

/// `tandem loop`.
pub async fn run(config: Config, global: &GlobalArgs, args: &LoopArgs) -> anyhow::Result<u8> {
    let launcher = Launcher::new(config, Mode::headless(&args.approve), global.offline)?;
    let ws = launcher.workspace().clone();
    let prompt_path = ws.root().join(&args.prompt);
    if !prompt_path.is_file() {
        anyhow::bail!(
            "no prompt file at {} (write the task there, or pass another file)",
            prompt_path.display()
        );
    }
    let loop_id = transcript::new_id();
    // One router for every iteration: a provider's breaker and reset outlive the iteration that hit them.
    let router = launcher.router(&loop_id)?;
    let progress_path = ws.root().join(&args.progress);
    let mut idle = 0;
    let mut last_route: Option<String> = None;
    let (mut usd, mut saved, mut tokens) = (0.0, 0.0, 0u64);
    let mut stop = StopReason::MaxIterations;
    let mut done = 0;
    let mut last_outcome: Option<Outcome> = None;
    for n in 1..=args.max_iterations {
        if let Some(marker) = &args.until_file
            && ws.root().join(marker).exists()
        {
            stop = StopReason::MarkerFile;
            break;
        }
        let prompt = std::fs::read_to_string(&prompt_path)
            .with_context(|| format!("cannot read {}", prompt_path.display()))?;
        let progress = read_progress(&progress_path)?;
        let mut task = prompt.trim().to_string();
        if !progress.trim().is_empty() {
            task.push_str(&format!(
                "\n\n---\nProgress notes from earlier iterations (most recent last):\n{}\n---",
                tail(progress.trim(), 6_000)
            ));
        }
        task.push_str(&format!("\n\nThis is iteration {n} of a loop over this task: continue the work, do not redo what is done."));
        if let Some(promise) = &args.until {
            task.push_str(&format!(" When the whole task is already complete, say exactly `{promise}` in the plan's summary."));
        }
        let spec = SessionSpec {
            id: format!("{loop_id}-{n:03}"),
            task,
            ..SessionSpec::default()
        };
        let (iteration, interrupted) =
            run_iteration(&launcher, spec, router.clone(), args.json).await?;
        last_outcome = Some(iteration.outcome);
        done = n;
        usd += iteration.summary.usd;
        saved += iteration.summary.saved_usd;
        tokens += iteration.summary.usage.total_input() + iteration.summary.usage.output_tokens;

        if let Some(planner) = &iteration.planner {
            let route = format!("{}/{}", planner.provider, planner.model);
            if last_route.as_ref().is_some_and(|r| r != &route) {
                crate::errln!(
                    "tandem loop: the planner is now {route}: {}",
                    planner.reason
                );
            }
            last_route = Some(route);
        }
        crate::errln!(
            "{}",
            crate::text::terminal_safe(&iteration_line(n, args.max_iterations, &iteration))
        );
        append_progress(&progress_path, n, &iteration)?;
        if args.commit && !iteration.summary.changed_files.is_empty() {
            commit(ws.root(), n, &iteration);
        }
        if interrupted || iteration.outcome == Outcome::Interrupted {
            stop = StopReason::Interrupted;
            break;
        }
        if let Some(promise) = &args.until
            && iteration.said.contains(promise.as_str())
        {
            stop = StopReason::Promise;
            break;
        }
        idle = if iteration.summary.changed_files.is_empty() {
            idle + 1
        } else {
            0
        };
        if args.max_idle > 0 && idle >= args.max_idle {
            stop = StopReason::NoProgress;
            break;
        }
        if args.pause > 0 && n < args.max_iterations {
            tokio::time::sleep(std::time::Duration::from_secs(args.pause)).await;
        }
    }
    crate::errln!(
        "tandem loop: {done} iteration(s), stopped: {}; {tokens} tokens, spent ${usd:.4}, saved ${saved:.4}; progress in {}",
        match stop {
            StopReason::MaxIterations => format!("--max-iterations {}", args.max_iterations),
            StopReason::Promise => format!(
                "the planner said `{}`",
                args.until.clone().unwrap_or_default()
            ),
            StopReason::MarkerFile => "the marker file exists".into(),
            StopReason::Interrupted => "interrupted".into(),
            StopReason::NoProgress =>
                format!("{} iterations in a row changed nothing", args.max_idle),
        },
        progress_path.display()
    );
    Ok(loop_exit_code(&stop, last_outcome))
}

/// The loop's exit code: 0 when it stopped on its completion promise or marker file, 130 on an interrupt,
/// otherwise that of its last iteration's outcome (so a loop whose last iteration failed does not exit 0).
pub fn loop_exit_code(stop: &StopReason, last: Option<Outcome>) -> u8 {
    match (stop, last) {
        (StopReason::Interrupted, _) => exit::INTERRUPTED,
        (StopReason::Promise | StopReason::MarkerFile, _) => exit::OK,
        (_, Some(outcome)) => super::exit_code(outcome, false),
        (_, None) => exit::OK,
    }
}

/// Runs one session, relaying Ctrl-C as an interrupt; returns what it did and whether Ctrl-C was pressed.
async fn run_iteration(
    launcher: &Launcher,
    spec: SessionSpec,
    router: Arc<crate::router::Router>,
    json: bool,
) -> anyhow::Result<(Iteration, bool)> {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (session, handle) = launcher.session(spec, router, Some(tx))?;
    // One set of MCP servers for the whole loop (the launcher's: a stdio server keeps its state).
    let mcp = launcher.mcp().await;
    let running = tokio::spawn(session.with_mcp(mcp).run());
    let mut renderer = Renderer::quiet(json);
    let mut it = Iteration {
        outcome: Outcome::Failed,
        summary: Summary::default(),
        plan_summary: String::new(),
        steps: Vec::new(),
        planner: None,
        said: String::new(),
    };
    let mut interrupted = false;
    // One SIGINT stream per iteration: a fresh `ctrl_c()` future per loop turn misses a Ctrl-C that comes while
    // an event is being handled.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                renderer.event(&event);
                match &event.msg {
                    EventMsg::PlanReady { plan, .. } => {
                        it.plan_summary = plan.summary.clone();
                        it.steps = plan.steps.iter().map(|s| (s.id, s.goal.clone(), None)).collect();
                        it.said.push_str(&serde_json::to_string(plan).unwrap_or_default());
                    }
                    EventMsg::StepFinished { step, status, .. } => {
                        if let Some(s) = it.steps.iter_mut().find(|s| s.0 == *step) {
                            s.2 = Some(*status);
                        }
                    }
                    EventMsg::Route { decision } if decision.role == RouteRole::Planner => it.planner = Some(decision.clone()),
                    EventMsg::Text { role: RouteRole::Planner, text } => it.said.push_str(text),
                    EventMsg::SessionFinished { outcome, summary } => {
                        it.outcome = *outcome;
                        it.summary = summary.clone();
                    }
                    _ => {}
                }
            }
            _ = sigint.recv(), if !interrupted => {
                interrupted = true;
                crate::errln!("\ntandem loop: interrupting; the current edit is finished or rolled back, then the loop stops");
                handle.send(Op::Interrupt);
            }
        }
    }
    running.await.context("the session task failed")?;
    Ok((it, interrupted))
}

/// One line per iteration: outcome, planner route, tokens, $ spent, $ saved, files changed.
fn iteration_line(n: u32, max: u32, it: &Iteration) -> String {
    let route = it.planner.as_ref().map_or_else(
        || "no planner call".to_string(),
        |d| {
            if d.is_local() {
                format!("planner local ({})", d.reason)
            } else {
                format!("planner {}/{}", d.provider, d.model)
            }
        },
    );
    let u = &it.summary.usage;
    format!(
        "tandem loop: iteration {n}/{max}: {:?} · {route} · {} tokens · spent ${:.4} · saved ${:.4} · {} file(s) changed",
        it.outcome,
        u.total_input() + u.output_tokens,
        it.summary.usd,
        it.summary.saved_usd,
        it.summary.changed_files.len()
    )
}

/// Appends the iteration's notes to the progress file (written whole).
fn append_progress(path: &Path, n: u32, it: &Iteration) -> anyhow::Result<()> {
    let mut text = read_progress(path)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    text.push_str(&format!("\n## Iteration {n} ({stamp}): {:?}\n", it.outcome));
    if !it.plan_summary.is_empty() {
        text.push_str(&format!("Plan: {}\n", it.plan_summary));
    }
    for (id, goal, status) in &it.steps {
        let mark = match status {
            Some(StepStatus::Done) => "done",
            Some(StepStatus::Failed) => "failed",
            None => "not reached",
        };
        text.push_str(&format!("- step {id} ({mark}): {goal}\n"));
    }
    let changed = if it.summary.changed_files.is_empty() {
        "nothing".to_string()
    } else {
        it.summary.changed_files.join(", ")
    };
    text.push_str(&format!("Changed: {changed}\n"));
    match it.summary.verify_passed {
        Some(true) => text.push_str("Verify: passed\n"),
        Some(false) => text.push_str("Verify: failed\n"),
        None => {}
    }
    crate::sandbox::state::write(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The progress file's text (empty when there is none yet), read without following links: its content goes
/// to the planner, so a link to a file elsewhere is refused.
fn read_progress(path: &Path) -> anyhow::Result<String> {
    let bytes = crate::sandbox::state::read(path, 1 << 24)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
}

/// Commits the iteration's changes (best effort: a failed commit is reported, the loop goes on).
fn commit(root: &Path, n: u32, it: &Iteration) {
    // tandem's own git: the repository's hooks, fsmonitor and helpers do not run, and no key is in its env.
    let git = |args: &[&str]| crate::sandbox::spawn::git(root).args(args).output();
    let summary = if it.plan_summary.is_empty() {
        "no plan".to_string()
    } else {
        it.plan_summary.chars().take(60).collect()
    };
    let message = format!("tandem loop: iteration {n}: {summary}");
    let mut paths = vec!["add", "--"];
    paths.extend(it.summary.changed_files.iter().map(String::as_str));
    match git(&paths).and_then(|_| git(&["commit", "-q", "-m", &message])) {
        Ok(out) if out.status.success() => crate::errln!("tandem loop: committed iteration {n}"),
        Ok(out) => crate::errln!(
            "tandem loop: git commit failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => crate::errln!("tandem loop: git commit failed: {e}"),
    }
}
