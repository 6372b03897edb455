//! Executing a step: tool turns on the executor's route, retried, then escalated to the planner's provider.

use super::{CallError, Session};
use crate::model::{ChatMessage, ChatRequest, Role};
use crate::protocol::{EventMsg, RouteRole, Step, StepStatus};
use crate::tools::{Action, ToolSet, dispatch, specs};

/// Characters of conversation a step keeps before old tool output is dropped.
const STEP_CONTEXT_BUDGET: usize = 24_000;

/// How one attempt at a step ended.
enum Attempt {
    Done(String),
    Failed(String),
    Interrupted,
}

impl Session {
    /// Runs a step to done; `Err(Some(reason))` when it failed every attempt, `Err(None)` when interrupted.
    pub(crate) async fn execute_step(&mut self, step: &Step) -> Result<(), Option<String>> {
        let attempts = self.cfg.agent.max_step_attempts;
        let mut last_failure: Option<String> = None;
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
            match self
                .attempt_step(step, escalated, last_failure.as_deref())
                .await
            {
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
        let plan = self
            .plan
            .as_ref()
            .map(|p| self.plan_with_status(p))
            .unwrap_or_default();
        let files = if step.files.is_empty() {
            "(none named)".to_string()
        } else {
            step.files.join(", ")
        };
        let mut brief = format!(
            "Task: {}\n\nPlan:\n{plan}\nYour step: {}. {}\nFiles: {files}\nDone when: {}",
            self.cfg.task.trim(),
            step.id,
            step.goal,
            step.done_when
        );
        if let Some(reason) = previous_failure {
            brief.push_str(&format!(
                "\n\nAn earlier attempt at this step failed: {reason}\nTry a different approach."
            ));
        }
        let mut messages = vec![
            ChatMessage::system(self.cfg.executor_prompt.trim()),
            ChatMessage::user(brief),
        ];
        // The files whose content is in `messages`: the router keeps the request local when one is sensitive.
        let mut sources: Vec<String> = Vec::new();
        for _turn in 0..self.cfg.agent.max_step_turns {
            self.drain_ops();
            if self.interrupted {
                return Attempt::Interrupted;
            }
            compact(&mut messages);
            let request = ChatRequest {
                messages: messages.clone(),
                tools: specs(ToolSet::Executor),
                tool_choice: crate::model::ToolChoice::Required,
                max_tokens: self.cfg.max_tokens,
                stable_prefix: 2,
                sources: sources.clone(),
                ..ChatRequest::default()
            };
            let response = match self.call(RouteRole::Executor, escalated, &request).await {
                Ok(routed) => routed.response,
                Err(CallError::Interrupted) => return Attempt::Interrupted,
                Err(CallError::Router(e)) => {
                    return Attempt::Failed(format!("the model could not be reached: {e}"));
                }
            };
            if response.tool_calls.is_empty() {
                messages.push(ChatMessage::assistant(response.text));
                messages.push(ChatMessage::user(
                    "Reply with exactly one tool call. When the step is complete, call step_done.",
                ));
                continue;
            }
            let mut assistant = ChatMessage::assistant(response.text.clone());
            assistant.tool_calls = response.tool_calls.clone();
            messages.push(assistant);
            for call in response.tool_calls {
                self.tool_call_started(Some(step.id), &call);
                let (ok, text) =
                    match dispatch(&self.ws, ToolSet::Executor, &call.name, &call.arguments) {
                        Action::Output(text) => (true, text),
                        Action::Failed(text) => (false, text),
                        Action::Propose { path, old, new } => self.propose(path, old, new).await,
                        Action::Run(command) => self.run_command(command).await,
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
        }
        Attempt::Failed(format!(
            "the step was not finished within {} model turns",
            self.cfg.agent.max_step_turns
        ))
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
