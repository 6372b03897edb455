//! The session's stream: `Event`s out to every front end (TUI, `exec --json`, the transcript), `Op`s in.

use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::route::{RouteDecision, RouteRole};

/// Tokens a request used, split the way providers bill them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens billed at the full rate (not read from a cache).
    pub input_tokens: u64,
    /// Input tokens read from the provider's prompt cache (or the local KV cache).
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// All input tokens, however billed.
    pub fn total_input(&self) -> u64 {
        self.input_tokens + self.cached_input_tokens + self.cache_write_tokens
    }

    /// Adds another request's usage.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// One thing that happened in a session, numbered in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the session (from 1, continuing across resumes).
    pub seq: u64,
    /// Unix time in milliseconds.
    pub ts_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub msg: EventMsg,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Its done-when holds.
    Done,
    /// It could not be done.
    Failed,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step done and the verify command passed (or there is none).
    Done,
    /// The steps ran but verification still fails after the last re-plan.
    VerifyFailed,
    /// The work could not go on (no usable plan, no provider).
    Failed,
    /// Interrupted by the user.
    Interrupted,
    /// Only a plan was made (`--plan-only`).
    Planned,
    /// The steps ran, but nothing changed and no check was found to show the task was already done.
    Unverified,
}

/// One hunk of a proposed edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HunkSummary {
    /// 0-based position in the edit.
    pub index: usize,
    /// The `@@ -a,b +c,d @@` line.
    pub header: String,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

/// A change to one file, shown before it is applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EditProposal {
    /// The edit's id in the session.
    pub id: u64,
    /// Workspace-relative path.
    pub path: String,
    /// Whether the file is new.
    pub new_file: bool,
    /// The unified diff.
    pub diff: String,
    /// Its hunks.
    pub hunks: Vec<HunkSummary>,
    /// The file's text before and after, for front ends that show a diff themselves (ACP clients); not in the
    /// JSON events or the transcript, which carry `diff`.
    #[serde(skip)]
    pub texts: Option<std::sync::Arc<(Option<String>, String)>>,
}

/// Two proposals are the same edit when what is recorded of them is: the texts carried beside (in-process
/// only) are not part of the event, so an event read back from a transcript equals the one emitted.
impl PartialEq for EditProposal {
    fn eq(&self, other: &Self) -> bool {
        (self.id, &self.path, self.new_file, &self.diff, &self.hunks)
            == (
                other.id,
                &other.path,
                other.new_file,
                &other.diff,
                &other.hunks,
            )
    }
}

impl Eq for EditProposal {}

/// What needs the user's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Applying an edit (accept all, some hunks, or none).
    Edit {
        /// The edit.
        edit: u64,
        /// Its file.
        path: String,
        /// Whether hunks may be chosen one by one.
        per_hunk: bool,
    },
    /// Running a command.
    Command {
        /// The command line.
        command: String,
        /// Why it needs approval.
        reason: String,
    },
}

/// The user's answer to an approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Yes, all of it.
    Accept,
    /// Only these hunks (by index).
    AcceptHunks {
        /// The hunks to apply.
        hunks: Vec<usize>,
    },
    /// No.
    Reject {
        /// Why, passed on to the model.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// What a session ended with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Files changed (workspace-relative).
    pub changed_files: Vec<String>,
    /// Whether the verify command passed (`None`: there was no check to run).
    pub verify_passed: Option<bool>,
    /// What was verified, in words: the last check's result and where its command came from, or why there was
    /// none.
    #[serde(default)]
    pub verified: String,
    /// USD spent in this session.
    pub usd: f64,
    /// USD saved by local execution.
    pub saved_usd: f64,
    /// Tokens used, all roles.
    pub usage: Usage,
}

/// What happens to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandVerdict {
    /// Run it.
    Run,
    /// Ask a person.
    Ask,
    /// Do not run it.
    Refuse,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventMsg {
    /// A session began (or was resumed).
    SessionStarted {
        /// Session id.
        session: String,
        /// The workspace root.
        workspace: String,
        /// The task.
        task: String,
        /// Whether this continues an earlier run.
        resumed: bool,
    },
    /// A request was routed.
    Route {
        /// Where and why.
        decision: RouteDecision,
    },
    /// A provider failed a request (the router may fall back).
    ProviderFailed {
        /// The provider.
        provider: String,
        /// What went wrong.
        error: String,
    },
    /// Streamed model text.
    Text {
        /// Whose.
        role: RouteRole,
        /// The new text.
        text: String,
    },
    /// Text streamed so far for this request is void (its provider failed; it starts again).
    TextRestart {
        /// Whose.
        role: RouteRole,
    },
    /// A plan (first, or revised after a failed verification).
    PlanReady {
        /// The plan.
        plan: Plan,
        /// 1 for the first plan, then each re-plan.
        round: u32,
    },
    /// A step began.
    StepStarted {
        /// Step id.
        step: u32,
        /// Its goal.
        goal: String,
        /// 1 for the first try.
        attempt: u32,
    },
    /// A step ended.
    StepFinished {
        /// Step id.
        step: u32,
        /// How.
        status: StepStatus,
        /// The model's summary or the failure's reason.
        summary: String,
    },
    /// A failed step goes to the planner's provider.
    Escalated {
        /// Step id.
        step: u32,
        /// Why.
        reason: String,
    },
    /// A model called a tool.
    ToolCall {
        /// The step, if executing.
        step: Option<u32>,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// Its arguments.
        arguments: serde_json::Value,
    },
    /// A tool's result.
    ToolResult {
        /// The step, if executing.
        step: Option<u32>,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// Whether it succeeded.
        ok: bool,
        /// What it returned (shortened for display).
        output: String,
    },
    /// An edit is proposed.
    EditProposed {
        /// The proposal.
        edit: EditProposal,
    },
    /// The session waits for the user.
    ApprovalRequested {
        /// Request id (answer with `Op::Approve`).
        request: u64,
        /// What to approve.
        kind: ApprovalKind,
    },
    /// An approval was answered (by the user or the policy).
    ApprovalDecided {
        /// Request id.
        request: u64,
        /// The answer.
        decision: ApprovalDecision,
        /// `user` or the policy that decided.
        by: String,
    },
    /// An edit was written.
    EditApplied {
        /// The edit.
        edit: u64,
        /// Its file.
        path: String,
        /// Hunks applied.
        hunks: Vec<usize>,
        /// The checkpoint that undoes it.
        checkpoint: u64,
    },
    /// An edit was not applied.
    EditRejected {
        /// The edit.
        edit: u64,
        /// Its file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A checkpoint was undone.
    Undone {
        /// The checkpoint.
        checkpoint: u64,
        /// Files restored or removed.
        files: Vec<String>,
    },
    /// The verify command started.
    VerifyStarted {
        /// The command.
        command: String,
    },
    /// The verify command ended.
    VerifyFinished {
        /// The command.
        command: String,
        /// Whether it passed: tests ran and none failed (a run of no test never passes).
        passed: bool,
        /// Its exit code.
        exit_code: Option<i32>,
        /// The end of its output.
        output: String,
        /// What the run showed: the runner, tests passed and failed, and the verdict (`not_run` when no test
        /// was executed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<crate::agent::check::CheckReport>,
        /// Where the command came from (the config, the task, the instructions, or detected).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<crate::agent::check::CheckSource>,
        /// What was verified, in words (`3 tests passed (unittest)`, `no test was run …`).
        #[serde(default)]
        verified: String,
    },
    /// The planner is asked for a revised plan.
    Replanning {
        /// The new round's number.
        round: u32,
        /// Why.
        reason: String,
    },
    /// A request's usage and cost.
    Usage {
        /// The role.
        role: RouteRole,
        /// The provider.
        provider: String,
        /// The model.
        model: String,
        /// Tokens.
        usage: Usage,
        /// USD (`None`: unpriced).
        usd: Option<f64>,
        /// USD saved (local requests).
        saved_usd: Option<f64>,
        /// Session totals so far.
        session_usd: f64,
        /// Session savings so far.
        session_saved_usd: f64,
    },
    /// What the command policy decided about a model-requested command, and why.
    CommandDecided {
        /// The command.
        command: String,
        /// `run`, `ask` or `refuse`.
        verdict: CommandVerdict,
        /// Why (the rule, the policy, or what made it need approval).
        reason: String,
    },
    /// One of the person's hooks ran.
    HookRan {
        /// Its name (`[hooks.NAME]`).
        hook: String,
        /// The event it ran on (`PreToolUse`, `PostToolUse`, `UserPromptSubmit`, `SessionStart`, `Stop`,
        /// `Notification`, `RouteChanged`, `BudgetReached`).
        event: String,
        /// The tool, for a tool event.
        tool: Option<String>,
        /// Its exit code (`None`: it was killed).
        exit_code: Option<i32>,
        /// Whether it ran past its timeout.
        timed_out: bool,
        /// Why it blocked what it ran before, if it did.
        blocked: Option<String>,
        /// Its stdout, then its stderr (shortened).
        output: String,
    },
    /// Something the user should know; the work goes on.
    Warning {
        /// The message.
        message: String,
    },
    /// Something failed.
    Error {
        /// The message.
        message: String,
    },
    /// Earlier turns of the conversation were shortened into a summary (by `/compact`, or before they
    /// would crowd the planner's context); later turns are planned with the summary instead.
    Compacted {
        /// The summary that replaces them.
        summary: String,
        /// How many turns it covers (this compaction's).
        turns: u32,
    },
    /// The session ended.
    SessionFinished {
        /// How.
        outcome: Outcome,
        /// What it did and cost.
        summary: Summary,
    },
}

/// What a front end asks of a running session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Answers an approval request.
    Approve {
        /// The request.
        request: u64,
        /// The answer.
        decision: ApprovalDecision,
    },
    /// Undoes the last applied checkpoint.
    Undo,
    /// Stops the session after the current step's edit is finished or rolled back.
    Interrupt,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn events_serialize_flat_with_a_type_tag_and_round_trip() {
        let e = Event {
            seq: 3,
            ts_ms: 1000,
            msg: EventMsg::StepFinished {
                step: 2,
                status: StepStatus::Done,
                summary: "ok".into(),
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq": 3, "ts_ms": 1000, "type": "step_finished", "step": 2, "status": "done", "summary": "ok"})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
        let op: Op = serde_json::from_str(r#"{"type":"approve","request":4,"decision":{"decision":"accept_hunks","hunks":[0,2]}}"#).unwrap();
        assert_eq!(
            op,
            Op::Approve {
                request: 4,
                decision: ApprovalDecision::AcceptHunks { hunks: vec![0, 2] }
            }
        );
    }
}

#[cfg(test)]
mod docs {
    /// Every event type in `EventMsg` is documented in docs/EVENTS.md, and nothing else is.
    #[test]
    fn docs_events_lists_every_event_type() {
        let source = include_str!("event.rs");
        let body = &source[source.find("pub enum EventMsg {").expect("EventMsg")..];
        let body = &body[..body.find("\n}\n").expect("end of EventMsg")];
        let variants: Vec<String> = body
            .lines()
            .filter_map(|l| {
                let l = l.strip_prefix("    ")?;
                let name: String = l
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                (!name.is_empty() && name.chars().next()?.is_ascii_uppercase()).then_some(name)
            })
            .map(|name| {
                let mut snake = String::new();
                for (i, c) in name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        snake.push('_');
                    }
                    snake.push(c.to_ascii_lowercase());
                }
                snake
            })
            .collect();
        let docs = include_str!("../../docs/EVENTS.md");
        let documented: Vec<String> = docs
            .lines()
            .filter_map(|l| {
                l.strip_prefix("### `")?
                    .strip_suffix('`')
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(documented, variants);
    }
}
