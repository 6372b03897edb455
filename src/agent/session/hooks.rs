//! Where a session runs the person's hooks ([`crate::hooks`]): around every tool (edits and commands on every
//! path, reads and MCP calls in the tool loop), when the task is submitted, at the start and at the end.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Session;
use crate::agent::transcript::transcript_path;
use crate::config::HookEvent;
use crate::hooks::{Hooks, payload};
use crate::protocol::EventMsg;
use crate::protocol::{RouteDecision, RouteReason};

/// Where each role's requests went last, to see them move between the cloud and the local model.
#[derive(Debug, Default)]
pub(crate) struct RouteWatch {
    last: std::collections::BTreeMap<String, (String, bool)>,
    budget_reported: bool,
}

impl Session {
    /// `RouteChanged` for each decision that moved a role between the cloud and the local model, and
    /// `BudgetReached` the first time a cap sent a request local.
    pub(crate) async fn route_hooks(&mut self, decisions: Vec<RouteDecision>) {
        for d in decisions {
            let role = d.role.as_str().to_string();
            let now = (d.provider.clone(), d.is_local());
            let before = self.routes.last.insert(role.clone(), now.clone());
            let reason = serde_json::to_value(&d.reason).unwrap_or(Value::Null);
            if let Some((from, was_local)) = before
                && was_local != now.1
            {
                let fields = json!({
                    "role": role,
                    "from": from,
                    "to": d.provider,
                    "to_local": now.1,
                    "model": d.model,
                    "reason": reason,
                });
                self.hooks(HookEvent::RouteChanged, None, fields).await;
            }
            if let RouteReason::BudgetSpent {
                scope,
                spent_usd,
                cap_usd,
            } = &d.reason
                && !self.routes.budget_reported
            {
                self.routes.budget_reported = true;
                let fields = json!({
                    "role": role,
                    "scope": scope,
                    "spent_usd": spent_usd,
                    "cap_usd": cap_usd,
                });
                self.hooks(HookEvent::BudgetReached, None, fields).await;
            }
        }
    }

    /// Adds what `SessionStart` and `UserPromptSubmit` hooks said to the context the planner reads (beside the
    /// project's instructions).
    pub(crate) fn add_hook_context(&mut self, context: Vec<String>) {
        if context.is_empty() {
            return;
        }
        let added = format!("Context from the person's hooks:\n{}", context.join("\n"));
        self.cfg.instructions = Some(match self.cfg.instructions.take() {
            Some(instructions) => format!("{instructions}\n\n{added}"),
            None => added,
        });
    }

    /// `Notification`: tandem waits for the person.
    pub(crate) async fn notify(&mut self, message: String) {
        let fields = json!({"message": message});
        self.hooks(HookEvent::Notification, None, fields).await;
    }

    /// The session with these hooks in force.
    pub fn with_hooks(mut self, hooks: Arc<Hooks>) -> Session {
        self.hooks = hooks;
        self
    }

    /// Runs the hooks for `event`, reporting each run as an event; returns why one blocks, and what those that
    /// gave some said for the model (a `PostToolUse` hook's feedback, a `SessionStart` or `UserPromptSubmit`
    /// hook's context).
    pub(crate) async fn hooks(
        &mut self,
        event: HookEvent,
        tool: Option<&str>,
        fields: Value,
    ) -> (Option<String>, Vec<String>) {
        if !self.hooks.any(event, tool) {
            return (None, Vec::new());
        }
        let root = self.ws.root().to_path_buf();
        let input = payload(
            &self.cfg.id,
            &transcript_path(&root, &self.cfg.id),
            &root,
            event,
            fields,
        );
        let hooks = self.hooks.clone();
        let runs = hooks.run(event, tool, &input, &root).await;
        let mut blocked = None;
        let mut feedback = Vec::new();
        for ran in runs {
            let mut output = ran.stdout.trim_end().to_string();
            if !ran.stderr.trim().is_empty() {
                if !output.is_empty() {
                    output.push('\n');
                }
                output.push_str(ran.stderr.trim_end());
            }
            self.emit(EventMsg::HookRan {
                hook: ran.name.clone(),
                event: event.as_str().to_string(),
                tool: tool.map(str::to_string),
                exit_code: ran.exit,
                timed_out: ran.timed_out,
                blocked: ran.blocked.clone(),
                output: crate::agent::session::head(&output, 2_000),
            });
            if ran.timed_out {
                self.emit(EventMsg::Warning {
                    message: format!(
                        "the hook `{}` ran past its timeout and was stopped",
                        ran.name
                    ),
                });
            }
            if let Some(text) = ran.feedback {
                feedback.push(format!("The hook `{}` says: {text}", ran.name));
            }
            if let Some(text) = ran.context {
                feedback.push(text);
            }
            if let Some(reason) = ran.blocked {
                blocked = Some(format!("Blocked by the hook `{}`: {reason}", ran.name));
            }
        }
        (blocked, feedback)
    }

    /// `PreToolUse` for `tool` with `input`: why a hook blocks it, if one does.
    pub(crate) async fn before_tool(&mut self, tool: &str, input: Value) -> Option<String> {
        let fields = json!({"tool_name": tool, "tool_input": input});
        self.hooks(HookEvent::PreToolUse, Some(tool), fields)
            .await
            .0
    }

    /// `PostToolUse` for `tool`: `text` (the result the model gets) with any hook's feedback after it.
    pub(crate) async fn after_tool(
        &mut self,
        tool: &str,
        input: Value,
        ok: bool,
        text: String,
    ) -> String {
        let fields = json!({
            "tool_name": tool,
            "tool_input": input,
            "tool_response": {"ok": ok, "output": crate::agent::session::head(&text, 8_000)},
        });
        let (_, feedback) = self.hooks(HookEvent::PostToolUse, Some(tool), fields).await;
        if feedback.is_empty() {
            return text;
        }
        format!("{text}\n{}", feedback.join("\n"))
    }

    /// The tool input hooks see for an edit of `path` (Claude Code's scripts read `file_path`).
    pub(crate) fn edit_input(&self, path: &str) -> Value {
        json!({"path": path, "file_path": self.ws.root().join(path)})
    }
}
