//! MCP tool calls in a session: approved like a command (an event says what and why), carried out by the hub,
//! and a result that holds a secret marks the conversation's sources so the router keeps it local.

use std::sync::Arc;

use super::Session;
use crate::config::Config;
use crate::mcp::{McpHub, McpSettings};
use crate::model::ToolCall;
use crate::protocol::CommandVerdict as Verdict;
use crate::protocol::{ApprovalDecision, ApprovalKind, EventMsg};
use crate::router::sensitive::FLAGGED_SOURCE;
use crate::sandbox::{CommandPolicy, Sandbox};

/// Characters of a call's arguments shown in its approval request.
const SHOWN_ARGUMENTS: usize = 600;

/// Connects the MCP servers `config` names (stdio servers in a command sandbox of their own, with the
/// session's sandbox settings); no servers, or a sandbox that cannot be made, is an empty hub with a log line.
pub async fn mcp_hub(config: &Config) -> McpHub {
    if config.values.mcp.servers.is_empty() {
        return McpHub::empty();
    }
    let settings = super::sandbox_settings(&config.values.sandbox);
    match Sandbox::new(&config.workspace, settings) {
        Ok(sandbox) => McpHub::connect(McpSettings::from_config(config), sandbox).await,
        Err(e) => {
            tracing::warn!("MCP servers not started: no sandbox for them: {e}");
            McpHub::empty()
        }
    }
}

impl Session {
    /// Uses these MCP servers' tools.
    pub fn with_mcp(mut self, hub: Arc<McpHub>) -> Session {
        self.mcp = hub;
        self
    }

    /// Asks the person about each MCP server whose tool list is new or changed, where the command policy asks
    /// (`untrusted`, `on-request`); an approval pins the list as `tandem mcp trust` does. Elsewhere, and when
    /// refused, the server's tools are withheld and a warning says how to approve them.
    pub(crate) async fn approve_mcp_servers(&mut self) {
        let asks = matches!(
            self.cfg.agent.commands,
            CommandPolicy::Untrusted | CommandPolicy::OnRequest
        );
        for (name, reason) in self.mcp.awaiting_approval() {
            let approved = asks
                && matches!(
                    self.ask(ApprovalKind::Command {
                        command: format!("tandem mcp trust {name}"),
                        reason: reason.clone(),
                    })
                    .await,
                    ApprovalDecision::Accept | ApprovalDecision::AcceptHunks { .. }
                );
            if !approved {
                self.emit(EventMsg::Warning { message: reason });
                continue;
            }
            if let Err(e) = self.mcp.pin(&name) {
                self.emit(EventMsg::Warning {
                    message: format!("MCP server `{name}`: the approval was not recorded: {e}"),
                });
            }
        }
    }

    /// Carries out a model's call of an MCP tool after the approval policy (or a person) allows it; a result
    /// holding something sensitive adds a flagged source to `sources`. Returns (ok, text for the model).
    pub(crate) async fn call_mcp(
        &mut self,
        call: &ToolCall,
        sources: &mut Vec<String>,
    ) -> (bool, String) {
        let Some(tool) = self.mcp.find(&call.name).cloned() else {
            let names: Vec<String> = self.mcp.specs().into_iter().map(|s| s.name).collect();
            return (
                false,
                format!(
                    "there is no MCP tool `{}` here; the MCP tools are: {}",
                    call.name,
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            );
        };
        let shown = super::head(call.arguments.trim(), SHOWN_ARGUMENTS);
        let label = format!("{} {}", call.name, shown);
        let decision = self.mcp.decide(&tool, self.cfg.agent.commands);
        self.emit(EventMsg::CommandDecided {
            command: label.clone(),
            verdict: decision.verdict,
            reason: decision.reason.clone(),
        });
        let refused = match decision.verdict {
            Verdict::Run => None,
            Verdict::Refuse => Some(decision.reason),
            Verdict::Ask => match self
                .ask(ApprovalKind::Command {
                    command: label,
                    reason: decision.reason.clone(),
                })
                .await
            {
                ApprovalDecision::Accept | ApprovalDecision::AcceptHunks { .. } => None,
                ApprovalDecision::Reject { reason } => {
                    Some(reason.unwrap_or_else(|| "the person refused it".into()))
                }
            },
        };
        if let Some(why) = refused {
            return (false, format!("`{}` was not called: {why}", call.name));
        }
        let hub = self.mcp.clone();
        // A stdio server runs in the workspace like a command: what it may not change is put back after.
        let guard = self.shell.snapshot();
        let mut outcome = tokio::select! {
            out = hub.call(&call.name, &call.arguments) => out,
            _ = self.interrupt.wait_for(|v| *v) => {
                self.interrupted = true;
                let note = crate::sandbox::put_back_note(&guard.restore()).unwrap_or_default();
                return (false, format!("`{}` was interrupted{note}", call.name));
            }
        };
        if let Some(note) = crate::sandbox::put_back_note(&guard.restore()) {
            outcome.text.push_str(&note);
        }
        if self.router.holds_sensitive(&outcome.text) {
            let source = format!("{FLAGGED_SOURCE}mcp:{}/{}", tool.server, tool.tool);
            if !sources.contains(&source) {
                sources.push(source);
            }
            self.emit(EventMsg::Warning {
                message: format!(
                    "the result of MCP tool `{}` of server `{}` holds sensitive data: this conversation stays on the local model",
                    tool.tool, tool.server
                ),
            });
        }
        (outcome.ok, outcome.text)
    }
}
