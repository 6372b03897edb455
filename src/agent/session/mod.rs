//! A session: plan → execute each step with tools → verify → re-plan, for a bounded number of rounds.
//!
//! Everything it does is an [`Event`] (sent to the front end and appended to the transcript); the front end
//! steers it with [`Op`]s (approvals, undo, interrupt). Edits are proposals with diffs that the approval policy
//! applies (or not), each applied batch a checkpoint.

mod actions;
mod hooks;
mod mcp;
mod planning;
pub(crate) mod pointers;
pub(crate) mod progress;
pub(crate) mod sources;
pub(crate) mod step_files;
mod stepping;

pub use mcp::mcp_hub;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

use super::checkpoint::Checkpoints;
use super::events::EventSink;
use super::transcript::{Resumed, checkpoints_dir, transcript_path};
use crate::config::AgentConfig;
use crate::config::SandboxConfig;
use crate::model::ChatRequest;
use crate::protocol::{Event, EventMsg, Op, Outcome, Plan, RouteRole, StepStatus, Summary, Usage};
use crate::router::{Routed, Router, RouterError, RouterEvent};
use crate::sandbox::{CommandRules, Sandbox, SandboxSettings, Workspace};

/// Characters of tool output fed back to a model per call.
pub const MAX_TOOL_OUTPUT: usize = 8_000;

/// What a session needs to know.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Session id.
    pub id: String,
    /// The task.
    pub task: String,
    /// Approvals, verification, limits.
    pub agent: AgentConfig,
    /// The executor's tactics: its model family's profile.
    pub profile: crate::config::profile::Profile,
    /// How commands are confined and which run without asking.
    pub sandbox: SandboxConfig,
    /// Stop after the plan.
    pub plan_only: bool,
    /// The planner's system prompt.
    pub planner_prompt: String,
    /// The executor's system prompt.
    pub executor_prompt: String,
    /// The system prompt of a step asked for its files whole.
    pub writer_prompt: String,
    /// The system prompt of a step asked for the definitions it changes in files too long to write whole.
    pub definitions_prompt: String,
    /// Project instructions (AGENTS.md or similar), if any.
    pub instructions: Option<String>,
    /// Where an earlier run of this session got to.
    pub resume: Option<Resumed>,
    /// A plan made earlier (`exec --plan FILE`): executed without planning again.
    pub initial_plan: Option<Plan>,
    /// Write a transcript under `.tandem/sessions/`.
    pub transcript: bool,
    /// Nobody can answer an approval (a headless run): what would ask is refused at once, with its reason.
    pub headless: bool,
}

impl SessionConfig {
    /// The system prompt `name` as this session has it (built in, or the person's override).
    pub fn prompt(&self, name: crate::prompts::PromptName) -> &str {
        use crate::prompts::PromptName;
        match name {
            PromptName::Planner => &self.planner_prompt,
            PromptName::Executor => &self.executor_prompt,
            PromptName::Writer => &self.writer_prompt,
            PromptName::Definitions => &self.definitions_prompt,
        }
    }
}

/// A front end's handle on a running session.
#[derive(Clone)]
pub struct SessionHandle {
    ops: UnboundedSender<Op>,
    interrupt: Arc<watch::Sender<bool>>,
}

impl SessionHandle {
    /// Sends an op; `Interrupt` also cancels the model request in flight.
    pub fn send(&self, op: Op) {
        if op == Op::Interrupt {
            let _ = self.interrupt.send(true);
        }
        let _ = self.ops.send(op);
    }
}

/// Why a model call did not return a reply.
pub(crate) enum CallError {
    Router(RouterError),
    Interrupted,
}

/// A running session.
pub struct Session {
    pub(crate) cfg: SessionConfig,
    pub(crate) ws: Workspace,
    pub(crate) router: Arc<Router>,
    pub(crate) sink: EventSink,
    pub(crate) ops: UnboundedReceiver<Op>,
    pub(crate) interrupt: watch::Receiver<bool>,
    pub(crate) checkpoints: Checkpoints,
    pub(crate) next_id: u64,
    pub(crate) usage: Usage,
    pub(crate) usd: f64,
    pub(crate) saved: f64,
    pub(crate) changed: BTreeSet<String>,
    /// Savings of local requests whose work has not landed yet: (ledger row, USD).
    pub(crate) pending_saved: Vec<(Option<i64>, f64)>,
    /// Edits applied so far (a step that applies none changed nothing).
    pub(crate) edits_applied: u64,
    /// Whether the step running now may change existing tests (its plan says so).
    pub(crate) tests_open: bool,
    /// A step hit an error no retry can mend (a refused API key): the session ends as failed.
    pub(crate) stopped: bool,
    pub(crate) plan: Option<Plan>,
    pub(crate) round: u32,
    pub(crate) steps: BTreeMap<u32, (StepStatus, String)>,
    /// The conversation's earlier turns (since the last compaction) and that compaction's summary.
    pub(crate) history: Vec<crate::agent::conversation::Turn>,
    pub(crate) history_summary: Option<String>,
    pub(crate) interrupted: bool,
    pub(crate) verify_passed: Option<bool>,
    /// What the last check verified, in words (for the summary).
    pub(crate) verified: Option<String>,
    /// The workspace changes (edits and commands) counted when the verify command last ran, and its failure
    /// report (`None`: it passed), so a check is not run again on an unchanged workspace.
    pub(crate) checked: Option<(u64, Option<String>)>,
    /// The tests the last verify run passed and failed, where its output says (see [`crate::agent::verify::tally`]).
    pub(crate) check_tally: Option<crate::agent::verify::Tally>,
    /// Edits applied and commands run so far: anything that may have changed the workspace.
    pub(crate) changes: u64,
    pub(crate) shell: Sandbox,
    pub(crate) rules: CommandRules,
    pub(crate) mcp: Arc<crate::mcp::McpHub>,
    /// The person's hooks in force.
    pub(crate) hooks: Arc<crate::hooks::Hooks>,
    /// Where each role's requests went last (for the route hooks).
    pub(crate) routes: hooks::RouteWatch,
}

/// Characters of a failing verify command's output that the models are shown.
const REPORT_CHARS: usize = 1_500;

impl Session {
    /// A session over `ws` with `router`; events also go to `events` if given.
    pub fn new(
        cfg: SessionConfig,
        ws: Workspace,
        router: Arc<Router>,
        events: Option<UnboundedSender<Event>>,
    ) -> std::io::Result<(Session, SessionHandle)> {
        let transcript = cfg.transcript.then(|| transcript_path(ws.root(), &cfg.id));
        let last_seq = cfg.resume.as_ref().map_or(0, |r| r.last_seq);
        let sink = EventSink::new(transcript.as_deref(), events, last_seq)?;
        let (ops_tx, ops) = tokio::sync::mpsc::unbounded_channel();
        let (interrupt_tx, interrupt) = watch::channel(false);
        let checkpoints = Checkpoints::new(checkpoints_dir(ws.root(), &cfg.id));
        let resume = cfg.resume.clone().unwrap_or_default();
        let rules = CommandRules::new(&cfg.sandbox.allow, &cfg.sandbox.deny)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let shell = Sandbox::new(ws.root(), sandbox_settings(&cfg.sandbox))?;
        let session = Session {
            mcp: Arc::new(crate::mcp::McpHub::empty()),
            hooks: Arc::new(crate::hooks::Hooks::default()),
            routes: hooks::RouteWatch::default(),
            shell,
            rules,
            checkpoints,
            next_id: resume.last_seq + 1,
            usage: Usage::default(),
            usd: 0.0,
            saved: 0.0,
            changed: resume.changed,
            history: resume.history,
            history_summary: resume.summary,
            stopped: false,
            pending_saved: Vec::new(),
            edits_applied: 0,
            tests_open: false,
            plan: resume.plan,
            round: resume.round,
            steps: resume.steps,
            interrupted: false,
            verify_passed: None,
            verified: None,
            checked: None,
            check_tally: None,
            changes: 0,
            cfg,
            ws,
            router,
            sink,
            ops,
            interrupt,
        };
        Ok((
            session,
            SessionHandle {
                ops: ops_tx,
                interrupt: Arc::new(interrupt_tx),
            },
        ))
    }

    /// The session's id.
    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    pub(crate) fn emit(&mut self, msg: EventMsg) {
        self.sink.emit(msg);
    }

    /// Records a model's tool call: its event, with the arguments as JSON where they parse.
    pub(crate) fn tool_call_started(&mut self, step: Option<u32>, call: &crate::model::ToolCall) {
        let arguments = serde_json::from_str(&call.arguments)
            .unwrap_or(serde_json::Value::String(call.arguments.clone()));
        self.emit(EventMsg::ToolCall {
            step,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments,
        });
    }

    /// Records a tool call's result: its event (shortened for display) and the message the model gets back.
    pub(crate) fn tool_call_finished(
        &mut self,
        step: Option<u32>,
        call: crate::model::ToolCall,
        ok: bool,
        text: &str,
        messages: &mut Vec<crate::model::ChatMessage>,
    ) {
        let text = head(text, MAX_TOOL_OUTPUT);
        self.emit(EventMsg::ToolResult {
            step,
            call_id: call.id.clone(),
            tool: call.name,
            ok,
            output: head(&text, 2_000),
        });
        messages.push(crate::model::ChatMessage::tool_result(call.id, text));
    }

    /// The earlier turns of this conversation for the planner (empty on a first turn); when they no longer
    /// fit, the oldest are compacted first, and the summary is shown and recorded.
    pub(crate) fn conversation_so_far(&mut self) -> String {
        let history = crate::agent::conversation::render(
            self.history_summary.as_deref(),
            &self.history,
            crate::agent::conversation::HISTORY_BUDGET,
        );
        if let Some((summary, covered)) = history.compacted {
            self.history.drain(..covered.min(self.history.len()));
            self.history_summary = Some(summary.clone());
            self.emit(EventMsg::Compacted {
                summary,
                turns: u32::try_from(covered).unwrap_or(u32::MAX),
            });
        }
        history.text
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Runs to the end: done, verify failed, failed, interrupted, or (plan-only) planned.
    pub async fn run(mut self) -> Outcome {
        let outcome = self.run_to_end().await;
        let fields = serde_json::json!({"outcome": outcome, "task": self.cfg.task});
        self.hooks(crate::config::HookEvent::Stop, None, fields)
            .await;
        let summary = Summary {
            changed_files: self.changed.iter().cloned().collect(),
            verify_passed: self.verify_passed,
            verified: self.verified.clone().unwrap_or_default(),
            usd: self.usd,
            saved_usd: self.saved,
            usage: self.usage,
        };
        self.emit(EventMsg::SessionFinished { outcome, summary });
        outcome
    }

    async fn run_to_end(&mut self) -> Outcome {
        let resumed = self.cfg.resume.is_some();
        self.emit(EventMsg::SessionStarted {
            session: self.cfg.id.clone(),
            workspace: self.ws.root().display().to_string(),
            task: self.cfg.task.clone(),
            resumed,
        });
        // What the command sandbox cannot enforce here is said once, up front.
        if !self.cfg.plan_only {
            for warning in self.shell.enforcement().warnings {
                tracing::warn!("sandbox: {warning}");
                self.emit(EventMsg::Warning {
                    message: format!("sandbox: {warning}"),
                });
            }
        }
        for message in self.mcp.notices() {
            self.emit(EventMsg::Warning { message });
        }
        self.approve_mcp_servers().await;
        let source = if resumed { "resume" } else { "startup" };
        let (_, started) = self
            .hooks(
                crate::config::HookEvent::SessionStart,
                None,
                serde_json::json!({"source": source}),
            )
            .await;
        let prompt = serde_json::json!({"prompt": self.cfg.task});
        let (blocked, submitted) = self
            .hooks(crate::config::HookEvent::UserPromptSubmit, None, prompt)
            .await;
        if let Some(reason) = blocked {
            self.emit(EventMsg::Error {
                message: format!("the task was not run: {reason}"),
            });
            return self.finish(Outcome::Failed);
        }
        self.add_hook_context(started.into_iter().chain(submitted).collect());
        let root = self.ws.root().to_path_buf();
        let swept =
            tokio::task::spawn_blocking(move || crate::sandbox::state::sweep_temp_files(&root))
                .await
                .unwrap_or_default();
        if !swept.is_empty() {
            self.emit(EventMsg::Warning {
                message: format!(
                    "removed {} temporary file(s) an interrupted write left behind: {}",
                    swept.len(),
                    swept.join(", ")
                ),
            });
        }
        let mut revision: Option<String> = None;
        if self.plan.is_none()
            && let Some(plan) = self.cfg.initial_plan.take()
        {
            self.round = 1;
            self.emit(EventMsg::PlanReady {
                plan: plan.clone(),
                round: self.round,
            });
            self.plan = Some(plan);
        }
        loop {
            if self.plan.is_none() || revision.is_some() {
                if self.round >= self.cfg.agent.max_rounds {
                    let outcome = if self.verify_passed == Some(false) {
                        Outcome::VerifyFailed
                    } else {
                        Outcome::Failed
                    };
                    return self.finish(outcome);
                }
                self.round += 1;
                if let Some(reason) = &revision {
                    let reason = reason.lines().next().unwrap_or_default().to_string();
                    self.emit(EventMsg::Replanning {
                        round: self.round,
                        reason,
                    });
                }
                let planned = self.plan_turn(revision.take()).await;
                self.settle_saved(planned.is_ok());
                match planned {
                    Ok(plan) => {
                        self.steps.clear();
                        self.emit(EventMsg::PlanReady {
                            plan: plan.clone(),
                            round: self.round,
                        });
                        self.plan = Some(plan);
                    }
                    Err(CallError::Interrupted) => return self.finish(Outcome::Interrupted),
                    Err(CallError::Router(e)) => {
                        self.emit(EventMsg::Error {
                            message: format!("planning failed: {e}"),
                        });
                        return self.finish(Outcome::Failed);
                    }
                }
                if self.cfg.plan_only {
                    return self.finish(Outcome::Planned);
                }
            }
            let steps = self
                .plan
                .as_ref()
                .map(|p| p.steps.clone())
                .unwrap_or_default();
            for step in steps {
                if self
                    .steps
                    .get(&step.id)
                    .is_some_and(|(s, _)| *s == StepStatus::Done)
                {
                    continue;
                }
                self.drain_ops();
                if self.interrupted {
                    return self.finish(Outcome::Interrupted);
                }
                match self.execute_step(&step).await {
                    Ok(()) => {}
                    Err(Some(reason)) => {
                        revision = Some(format!(
                            "Step {} ({}) failed: {reason}",
                            step.id,
                            self.goal_words(&step)
                        ));
                        break;
                    }
                    Err(None) if self.stopped => return self.finish(Outcome::Failed),
                    Err(None) => return self.finish(Outcome::Interrupted),
                }
            }
            if revision.is_some() {
                continue;
            }
            // Run again only if something changed since the last step's own check.
            match self.check().await {
                // No check found and no change: nothing shows the task is done, so it is not reported as done
                // (a person who set `agent.verify = "none"` chose to go without a check).
                None if self.changed.is_empty()
                    && !crate::agent::check::disabled(&self.cfg.agent.verify) =>
                {
                    self.emit(EventMsg::Warning {
                        message: "nothing was changed and there is no check to show the task was already done: reported as unverified, not done".into(),
                    });
                    return self.finish(Outcome::Unverified);
                }
                None => return self.finish(Outcome::Done),
                Some(Ok(())) => return self.finish(Outcome::Done),
                Some(Err(output)) => revision = Some(output),
            }
            if self.round >= self.cfg.agent.max_rounds {
                return self.finish(Outcome::VerifyFailed);
            }
        }
    }

    /// The verify command's result for the workspace as it is: the last one when nothing changed since it ran,
    /// else from running it again.
    pub(crate) async fn check(&mut self) -> Option<Result<(), String>> {
        match &self.checked {
            Some((at, failure)) if *at == self.changes => Some(match failure {
                None => Ok(()),
                Some(report) => Err(report.clone()),
            }),
            _ => self.verify().await,
        }
    }

    /// The session's check: the config's, the task's, the instructions', else one detected from the files.
    pub(crate) fn check_command(&self) -> Option<crate::agent::check::CheckCommand> {
        crate::agent::check::choose(
            self.ws.root(),
            &self.cfg.agent.verify,
            &self.cfg.task,
            self.cfg.instructions.as_deref(),
        )
    }

    /// Runs the check; `None` when there is none (none configured, named or found, or a detected one that ran
    /// no test), `Some(Err(report))` when it fails or a named one ran no test.
    pub(crate) async fn verify(&mut self) -> Option<Result<(), String>> {
        let Some(check) = self.check_command() else {
            self.verified = Some(if crate::agent::check::disabled(&self.cfg.agent.verify) {
                "no check (agent.verify = \"none\")".to_string()
            } else {
                "no check: none was named (config, task, AGENTS.md, README) and none was found in the project's files"
                        .to_string()
            });
            return None;
        };
        let command = check.command.clone();
        self.emit(EventMsg::VerifyStarted {
            command: command.clone(),
        });
        // The verify command runs the model's code (tests), so it is confined like the model's commands.
        let timeout = std::time::Duration::from_secs(self.cfg.agent.verify_timeout_secs);
        let (success, exit_code, output) = match self.shell.run(&command, timeout).await {
            Ok(out) => (out.success(), out.exit_code, out.output),
            Err(e) => (false, None, format!("the verify command was {e}")),
        };
        let report = crate::agent::check::CheckReport::read(&output, exit_code, success);
        let verified = format!(
            "`{command}` ({}): {}",
            check.source.describe(),
            report.describe()
        );
        let tail = tail(&output, 4_000);
        let not_run = report.verdict == crate::agent::check::Verdict::NotRun;
        let passed = report.verdict == crate::agent::check::Verdict::Passed;
        self.check_tally = report.tally();
        self.emit(EventMsg::VerifyFinished {
            command: command.clone(),
            passed,
            exit_code,
            output: tail.clone(),
            report: Some(report.clone()),
            source: Some(check.source),
            verified: verified.clone(),
        });
        if not_run && !check.source.named() {
            // A guess that finds no test is no check: nothing was verified, and the summary says so.
            self.emit(EventMsg::Warning {
                message: format!(
                    "nothing was verified: the detected check {verified}; name one with agent.verify or in the task"
                ),
            });
            self.verify_passed = None;
            self.verified = Some(format!("not verified: the detected check {verified}"));
            self.checked = None;
            return None;
        }
        self.verify_passed = Some(passed);
        self.verified = Some(verified);
        let exit =
            exit_code.map_or_else(|| "no exit code".to_string(), |c| format!("exit code {c}"));
        let result = if passed {
            Ok(())
        } else if not_run {
            Err(format!(
                "The check `{command}` ran no test ({exit}): {}. Its output ends with:\n{}",
                report.describe(),
                self::tail(&output, REPORT_CHARS)
            ))
        } else {
            // The models get a shorter tail than the event, without the runtime's own stack frames: every
            // character is prefilled again on each later turn, and on a small local model a long test log
            // costs more time than it tells.
            Err(format!(
                "The verify command `{command}` failed ({exit}): {}. Its output ends with:\n{}",
                report.describe(),
                self::tail(
                    &crate::agent::verify::condense_report(&output),
                    REPORT_CHARS
                )
            ))
        };
        self.checked = Some((self.changes, result.clone().err()));
        Some(result)
    }

    fn finish(&mut self, outcome: Outcome) -> Outcome {
        // An undo asked for during the last steps is still honoured.
        while let Ok(op) = self.ops.try_recv() {
            if op == Op::Undo {
                self.undo();
            }
        }
        outcome
    }

    /// Calls the model for `role` (escalated: on the planner's provider), relaying router events, accounting
    /// usage, and giving up at an interrupt.
    pub(crate) async fn call(
        &mut self,
        role: RouteRole,
        escalated: bool,
        request: &ChatRequest,
    ) -> Result<Routed, CallError> {
        if *self.interrupt.borrow() {
            return Err(CallError::Interrupted);
        }
        let router = self.router.clone();
        let sink = &mut self.sink;
        let mut decisions = Vec::new();
        let mut relay = |e: RouterEvent| {
            let msg = match e {
                RouterEvent::Decision(decision) => {
                    decisions.push(decision.clone());
                    EventMsg::Route { decision }
                }
                RouterEvent::Delta(crate::model::ChatEvent::Text { text }) => {
                    EventMsg::Text { role, text }
                }
                RouterEvent::Delta(_) => return,
                RouterEvent::Restart => EventMsg::TextRestart { role },
                RouterEvent::ProviderFailed { provider, error } => EventMsg::ProviderFailed {
                    provider,
                    error: error.to_string(),
                },
                RouterEvent::LedgerError(message) | RouterEvent::Notice(message) => {
                    EventMsg::Warning { message }
                }
            };
            sink.emit(msg);
        };
        let interrupt = &mut self.interrupt;
        let call = async {
            if escalated {
                router.chat_escalated(request, &mut relay).await
            } else {
                router.chat(role, request, &mut relay).await
            }
        };
        let routed = tokio::select! {
            r = call => r.map_err(CallError::Router),
            _ = interrupt.wait_for(|v| *v) => Err(CallError::Interrupted),
        };
        if self.hooks.any(crate::config::HookEvent::RouteChanged, None)
            || self
                .hooks
                .any(crate::config::HookEvent::BudgetReached, None)
        {
            self.route_hooks(decisions).await;
        }
        let routed = routed?;
        self.usage.add(&routed.response.usage);
        self.usd += routed.usd.unwrap_or(0.0);
        // Savings count once the work lands (see `settle_saved`).
        if let Some(saved) = routed.saved_usd.filter(|s| *s > 0.0) {
            self.pending_saved.push((routed.ledger_row, saved));
        }
        self.emit(EventMsg::Usage {
            role,
            provider: routed.decision.provider.clone(),
            model: routed.decision.model.clone(),
            usage: routed.response.usage,
            usd: routed.usd,
            saved_usd: routed.saved_usd,
            session_usd: self.usd,
            session_saved_usd: self.saved,
        });
        Ok(routed)
    }

    /// Counts the pending savings when their work landed (a plan produced; a step done that changed a file),
    /// else zeroes them in the ledger: "saved" is only work that landed.
    pub(crate) fn settle_saved(&mut self, landed: bool) {
        let pending = std::mem::take(&mut self.pending_saved);
        if landed {
            self.saved += pending.iter().map(|(_, usd)| usd).sum::<f64>();
            return;
        }
        let rows: Vec<i64> = pending.iter().filter_map(|(row, _)| *row).collect();
        if let Err(message) = self.router.void_saved(&rows) {
            self.emit(EventMsg::Warning { message });
        }
    }

    /// Handles ops that arrived while the session was busy (undo, interrupt, stray approvals).
    pub(crate) fn drain_ops(&mut self) {
        while let Ok(op) = self.ops.try_recv() {
            self.handle_op(op);
        }
        if *self.interrupt.borrow() {
            self.interrupted = true;
        }
    }

    pub(crate) fn handle_op(&mut self, op: Op) {
        match op {
            Op::Interrupt => self.interrupted = true,
            Op::Undo => self.undo(),
            Op::Approve { request, .. } => self.emit(EventMsg::Warning {
                message: format!("approval {request} is not pending; ignored"),
            }),
        }
    }

    /// Undoes the newest checkpoint.
    pub(crate) fn undo(&mut self) {
        match self.checkpoints.undo(&self.ws) {
            Ok(out) => {
                for message in out.skipped {
                    self.emit(EventMsg::Warning { message });
                }
                match out.undone {
                    Some((checkpoint, files)) => self.emit(EventMsg::Undone { checkpoint, files }),
                    None => self.emit(EventMsg::Warning {
                        message: "nothing to undo".into(),
                    }),
                }
            }
            Err(e) => self.emit(EventMsg::Error {
                message: format!("undo failed: {e}"),
            }),
        }
    }
}

/// The last `max` characters of `text`, cut at a line start.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    let cut = cut.find('\n').map_or(cut, |i| &cut[i + 1..]);
    format!("…\n{cut}")
}

/// The first `max` characters of `text`, with a note of what was left out.
pub fn head(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… [{} more characters not shown]",
        &text[..end],
        text.len() - end
    )
}

/// The sandbox settings for a session from its config (`~/` in paths is the home directory).
pub fn sandbox_settings(cfg: &SandboxConfig) -> SandboxSettings {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let expand = |p: &String| match (p.strip_prefix("~/"), &home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => std::path::PathBuf::from(p),
    };
    SandboxSettings {
        mode: cfg.mode,
        network: cfg.network,
        writable: cfg.writable.iter().map(expand).collect(),
        readable: cfg.readable.iter().map(std::path::PathBuf::from).collect(),
        max_processes: cfg.max_processes,
        max_memory_mb: cfg.max_memory_mb,
        max_file_size_mb: cfg.max_file_size_mb,
        scrub: cfg.scrub_env.clone(),
        pass_env: cfg.pass_env.clone(),
        env: None,
        protect: cfg.protect.iter().map(std::path::PathBuf::from).collect(),
    }
}
