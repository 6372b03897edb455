//! The `[hooks.NAME]` tables: the person's own commands run at fixed points of a session.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hooks by name. Tables merge by name across config layers, so a trusted project's hooks run beside the
/// user's; an untrusted project's are ignored.
pub type HooksConfig = BTreeMap<String, HookConfig>;

/// When a hook runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum HookEvent {
    /// Before a tool runs (an edit, a command, a read, an MCP call); may block it with a reason the model sees.
    PreToolUse,
    /// After a tool ran, with its result; exit code 2 gives the model the hook's stderr.
    PostToolUse,
    /// When a task or follow-up is submitted, before planning; may block it.
    UserPromptSubmit,
    /// When a session starts or is resumed.
    SessionStart,
    /// When a session's turn ends, with its outcome.
    Stop,
    /// When tandem needs the person: an approval is waiting.
    Notification,
    /// When a role's requests move between the cloud and the local model (a fallback, or the return), with why.
    RouteChanged,
    /// When a spending cap is reached (once per session): cloud requests go to the local model from then on.
    BudgetReached,
}

impl HookEvent {
    /// Every event.
    pub const ALL: [HookEvent; 8] = [
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::UserPromptSubmit,
        HookEvent::SessionStart,
        HookEvent::Stop,
        HookEvent::Notification,
        HookEvent::RouteChanged,
        HookEvent::BudgetReached,
    ];

    /// Its name, as written in config and in the event JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PostToolUse => "PostToolUse",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::SessionStart => "SessionStart",
            HookEvent::Stop => "Stop",
            HookEvent::Notification => "Notification",
            HookEvent::RouteChanged => "RouteChanged",
            HookEvent::BudgetReached => "BudgetReached",
        }
    }
}

/// One hook: a shell command run on an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The event it runs on.
    pub event: HookEvent,
    /// For tool events: a regular expression over the tool's name, matched whole (tandem's names, `edit`,
    /// `write_file`, `run`, `read_file`, `grep`, `list_dir`, `outline`, `mcp__SERVER__TOOL`, or Claude Code's,
    /// `Edit`, `Write`, `Bash`, `Read`, `Grep`, `LS`); empty or `*` matches every tool.
    #[serde(default)]
    pub matcher: String,
    /// The command, run by `sh -c` in the workspace with the event as JSON on stdin.
    pub command: String,
    /// Seconds before the command is killed (a killed hook neither blocks nor allows); 0 means 60.
    #[serde(default)]
    pub timeout_secs: u64,
    /// Whether it runs at all.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
