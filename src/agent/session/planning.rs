//! The planner's turn: read-only tools until it submits a plan.

use super::progress::{self, Progress, Verdict};
use super::{CallError, Session};
use crate::model::{ChatMessage, ChatRequest};
use crate::protocol::{EventMsg, Plan, RouteRole};
use crate::router::RouterError;
use crate::tools::{Action, ToolSet, dispatch, specs};

/// Characters of repository overview the planner gets.
pub const OVERVIEW_BUDGET: usize = 12_000;

/// The plan's shape in words, for the message that asks for it as JSON (an example would be copied by small
/// models).
const PLAN_SHAPE: &str = "a one-line `summary` and `steps`, each with `id`, `goal`, `files`, `done_when` and `changes_tests`";

/// What a planner told to stop looking does next.
const PLAN_NOW: &str = "Call submit_plan now with the plan, naming the files each step changes.";

impl Session {
    /// Asks the planner for a plan (`revision`: why the last one is being revised).
    pub(crate) async fn plan_turn(&mut self, revision: Option<String>) -> Result<Plan, CallError> {
        let router = self.router.clone();
        let root = self.ws.root().to_path_buf();
        // The map is personalised towards what the task and the current plan mention; it is built off the
        // async threads (a large repository's first map parses thousands of files).
        let mut focus = self.cfg.task.clone();
        if let Some(plan) = &self.plan {
            focus.push('\n');
            focus.push_str(&self.plan_with_status(plan));
        }
        let overview = tokio::task::spawn_blocking(move || {
            crate::repomap::overview(&root, &focus, OVERVIEW_BUDGET, &|p| {
                !router.is_sensitive_path(p)
            })
        })
        .await
        .unwrap_or_else(|e| crate::repomap::Overview {
            text: format!("(no repository map: {e})"),
            inlined: Vec::new(),
            complete: false,
        });
        let history = self.conversation_so_far();
        if revision.is_none()
            && history.is_empty()
            && let Some(plan) = self.direct_plan(&overview)
        {
            return Ok(plan);
        }
        let mut messages = vec![ChatMessage::system(self.cfg.planner_prompt.trim())];
        if let Some(instructions) = &self.cfg.instructions {
            messages.push(ChatMessage::user(format!(
                "Project instructions:\n{instructions}"
            )));
        }
        // The earlier turns come before the map: they only grow from turn to turn (until a compaction), while
        // the map is personalised to each task, so the local model's KV cache keeps them as a prefix.
        let task_label = if history.is_empty() {
            "Task"
        } else {
            messages.push(ChatMessage::user(history));
            "Follow-up task (plan it with the earlier turns in mind)"
        };
        messages.push(ChatMessage::user(format!(
            "Repository overview:\n{}",
            overview.text.trim()
        )));
        let stable_prefix = messages.len();
        messages.push(ChatMessage::user(format!(
            "{task_label}: {}",
            self.cfg.task.trim()
        )));
        if let Some(reason) = revision {
            let previous = self
                .plan
                .as_ref()
                .map(|p| self.plan_with_status(p))
                .unwrap_or_default();
            messages.push(ChatMessage::user(format!(
                "The previous plan was:\n{previous}\n{reason}\n\nRevise the plan: plan only what is still needed to finish the task."
            )));
        }
        let mut sources = overview.inlined;
        // Files an `@path` mention attached to the task travel in every request.
        for path in super::sources::sources_in_task(&self.ws, &self.cfg.task) {
            if !sources.contains(&path) {
                sources.push(path);
            }
        }
        // With every file already in the overview, reading tools only cost turns: the planner plans at once.
        let everything_shown = overview.complete;
        // Reading is the planner's work, so only a repeated look (or the last turn) makes it submit.
        let turns = self.cfg.agent.max_planner_turns;
        let mut progress = Progress::new(turns.saturating_sub(1), progress::REPEATS_BEFORE_STUCK);
        for turn in 0..turns {
            let tools = if progress.must_act() {
                progress::acting_tools(specs(ToolSet::Planner))
            } else {
                // With every file shown, the repository tools can only repeat it; MCP tools reach beyond it.
                let mut tools = if everything_shown {
                    progress::acting_tools(specs(ToolSet::Planner))
                } else {
                    specs(ToolSet::Planner)
                };
                tools.extend(self.mcp.specs());
                tools
            };
            let request = ChatRequest {
                messages: messages.clone(),
                tools,
                tool_choice: crate::model::ToolChoice::Required,
                max_tokens: self.router.max_tokens(RouteRole::Planner),
                stable_prefix,
                sources: sources.clone(),
                ..ChatRequest::default()
            };
            let routed = self.call(RouteRole::Planner, false, &request).await?;
            let response = routed.response;
            if response.tool_calls.is_empty() {
                progress.end_turn(false);
                match Plan::parse(&response.text) {
                    Ok(plan) => return Ok(plan),
                    // Cut off by the output cap (a tool call too long for it): the server does call tools, so
                    // it is asked again the same way.
                    Err(e) if response.finish == Some(crate::model::FinishReason::Length) => {
                        messages.push(ChatMessage::assistant(response.text));
                        messages.push(ChatMessage::user(format!(
                            "That was cut off ({e}). Call submit_plan with a shorter plan."
                        )));
                        continue;
                    }
                    Err(e) => {
                        // A text reply to a required tool call: the server's chat template does not do tools
                        // (llama-server) or a proxy dropped tool_choice. Asking the same way again gets the
                        // same, so the plan is asked for under its JSON schema at once.
                        tracing::info!(turn, error = %e, "the planner answered without a tool call; asking for the plan as JSON");
                        if !response.text.trim().is_empty() {
                            messages.push(ChatMessage::assistant(response.text));
                        }
                        break;
                    }
                }
            }
            let mut assistant = ChatMessage::assistant(response.text.clone());
            assistant.tool_calls = response.tool_calls.clone();
            assistant.verbatim = response.verbatim.clone();
            messages.push(assistant);
            for call in response.tool_calls {
                self.tool_call_started(None, &call);
                if let Verdict::Repeat(text) = progress.check(&call.name, &call.arguments, PLAN_NOW)
                {
                    self.tool_call_finished(None, call, false, &text, &mut messages);
                    continue;
                }
                if crate::mcp::names::is_mcp(&call.name) {
                    let (ok, text) = self.call_mcp(&call, &mut sources).await;
                    progress.record(&call.name, &call.arguments, ok, &text);
                    self.tool_call_finished(None, call, ok, &text, &mut messages);
                    if self.interrupted {
                        return Err(CallError::Interrupted);
                    }
                    continue;
                }
                let action = dispatch(&self.ws, ToolSet::Planner, &call.name, &call.arguments);
                let (ok, text) = match action {
                    Action::SubmitPlan(plan) => {
                        self.emit(EventMsg::ToolResult {
                            step: None,
                            call_id: call.id,
                            tool: call.name,
                            ok: true,
                            output: "plan received".into(),
                        });
                        return Ok(plan);
                    }
                    Action::Output(text) => (true, text),
                    Action::Failed(text) => (false, text),
                    other => (false, format!("{other:?} is not available to the planner")),
                };
                for path in super::sources::sources_of(&self.ws, &call, &text) {
                    if !sources.contains(&path) {
                        sources.push(path);
                    }
                }
                progress.record(&call.name, &call.arguments, ok, &text);
                self.tool_call_finished(None, call, ok, &text, &mut messages);
            }
            progress.end_turn(false);
            tracing::debug!(turn, "planner turn");
        }
        // Out of turns, or the server does not call tools: ask for the plan itself, under the plan's schema. The
        // shape is also spelled out in the message, for servers that ignore response_format or a forced tool.
        messages.push(ChatMessage::user(format!(
            "Submit the plan now, as one JSON object with {PLAN_SHAPE}."
        )));
        let mut last_error = String::new();
        for attempt in 0..2u32 {
            if attempt > 0 {
                messages.push(ChatMessage::user(format!(
                    "That plan is not usable: {last_error}. Send the whole plan again as JSON with only that fixed."
                )));
            }
            let request = ChatRequest {
                messages: messages.clone(),
                max_tokens: self.router.max_tokens(RouteRole::Planner),
                json_schema: Some(Plan::json_schema()),
                temperature: (attempt > 0).then_some(0.4),
                stable_prefix,
                sources: sources.clone(),
                ..ChatRequest::default()
            };
            let routed = self.call(RouteRole::Planner, false, &request).await?;
            match Plan::parse(&routed.response.text) {
                Ok(plan) => return Ok(plan),
                Err(e) => {
                    last_error = e.to_string();
                    if !routed.response.text.trim().is_empty() {
                        messages.push(ChatMessage::assistant(routed.response.text));
                    }
                }
            }
        }
        Err(CallError::Router(RouterError::Provider {
            provider: "planner".into(),
            error: crate::model::ProviderError::BadResponse(format!(
                "no usable plan: {last_error}"
            )),
        }))
    }

    /// The first plan of a session, made without a model call where a model would only restate the task:
    /// planner and executor both run on the local model, the overview shows every file of the repository, no
    /// MCP tool reaches beyond it, a plan was not asked for by itself (`--plan-only`), and the code files fit one
    /// whole-file step (the profile's `whole_file_chars`). The one step is the task over those files; a failed step is
    /// re-planned by the model as usual. On a CPU a local planner's call costs a minute or more, and for a
    /// repository this small its plan was the task restated (eval runs 4–6).
    fn direct_plan(&self, overview: &crate::repomap::Overview) -> Option<Plan> {
        if self.cfg.plan_only
            || !overview.complete
            || !self.router.plans_locally()
            || !self.mcp.specs().is_empty()
            || self.cfg.task.trim().is_empty()
        {
            return None;
        }
        let code: Vec<String> = overview
            .inlined
            .iter()
            .filter(|p| crate::repomap::tags::Lang::of(std::path::Path::new(p)).is_some())
            .cloned()
            .collect();
        // A repository of no code the map knows (a docs or config task): its text files are the step's files.
        let files = if code.is_empty() {
            overview.inlined.clone()
        } else {
            code
        };
        if files.is_empty() {
            return None;
        }
        let count = files.len();
        let step = crate::protocol::Step {
            id: 1,
            goal: self.cfg.task.trim().to_string(),
            files,
            done_when: "The task is done and the project's check passes.".into(),
            // No model decided that tests may change, so they may not (new test files may still be written);
            // a step refused for it is re-planned by the model, which decides.
            changes_tests: false,
        };
        // Only a step the whole-file request will take (local executor, within the profile's whole_file_chars and one
        // reply): otherwise the planner's choice of files is worth its call.
        self.whole_file_targets(&step, false)?;
        tracing::info!(files = ?step.files, "planned without a model call");
        Some(Plan {
            summary: format!(
                "The task as one step over the repository's {count} file{} (a repository this small is planned without a model call)",
                if count == 1 { "" } else { "s" }
            ),
            steps: vec![step],
        })
    }

    /// The plan as Markdown, each step marked done (✓) or failed (✗).
    pub(crate) fn plan_with_status(&self, plan: &Plan) -> String {
        let mut out = format!("{}\n", plan.summary);
        for step in &plan.steps {
            let mark = match self.steps.get(&step.id) {
                Some((crate::protocol::StepStatus::Done, _)) => "✓",
                Some((crate::protocol::StepStatus::Failed, _)) => "✗",
                None => " ",
            };
            out.push_str(&format!(
                "[{mark}] {}. {} (done when: {})\n",
                step.id,
                self.goal_words(step),
                step.done_when
            ));
        }
        out
    }

    /// A step's goal as a brief names it: the task itself, where a plan made without a model call took it
    /// whole, is named rather than repeated (every brief states the task first; a long task said three times
    /// tripled the prompt).
    pub(crate) fn goal_words<'a>(&self, step: &'a crate::protocol::Step) -> &'a str {
        if step.goal.trim() == self.cfg.task.trim() {
            "the task, as a whole"
        } else {
            &step.goal
        }
    }
}
