//! The transcript notice (if any) each protocol event makes: plan ready, edits applied, verification, …

use crate::protocol::{ApprovalDecision, EventMsg};

/// The notice `msg` puts in the transcript, if any.
pub fn notice(msg: &EventMsg) -> Option<String> {
    Some(match msg {
        EventMsg::PlanReady { plan, round } => format!(
            "Plan{}: {} ({} step{})",
            if *round > 1 {
                format!(" (round {round})")
            } else {
                String::new()
            },
            plan.summary,
            plan.steps.len(),
            if plan.steps.len() == 1 { "" } else { "s" }
        ),
        EventMsg::Escalated { step, reason } => {
            format!("step {step} escalated to the planner's provider: {reason}")
        }
        EventMsg::ApprovalDecided { decision, by, .. }
            if by.starts_with("policy: protected") || by == "interrupt" =>
        {
            let what = match decision {
                ApprovalDecision::Accept => "accepted".to_string(),
                ApprovalDecision::AcceptHunks { hunks } => format!("hunks {hunks:?} accepted"),
                ApprovalDecision::Reject { reason } => format!(
                    "refused{}",
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            };
            format!("{what} ({by})")
        }
        EventMsg::EditApplied { path, hunks, .. } => format!("edited {path} (hunks {hunks:?})"),
        EventMsg::Compacted { summary, turns } => {
            format!("compacted {turns} earlier turn(s) into a summary:\n{summary}")
        }
        EventMsg::EditRejected { path, reason, .. } => {
            format!("edit of {path} not applied: {reason}")
        }
        EventMsg::Undone { files, .. } => format!("undone: {}", files.join(", ")),
        EventMsg::VerifyStarted { command } => format!("verifying: {command}"),
        EventMsg::VerifyFinished {
            passed,
            command,
            verified,
            ..
        } => {
            if verified.is_empty() {
                format!("{command}: {}", if *passed { "passed" } else { "failed" })
            } else {
                verified.clone()
            }
        }
        EventMsg::Replanning { reason, .. } => format!("re-planning: {reason}"),
        EventMsg::CommandDecided {
            command,
            verdict,
            reason,
        } if *verdict == crate::protocol::CommandVerdict::Refuse => {
            format!("`{command}` refused: {reason}")
        }
        EventMsg::SessionFinished { outcome, summary } => format!(
            "{outcome:?}: {} file(s) changed{}",
            summary.changed_files.len(),
            match (summary.verify_passed, summary.verified.is_empty()) {
                (_, false) => format!("; {}", summary.verified),
                (Some(true), true) => ", verify passed".into(),
                (Some(false), true) => ", verify failed".into(),
                (None, true) => String::new(),
            }
        ),
        _ => return None,
    })
}
