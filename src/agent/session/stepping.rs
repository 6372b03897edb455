//! Executing a step: tool turns on the executor's route, retried, then escalated to the planner's provider.

use super::progress::{self, Progress, Verdict};
use super::{CallError, Session, tail};
use crate::model::{ChatMessage, ChatRequest, Role};
use crate::protocol::{EventMsg, RouteRole, Step, StepStatus};
use crate::router::RouterError;
use crate::tools::{Action, ToolSet, dispatch, specs};

/// Characters of conversation a step keeps before old tool output is dropped.
const STEP_CONTEXT_BUDGET: usize = 24_000;

/// Characters of the files a step names that its brief carries, so the model need not ask for them.
const BRIEF_FILES_BUDGET: usize = 12_000;

/// What a model told to stop looking may do next.
const ACT_NOW: &str = "Next: change the file with edit (or write_file for a new file), run a command with run, \
    or call step_done if the step is already complete, or step_failed with the reason it cannot be done.";

/// What a model that repeated a call may do next (its next reply may not look or run commands).
const CHANGE_NOW: &str = "Next: change the file with edit (or write_file for a new file), or call step_done if \
    the step is already complete, or step_failed with the reason it cannot be done.";

/// How one attempt at a step ended.
pub(super) enum Attempt {
    Done(String),
    Failed(String),
    Interrupted,
    /// An error that ends the session (a refused API key): retrying or escalating cannot help.
    Stopped(String),
}

impl Session {
    /// Runs a step to done; `Err(Some(reason))` when it failed every attempt, `Err(None)` when interrupted.
    pub(crate) async fn execute_step(&mut self, step: &Step) -> Result<(), Option<String>> {
        let attempts = self.cfg.agent.max_step_attempts;
        let mut last_failure: Option<String> = None;
        self.tests_open = step.changes_tests;
        let escalate = self.router.can_escalate();
        for attempt in 1..=attempts + u32::from(escalate) {
            let escalated = attempt > attempts;
            if escalated {
                let reason = format!(
                    "the executor failed {attempts} time(s): {}",
                    last_failure.clone().unwrap_or_default()
                );
                self.emit(EventMsg::Escalated {
                    step: step.id,
                    reason,
                });
            }
            self.emit(EventMsg::StepStarted {
                step: step.id,
                goal: step.goal.clone(),
                attempt,
            });
            let edits_before = self.edits_applied;
            let outcome = self
                .attempt_step(step, escalated, last_failure.as_deref())
                .await;
            let landed = matches!(outcome, Attempt::Done(_)) && self.edits_applied > edits_before;
            self.settle_saved(landed);
            match outcome {
                Attempt::Done(summary) => {
                    self.steps
                        .insert(step.id, (StepStatus::Done, summary.clone()));
                    self.emit(EventMsg::StepFinished {
                        step: step.id,
                        status: StepStatus::Done,
                        summary,
                    });
                    return Ok(());
                }
                Attempt::Failed(reason) => {
                    tracing::info!(step = step.id, attempt, %reason, "step attempt failed");
                    last_failure = Some(reason);
                }
                Attempt::Interrupted => {
                    self.emit(EventMsg::StepFinished {
                        step: step.id,
                        status: StepStatus::Failed,
                        summary: "interrupted".into(),
                    });
                    return Err(None);
                }
                Attempt::Stopped(message) => {
                    self.steps
                        .insert(step.id, (StepStatus::Failed, message.clone()));
                    self.emit(EventMsg::StepFinished {
                        step: step.id,
                        status: StepStatus::Failed,
                        summary: message.clone(),
                    });
                    self.emit(EventMsg::Error { message });
                    self.stopped = true;
                    return Err(None);
                }
            }
        }
        let reason = last_failure.unwrap_or_else(|| "no attempt made".into());
        self.steps
            .insert(step.id, (StepStatus::Failed, reason.clone()));
        self.emit(EventMsg::StepFinished {
            step: step.id,
            status: StepStatus::Failed,
            summary: reason.clone(),
        });
        Err(Some(reason))
    }

    async fn attempt_step(
        &mut self,
        step: &Step,
        escalated: bool,
        previous_failure: Option<&str>,
    ) -> Attempt {
        // The plan's last open step is checked before it counts as done: a failing check goes back to the
        // executor (as aider's auto-test does) instead of costing a whole re-plan.
        let last_open = self.plan.as_ref().is_some_and(|p| {
            p.steps.iter().all(|s| {
                s.id == step.id
                    || self
                        .steps
                        .get(&s.id)
                        .is_some_and(|(st, _)| *st == StepStatus::Done)
            })
        });
        let edits_at_start = self.edits_applied;
        let mut checks_left = if last_open {
            self.cfg.agent.step_checks
        } else {
            0
        };
        if let Some(end) = self
            .whole_file_rounds(
                step,
                escalated,
                previous_failure,
                last_open,
                &mut checks_left,
            )
            .await
        {
            return end;
        }
        // The brief is written after the whole-file rounds: it shows the files as those left them.
        let files = if step.files.is_empty() {
            "(none named)".to_string()
        } else {
            step.files.join(", ")
        };
        let mut brief = self.step_heading(step, Some(&files));
        let mut progress = Progress::new(progress::IDLE_TURNS_BEFORE_FORCING);
        // The files whose content is in `messages`: the router keeps the request local when one is sensitive.
        // The brief opens with the task, and with it any file an `@path` mention attached.
        let mut sources: Vec<String> = super::sources::sources_in_task(&self.ws, &self.cfg.task);
        brief.push_str(&self.named_files(step, &mut progress, &mut sources));
        brief.push_str(&self.step_notes(previous_failure));
        let mut messages = vec![
            ChatMessage::system(self.cfg.executor_prompt.trim()),
            ChatMessage::user(brief),
        ];
        let mut nudged = false;
        for _turn in 0..self.cfg.agent.max_step_turns {
            self.drain_ops();
            if self.interrupted {
                return Attempt::Interrupted;
            }
            compact(&mut messages);
            let must_act = progress.must_act();
            if must_act && !nudged {
                nudged = true;
                messages.push(ChatMessage::user(format!(
                    "You have looked around without changing anything. {ACT_NOW}"
                )));
            }
            let mut tools = if progress.must_change() {
                progress::changing_tools(specs(ToolSet::Executor))
            } else if must_act {
                progress::acting_tools(specs(ToolSet::Executor))
            } else {
                specs(ToolSet::Executor)
            };
            if !progress.must_change() {
                tools.extend(self.mcp.specs());
            }
            let request = ChatRequest {
                messages: messages.clone(),
                tools,
                tool_choice: crate::model::ToolChoice::Required,
                max_tokens: self.router.max_tokens(RouteRole::Executor),
                stable_prefix: 2,
                sources: sources.clone(),
                // A retry (another attempt, or a later round) samples: with the same prompt a greedy model
                // would repeat the attempt that failed, token for token.
                temperature: (previous_failure.is_some() || self.round > 1).then_some(0.6),
                ..ChatRequest::default()
            };
            let response = match self.call(RouteRole::Executor, escalated, &request).await {
                Ok(routed) => routed.response,
                Err(CallError::Interrupted) => return Attempt::Interrupted,
                Err(CallError::Router(e @ RouterError::Auth { .. })) => {
                    return Attempt::Stopped(e.to_string());
                }
                Err(CallError::Router(e)) => {
                    return Attempt::Failed(format!("the model could not be reached: {e}"));
                }
            };
            if response.tool_calls.is_empty() {
                progress.end_turn(false);
                messages.push(ChatMessage::assistant(response.text));
                messages.push(ChatMessage::user(
                    "Reply with exactly one tool call. When the step is complete, call step_done.",
                ));
                continue;
            }
            let mut assistant = ChatMessage::assistant(response.text.clone());
            assistant.tool_calls = response.tool_calls.clone();
            assistant.verbatim = response.verbatim.clone();
            messages.push(assistant);
            let mut acted = false;
            for call in response.tool_calls {
                self.tool_call_started(Some(step.id), &call);
                if let Verdict::Repeat(text) =
                    progress.check(&call.name, &call.arguments, CHANGE_NOW)
                {
                    self.tool_call_finished(Some(step.id), call, false, &text, &mut messages);
                    if let Some(summary) = self.checked_done(last_open, edits_at_start) {
                        return Attempt::Done(summary);
                    }
                    continue;
                }
                // Edits and commands run their hooks where they are applied (every path comes there);
                // reads and MCP calls run theirs here.
                let looks = crate::mcp::names::is_mcp(&call.name)
                    || matches!(
                        call.name.as_str(),
                        "read_file" | "list_dir" | "grep" | "outline"
                    );
                let input = serde_json::from_str::<serde_json::Value>(&call.arguments)
                    .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
                if looks && let Some(reason) = self.before_tool(&call.name, input.clone()).await {
                    progress.record(&call.name, &call.arguments, false, &reason);
                    self.tool_call_finished(Some(step.id), call, false, &reason, &mut messages);
                    continue;
                }
                if crate::mcp::names::is_mcp(&call.name) {
                    let (ok, text) = self.call_mcp(&call, &mut sources).await;
                    let text = self.after_tool(&call.name, input, ok, text).await;
                    // Like a command, a call counts as acting: its result is new information.
                    acted = true;
                    progress.record(&call.name, &call.arguments, ok, &text);
                    self.tool_call_finished(Some(step.id), call, ok, &text, &mut messages);
                    if self.interrupted {
                        return Attempt::Interrupted;
                    }
                    continue;
                }
                let changes = matches!(call.name.as_str(), "edit" | "write_file" | "run");
                let (ok, text) = match dispatch(
                    &self.ws,
                    ToolSet::Executor,
                    &call.name,
                    &call.arguments,
                ) {
                    Action::Output(text) => (true, text),
                    Action::Failed(text) => (false, text),
                    Action::Propose { path, old, new } => {
                        let (ok, mut text) = self.propose(path, old, new).await;
                        // On the plan's last open step each applied edit is checked at once (as aider's
                        // auto-test does), so the model sees whether its change worked before it goes on.
                        if ok && checks_left > 0 {
                            checks_left -= 1;
                            match self.check().await {
                                Some(Ok(())) => text.push_str(
                                    "\nThe project's check passes now. If the step is complete, call step_done.",
                                ),
                                Some(Err(report)) => {
                                    text.push_str(&format!("\nThe project's check fails now. {report}"))
                                }
                                None => {}
                            }
                        }
                        (ok, text)
                    }
                    Action::Run(command) => self.run_command(command).await,
                    Action::Finish { status, summary }
                        if status == StepStatus::Done
                            && checks_left > 0
                            && self.checked != Some((self.changes, None))
                            && let Some(Err(report)) = {
                                checks_left -= 1;
                                self.check().await
                            } =>
                    {
                        tracing::info!(step = step.id, %summary, "step_done, but the check fails");
                        // New information, like a command's output.
                        acted = true;
                        (
                            false,
                            format!(
                                "Not done yet. {report}\nFix what it reports (change the code, not the tests, unless the task asks for that), then call step_done again; call step_failed if it cannot be fixed."
                            ),
                        )
                    }
                    Action::Finish { status, summary } => {
                        self.emit(EventMsg::ToolResult {
                            step: Some(step.id),
                            call_id: call.id,
                            tool: call.name,
                            ok: true,
                            output: summary.clone(),
                        });
                        return match status {
                            StepStatus::Done => Attempt::Done(summary),
                            StepStatus::Failed => Attempt::Failed(summary),
                        };
                    }
                    Action::SubmitPlan(_) => {
                        (false, "submit_plan is the planner's tool".to_string())
                    }
                };
                let text = if looks {
                    self.after_tool(&call.name, input, ok, text).await
                } else {
                    text
                };
                // A command that may change something counts as acting even when it fails (its output is new
                // information); one that only looks (grep, cat, the tests) is looking, like read_file.
                acted |= changes
                    && if call.name == "run" {
                        !progress::run_only_looks(&call.arguments)
                    } else {
                        ok
                    };
                progress.record(&call.name, &call.arguments, ok, &text);
                for path in super::sources::sources_of(&self.ws, &call, &text) {
                    if !sources.contains(&path) {
                        sources.push(path);
                    }
                }
                self.tool_call_finished(Some(step.id), call, ok, &text, &mut messages);
                if self.interrupted {
                    return Attempt::Interrupted;
                }
            }
            progress.end_turn(acted);
            if let Some(call) = progress.stuck() {
                if let Some(summary) = self.checked_done(last_open, edits_at_start) {
                    return Attempt::Done(summary);
                }
                return Attempt::Failed(format!(
                    "the model kept repeating `{call}` with nothing changed since it was answered"
                ));
            }
        }
        if let Some(summary) = self.checked_done(last_open, edits_at_start) {
            return Attempt::Done(summary);
        }
        Attempt::Failed(format!(
            "the step was not finished within {} model turns",
            self.cfg.agent.max_step_turns
        ))
    }
}

impl Session {
    /// The opening of a step's brief: the task, the plan with each step's status, the step, its `files` (when
    /// given) and when it is done.
    pub(super) fn step_heading(&self, step: &Step, files: Option<&str>) -> String {
        let plan = self
            .plan
            .as_ref()
            .map(|p| self.plan_with_status(p))
            .unwrap_or_default();
        let files = files.map(|f| format!("Files: {f}\n")).unwrap_or_default();
        format!(
            "Task: {}\n\nPlan:\n{plan}\nYour step: {}. {}\n{files}Done when: {}",
            self.cfg.task.trim(),
            step.id,
            step.goal,
            step.done_when
        )
    }

    /// What a step's brief says of where things stand: the last check's failure (until a check passes again)
    /// and why an earlier attempt failed.
    pub(super) fn step_notes(&self, previous_failure: Option<&str>) -> String {
        let mut out = String::new();
        if let Some((_, Some(report))) = &self.checked {
            out.push_str(&format!(
                "\n\nThe project's check fails now. {}",
                tail(report, 2_000)
            ));
        }
        if let Some(reason) = previous_failure {
            out.push_str(&format!(
                "\n\nAn earlier attempt at this step failed: {reason}\nTry a different approach."
            ));
        }
        out
    }

    /// A summary when the plan's last open step is done by the project's own check even though the model did
    /// not say so: this attempt applied edits, the check passed on the workspace as it is now, and the model
    /// then repeated itself (or ran out of turns) instead of calling step_done.
    fn checked_done(&self, last_open: bool, edits_at_start: u64) -> Option<String> {
        (last_open
            && self.edits_applied > edits_at_start
            && self.cfg.agent.step_checks > 0
            && self.checked == Some((self.changes, None)))
        .then(|| {
            let what = self.verified.clone().unwrap_or_else(|| "the check".into());
            format!("verified after this step's edits: {what}")
        })
    }

    /// The text of the files `step` names, for its brief (each through the path policy, as `read_file` shows
    /// it), recorded in `progress` as read and in `sources` as carried.
    fn named_files(
        &self,
        step: &Step,
        progress: &mut Progress,
        sources: &mut Vec<String>,
    ) -> String {
        let mut out = String::new();
        for path in &step.files {
            let args = serde_json::json!({ "path": path }).to_string();
            let Action::Output(text) = dispatch(&self.ws, ToolSet::Executor, "read_file", &args)
            else {
                continue;
            };
            let section = format!("\n\nContents of {path}:\n{text}");
            if out.len() + section.len() > BRIEF_FILES_BUDGET {
                continue;
            }
            out.push_str(&section);
            progress.already_seen("read_file", &args);
            let call = crate::model::ToolCall {
                id: "brief".into(),
                name: "read_file".into(),
                arguments: args,
            };
            for source in super::sources::sources_of(&self.ws, &call, &text) {
                if !sources.contains(&source) {
                    sources.push(source);
                }
            }
        }
        out
    }
}

/// Drops the content of older tool results once the conversation is over budget (the newest stay).
fn compact(messages: &mut [ChatMessage]) {
    let size = |ms: &[ChatMessage]| ms.iter().map(|m| m.content.len()).sum::<usize>();
    let mut total = size(messages);
    let keep = messages.len().saturating_sub(2);
    for m in messages[..keep].iter_mut() {
        if total <= STEP_CONTEXT_BUDGET {
            break;
        }
        if m.role == Role::Tool && m.content.len() > 200 {
            total -= m.content.len();
            m.content =
                "[output dropped to save context; call the tool again if you need it]".into();
            total += m.content.len();
        }
    }
}
