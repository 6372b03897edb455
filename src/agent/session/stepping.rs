//! Executing a step: attempts on the executor's route, each run by the model profile's strategies, then one
//! escalated to the planner's provider.

use super::{Session, tail};
use crate::agent::strategy::{self, Attempt, StepContext};
use crate::protocol::{EventMsg, Step, StepStatus};

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

    /// One attempt at `step`: the model profile's strategies, in order.
    async fn attempt_step(
        &mut self,
        step: &Step,
        escalated: bool,
        previous_failure: Option<&str>,
    ) -> Attempt {
        let strategies = self.cfg.profile.strategies.clone();
        let mut cx = StepContext::new(self, step, escalated, previous_failure);
        strategy::attempt(&mut cx, &strategies).await
    }
}

impl Session {
    /// The opening of a step's brief: the task, the plan with each step's status, the step, its `files` (when
    /// given) and when it is done.
    pub(crate) fn step_heading(&self, step: &Step, files: Option<&str>) -> String {
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
            self.goal_words(step),
            step.done_when
        )
    }

    /// What a step's brief says of where things stand: the last check's failure (until a check passes again)
    /// and why an earlier attempt failed.
    pub(crate) fn step_notes(&self, previous_failure: Option<&str>) -> String {
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
}
