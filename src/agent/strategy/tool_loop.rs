//! The tool loop: the model is given the step's brief and the executor's tools, and calls them turn by turn
//! (read, edit, run, step_done) until it says the step is done or failed. A model that only looks, or repeats
//! a call, is moved on ([`Progress`]); on the plan's last open step each applied edit is checked at once, and
//! a step_done the check contradicts goes back to the model.

use super::{Attempt, StepContext, StepStrategy};
use crate::agent::session::progress::{self, Progress, Verdict};
use crate::agent::session::{CallError, Session};
use crate::model::{ChatMessage, ChatRequest, Role};
use crate::protocol::{EventMsg, RouteRole, Step, StepStatus};
use crate::router::RouterError;
use crate::tools::{Action, ToolSet, dispatch, specs};

/// What a model told to stop looking may do next.
const ACT_NOW: &str = "Next: change the file with edit (or write_file for a new file), run a command with run, \
    or call step_done if the step is already complete, or step_failed with the reason it cannot be done.";

/// What a model that repeated a call may do next (its next reply may not look or run commands).
const CHANGE_NOW: &str = "Next: change the file with edit (or write_file for a new file), or call step_done if \
    the step is already complete, or step_failed with the reason it cannot be done.";

/// Tool turns until the model ends the step.
pub(crate) struct ToolLoop;

impl StepStrategy for ToolLoop {
    async fn attempt(&mut self, cx: &mut StepContext<'_>) -> Option<Attempt> {
        Some(turns(cx).await)
    }
}

/// The attempt's tool turns; the brief shows the files as any earlier strategy left them.
async fn turns(cx: &mut StepContext<'_>) -> Attempt {
    let files = if cx.step.files.is_empty() {
        "(none named)".to_string()
    } else {
        cx.step.files.join(", ")
    };
    let mut brief = cx.session.step_heading(cx.step, Some(&files));
    let mut progress = Progress::new(
        cx.session.cfg.profile.idle_turns,
        cx.session.cfg.profile.repeats_before_stuck,
    );
    // The files whose content is in `messages`: the router keeps the request local when one is sensitive.
    // The brief opens with the task, and with it any file an `@path` mention attached.
    let mut sources: Vec<String> =
        crate::agent::session::sources::sources_in_task(&cx.session.ws, &cx.session.cfg.task);
    brief.push_str(&named_files(
        cx.session,
        cx.step,
        &mut progress,
        &mut sources,
    ));
    brief.push_str(&cx.session.step_notes(cx.previous_failure));
    let mut messages = vec![
        ChatMessage::system(cx.session.cfg.executor_prompt.trim()),
        ChatMessage::user(brief),
    ];
    let mut nudged = false;
    for _turn in 0..cx.session.cfg.agent.max_step_turns {
        cx.session.drain_ops();
        if cx.session.interrupted {
            return Attempt::Interrupted;
        }
        compact(
            &mut messages,
            cx.session.cfg.profile.step_context_chars as usize,
        );
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
            tools.extend(cx.session.mcp.specs());
        }
        let request = ChatRequest {
            messages: messages.clone(),
            tools,
            tool_choice: crate::model::ToolChoice::Required,
            max_tokens: cx.session.router.max_tokens(RouteRole::Executor),
            stable_prefix: 2,
            sources: sources.clone(),
            // A retry (another attempt, or a later round) samples: with the same prompt a greedy model
            // would repeat the attempt that failed, token for token.
            temperature: (cx.previous_failure.is_some() || cx.session.round > 1)
                .then_some(cx.session.cfg.profile.retry_temperature as f32),
            ..ChatRequest::default()
        };
        let response = match cx
            .session
            .call(RouteRole::Executor, cx.escalated, &request)
            .await
        {
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
            cx.session.tool_call_started(Some(cx.step.id), &call);
            if let Verdict::Repeat(text) = progress.check(&call.name, &call.arguments, CHANGE_NOW) {
                cx.session
                    .tool_call_finished(Some(cx.step.id), call, false, &text, &mut messages);
                if let Some(summary) = cx.checked_done() {
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
            if looks && let Some(reason) = cx.session.before_tool(&call.name, input.clone()).await {
                progress.record(&call.name, &call.arguments, false, &reason);
                cx.session.tool_call_finished(
                    Some(cx.step.id),
                    call,
                    false,
                    &reason,
                    &mut messages,
                );
                continue;
            }
            if crate::mcp::names::is_mcp(&call.name) {
                let (ok, text) = cx.session.call_mcp(&call, &mut sources).await;
                let text = cx.session.after_tool(&call.name, input, ok, text).await;
                // Like a command, a call counts as acting: its result is new information.
                acted = true;
                progress.record(&call.name, &call.arguments, ok, &text);
                cx.session
                    .tool_call_finished(Some(cx.step.id), call, ok, &text, &mut messages);
                if cx.session.interrupted {
                    return Attempt::Interrupted;
                }
                continue;
            }
            let changes = matches!(call.name.as_str(), "edit" | "write_file" | "run");
            let (ok, text) = match dispatch(
                &cx.session.ws,
                ToolSet::Executor,
                &call.name,
                &call.arguments,
            ) {
                Action::Output(text) => (true, text),
                Action::Failed(text) => (false, text),
                Action::Propose { path, old, new } => {
                    let (ok, mut text) = cx.session.propose(path, old, new).await;
                    // On the plan's last open step each applied edit is checked at once (as aider's
                    // auto-test does), so the model sees whether its change worked before it goes on.
                    if ok && let Some(verdict) = cx.spend_check().await {
                        match verdict {
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
                Action::Run(command) => cx.session.run_command(command).await,
                Action::Finish { status, summary }
                    if status == StepStatus::Done
                        && cx.checks_left > 0
                        && cx.session.checked != Some((cx.session.changes, None))
                        && let Some(Some(Err(report))) = cx.spend_check().await =>
                {
                    tracing::info!(step = cx.step.id, %summary, "step_done, but the check fails");
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
                    cx.session.emit(EventMsg::ToolResult {
                        step: Some(cx.step.id),
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
                Action::SubmitPlan(_) => (false, "submit_plan is the planner's tool".to_string()),
            };
            let text = if looks {
                cx.session.after_tool(&call.name, input, ok, text).await
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
            for path in crate::agent::session::sources::sources_of(&cx.session.ws, &call, &text) {
                if !sources.contains(&path) {
                    sources.push(path);
                }
            }
            cx.session
                .tool_call_finished(Some(cx.step.id), call, ok, &text, &mut messages);
            if cx.session.interrupted {
                return Attempt::Interrupted;
            }
        }
        progress.end_turn(acted);
        if let Some(call) = progress.stuck() {
            if let Some(summary) = cx.checked_done() {
                return Attempt::Done(summary);
            }
            return Attempt::Failed(format!(
                "the model kept repeating `{call}` with nothing changed since it was answered"
            ));
        }
    }
    if let Some(summary) = cx.checked_done() {
        return Attempt::Done(summary);
    }
    Attempt::Failed(format!(
        "the step was not finished within {} model turns",
        cx.session.cfg.agent.max_step_turns
    ))
}

/// The text of the files `step` names, for its brief (each through the path policy, as `read_file` shows
/// it), recorded in `progress` as read and in `sources` as carried.
fn named_files(
    session: &Session,
    step: &Step,
    progress: &mut Progress,
    sources: &mut Vec<String>,
) -> String {
    let mut out = String::new();
    for path in &step.files {
        let args = serde_json::json!({ "path": path }).to_string();
        let Action::Output(text) = dispatch(&session.ws, ToolSet::Executor, "read_file", &args)
        else {
            continue;
        };
        let section = format!("\n\nContents of {path}:\n{text}");
        if out.len() + section.len() > session.cfg.profile.brief_files_chars as usize {
            continue;
        }
        out.push_str(&section);
        progress.already_seen("read_file", &args);
        session.add_sources(path, sources);
    }
    out
}

/// Drops the content of older tool results once the conversation is over budget (the newest stay).
fn compact(messages: &mut [ChatMessage], budget: usize) {
    let size = |ms: &[ChatMessage]| ms.iter().map(|m| m.content.len()).sum::<usize>();
    let mut total = size(messages);
    let keep = messages.len().saturating_sub(2);
    for m in messages[..keep].iter_mut() {
        if total <= budget {
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
