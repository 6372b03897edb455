//! What the session does for a tool: apply an approved edit as a checkpoint, run an approved command.

use std::time::Duration;

use super::{Session, tail};
use crate::config::ApprovalPolicy;
use crate::edit::diff;
use crate::protocol::CommandVerdict as Verdict;
use crate::protocol::{ApprovalDecision, ApprovalKind, EditProposal, EventMsg, Op};
use crate::sandbox::commands;

impl Session {
    /// Shows an edit as a diff, gets it approved (all, some hunks, or none), applies it as a checkpoint.
    /// Returns (ok, text for the model).
    pub(crate) async fn propose(
        &mut self,
        path: String,
        old: Option<String>,
        new: String,
    ) -> (bool, String) {
        // Hooks see every edit, whichever way the model wrote it: a new file as `write_file`, a change as `edit`.
        let tool = if old.is_none() { "write_file" } else { "edit" };
        let input = self.edit_input(&path);
        if let Some(reason) = self.before_tool(tool, input.clone()).await {
            return (false, reason);
        }
        let (ok, text) = self.propose_unhooked(path, old, new).await;
        let text = self.after_tool(tool, input, ok, text).await;
        (ok, text)
    }

    async fn propose_unhooked(
        &mut self,
        path: String,
        old: Option<String>,
        new: String,
    ) -> (bool, String) {
        let before = old.as_deref().unwrap_or("");
        let hunks = diff::hunks(before, &new);
        let edit = self.fresh_id();
        let proposal = EditProposal {
            id: edit,
            path: path.clone(),
            new_file: old.is_none(),
            diff: diff::unified(&path, old.as_deref(), &new),
            hunks: diff::summaries(&hunks),
            texts: Some(std::sync::Arc::new((old.clone(), new.clone()))),
        };
        self.emit(EventMsg::EditProposed { edit: proposal });
        let per_hunk =
            self.cfg.agent.approval == ApprovalPolicy::PerHunk && old.is_some() && hunks.len() > 1;
        let guarded = self.ws.needs_approval(&path);
        let decision = match self.cfg.agent.approval {
            // Whether tests may change is the plan's decision, not the model's nor its reviewer's mood.
            _ if old.is_some() && !self.tests_open && self.is_test_file(&path) => self
                .decided_by_policy(
                    edit,
                    ApprovalDecision::Reject {
                        reason: Some(format!(
                            "{path} is a test, and this step of the plan leaves existing tests as they are \
                             (changes_tests is false): change the code so the test passes; a new test file may \
                             be written"
                        )),
                    },
                    "plan: tests are left as they are",
                ),
            ApprovalPolicy::Auto if guarded.is_some() => self.decided_by_policy(
                edit,
                ApprovalDecision::Reject {
                    reason: Some(format!(
                        "{}; it changes only with a person's approval (approval = per-file)",
                        guarded.unwrap_or_default()
                    )),
                },
                "policy: protected file",
            ),
            ApprovalPolicy::Auto => {
                self.decided_by_policy(edit, ApprovalDecision::Accept, "policy: auto")
            }
            ApprovalPolicy::Never => self.decided_by_policy(
                edit,
                ApprovalDecision::Reject {
                    reason: Some("edits are not allowed (approval = never)".into()),
                },
                "policy: never",
            ),
            ApprovalPolicy::PerFile | ApprovalPolicy::PerHunk => {
                self.ask(ApprovalKind::Edit {
                    edit,
                    path: path.clone(),
                    per_hunk,
                })
                .await
            }
        };
        let (content, applied): (String, Vec<usize>) = match decision {
            ApprovalDecision::Accept => (new, (0..hunks.len()).collect()),
            ApprovalDecision::AcceptHunks { hunks: chosen } if old.is_some() => {
                let mut chosen: Vec<usize> =
                    chosen.into_iter().filter(|i| *i < hunks.len()).collect();
                chosen.sort_unstable();
                chosen.dedup();
                if chosen.is_empty() {
                    return self.rejected(edit, &path, "no hunk was accepted".into());
                }
                (diff::apply_hunks(before, &new, &chosen), chosen)
            }
            ApprovalDecision::AcceptHunks { .. } => (new, vec![0]),
            ApprovalDecision::Reject { reason } => {
                return self.rejected(
                    edit,
                    &path,
                    reason.unwrap_or_else(|| "the user rejected it".into()),
                );
            }
        };
        match self
            .checkpoints
            .apply(&self.ws, &[(path.clone(), content.clone().into_bytes())])
        {
            Ok(checkpoint) => {
                self.changed.insert(path.clone());
                self.edits_applied += 1;
                self.changes += 1;
                self.emit(EventMsg::EditApplied {
                    edit,
                    path: path.clone(),
                    hunks: applied.clone(),
                    checkpoint,
                });
                if applied.len() == hunks.len().max(1) {
                    // The model sees what its edit made of the file, so a misplaced edit is caught at once.
                    let text = match diff::changed_excerpt(before, &content, 2, 40) {
                        Some(excerpt) if old.is_some() => {
                            format!("applied to {path}; the changed part now reads:\n{excerpt}")
                        }
                        _ => format!("applied to {path}"),
                    };
                    (true, text)
                } else {
                    let shown = super::head(&content, 4_000);
                    (
                        true,
                        format!(
                            "only hunks {applied:?} of {} were applied to {path}; it now reads:\n{shown}",
                            hunks.len()
                        ),
                    )
                }
            }
            Err(e) => {
                let message = format!("the edit of {path} could not be written: {e}");
                self.emit(EventMsg::EditRejected {
                    edit,
                    path,
                    reason: message.clone(),
                });
                (false, message)
            }
        }
    }

    fn rejected(&mut self, edit: u64, path: &str, reason: String) -> (bool, String) {
        self.emit(EventMsg::EditRejected {
            edit,
            path: path.to_string(),
            reason: reason.clone(),
        });
        (
            false,
            format!("the edit of {path} was not applied: {reason}"),
        )
    }

    /// Whether `path` is a test: by the usual naming conventions, or a file the check command runs.
    pub(crate) fn is_test_file(&self, path: &str) -> bool {
        if crate::agent::names::is_test_path(path) {
            return true;
        }
        self.check_command().is_some_and(|check| {
            crate::agent::check::files_run(&check.command)
                .iter()
                .any(|f| f == path.trim_start_matches("./"))
        })
    }

    fn decided_by_policy(
        &mut self,
        request: u64,
        decision: ApprovalDecision,
        by: &str,
    ) -> ApprovalDecision {
        self.emit(EventMsg::ApprovalDecided {
            request,
            decision: decision.clone(),
            by: by.into(),
        });
        decision
    }

    /// Asks the front end and waits for its answer; undo and interrupt are handled while waiting.
    pub(crate) async fn ask(&mut self, kind: ApprovalKind) -> ApprovalDecision {
        let request = self.fresh_id();
        if self.cfg.headless {
            // Nobody is there to answer: waiting would stall the run (and any cloned repository's deny rule could
            // make a command ask), so the question is a refusal, at once, with its reason.
            let what = match &kind {
                ApprovalKind::Edit { path, .. } => {
                    format!("the edit of {path} needs a person's approval")
                }
                ApprovalKind::Command { reason, .. } => {
                    format!("it needs a person's approval ({reason})")
                }
            };
            return self.decided_by_policy(
                request,
                ApprovalDecision::Reject {
                    reason: Some(format!("{what}, and nobody can give one in a headless run")),
                },
                "headless: nobody to ask",
            );
        }
        let waiting = match &kind {
            ApprovalKind::Edit { path, .. } => {
                format!("tandem needs your approval for an edit of {path}")
            }
            ApprovalKind::Command { command, .. } => {
                format!("tandem needs your approval to run: {command}")
            }
        };
        self.emit(EventMsg::ApprovalRequested { request, kind });
        self.notify(waiting).await;
        loop {
            let op = self.ops.recv().await;
            match op {
                Some(Op::Approve {
                    request: r,
                    decision,
                }) if r == request => {
                    self.emit(EventMsg::ApprovalDecided {
                        request,
                        decision: decision.clone(),
                        by: "user".into(),
                    });
                    return decision;
                }
                Some(Op::Interrupt) | None => {
                    self.interrupted = true;
                    let decision = ApprovalDecision::Reject {
                        reason: Some("interrupted".into()),
                    };
                    self.emit(EventMsg::ApprovalDecided {
                        request,
                        decision: decision.clone(),
                        by: "interrupt".into(),
                    });
                    return decision;
                }
                Some(other) => self.handle_op(other),
            }
        }
    }

    /// Runs a model-requested command: the approval policy and rules decide (an event says what and why),
    /// then it runs in the sandbox. Returns (ok, text for the model).
    pub(crate) async fn run_command(&mut self, command: String) -> (bool, String) {
        let input = serde_json::json!({"command": command});
        if let Some(reason) = self.before_tool("run", input.clone()).await {
            return (false, reason);
        }
        let (ok, text) = self.run_command_unhooked(command).await;
        let text = self.after_tool("run", input, ok, text).await;
        (ok, text)
    }

    async fn run_command_unhooked(&mut self, command: String) -> (bool, String) {
        let decision = commands::decide(self.cfg.agent.commands, &self.rules, &command);
        self.emit(EventMsg::CommandDecided {
            command: command.clone(),
            verdict: decision.verdict,
            reason: decision.reason.clone(),
        });
        let refused = match decision.verdict {
            Verdict::Run => None,
            Verdict::Refuse => Some(decision.reason),
            Verdict::Ask => {
                let kind = ApprovalKind::Command {
                    command: command.clone(),
                    reason: decision.reason.clone(),
                };
                match self.ask(kind).await {
                    ApprovalDecision::Accept | ApprovalDecision::AcceptHunks { .. } => None,
                    ApprovalDecision::Reject { reason } => {
                        Some(reason.unwrap_or_else(|| "the person refused it".into()))
                    }
                }
            }
        };
        if let Some(why) = refused {
            return (false, format!("`{command}` was not run: {why}"));
        }
        let timeout = Duration::from_secs(self.cfg.agent.command_timeout_secs);
        // A command may change files as much as an edit does.
        self.changes += 1;
        match self.shell.run(&command, timeout).await {
            Ok(out) => (
                out.success(),
                format!(
                    "$ {command}\n{}\n{}",
                    out.status_line(),
                    tail(&out.output, 6_000)
                ),
            ),
            Err(e) => (false, format!("`{command}` {e}")),
        }
    }
}
