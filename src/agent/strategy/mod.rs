//! Step strategies: the ways an attempt at a step gets it done, each a type the session runs in the order its
//! model profile names (`[profiles.NAME] strategies`). The session plans, runs steps, checks and re-plans; how
//! one attempt talks to the model is a strategy's.
//!
//! - [`sample_check::SampleCheck`]: ask for the step's files in one reply, try it (and the replies sampled beside
//!   it) on the check, keep the best, revise from it.
//! - [`tool_loop::ToolLoop`]: tool turns until the model says the step is done or failed.

pub(crate) mod sample_check;
pub(crate) mod tool_loop;

use crate::agent::session::Session;
use crate::config::profile::StrategyName;
use crate::protocol::{Step, StepStatus};

/// How one attempt at a step ended.
pub(crate) enum Attempt {
    Done(String),
    Failed(String),
    Interrupted,
    /// An error that ends the session (a refused API key): retrying or escalating cannot help.
    Stopped(String),
}

/// One attempt at a step: the session it runs in and what the attempt has to go on.
pub(crate) struct StepContext<'a> {
    /// The session: its workspace, model calls, check and edits.
    pub session: &'a mut Session,
    /// The step.
    pub step: &'a Step,
    /// The attempt runs on the planner's provider (the executor failed every attempt).
    pub escalated: bool,
    /// Why the previous attempt failed.
    pub previous_failure: Option<&'a str>,
    /// The step is the plan's last open one: its edits are checked as they land.
    pub last_open: bool,
    /// Check runs this attempt may still spend (the profile's `step_checks` on the last open step, else 0).
    pub checks_left: u32,
    /// Edits applied in the session when the attempt began.
    pub edits_at_start: u64,
}

impl<'a> StepContext<'a> {
    /// An attempt at `step` in `session`.
    pub fn new(
        session: &'a mut Session,
        step: &'a Step,
        escalated: bool,
        previous_failure: Option<&'a str>,
    ) -> Self {
        let last_open = session.plan.as_ref().is_some_and(|p| {
            p.steps.iter().all(|s| {
                s.id == step.id
                    || session
                        .steps
                        .get(&s.id)
                        .is_some_and(|(st, _)| *st == StepStatus::Done)
            })
        });
        let checks_left = if last_open {
            session.cfg.profile.step_checks
        } else {
            0
        };
        let edits_at_start = session.edits_applied;
        StepContext {
            session,
            step,
            escalated,
            previous_failure,
            last_open,
            checks_left,
            edits_at_start,
        }
    }

    /// Whether the check's verdict on the workspace as it is now is known.
    pub fn check_is_current(&self) -> bool {
        self.session.checked.as_ref().map(|(at, _)| *at) == Some(self.session.changes)
    }

    /// Spends one of the attempt's check runs, if one is left: the check's verdict on the workspace as it is
    /// (`None` inside: no check).
    pub async fn spend_check(&mut self) -> Option<Option<Result<(), String>>> {
        if self.checks_left == 0 {
            return None;
        }
        self.checks_left -= 1;
        Some(self.session.check().await)
    }

    /// A summary when the plan's last open step is done by the project's own check even though the model did
    /// not say so: this attempt applied edits, the check passed on the workspace as it is now, and the model
    /// then repeated itself (or ran out of turns) instead of calling step_done.
    pub fn checked_done(&self) -> Option<String> {
        let s = &self.session;
        (self.last_open
            && s.edits_applied > self.edits_at_start
            && s.cfg.profile.step_checks > 0
            && s.checked == Some((s.changes, None)))
        .then(|| {
            let what = s.verified.clone().unwrap_or_else(|| "the check".into());
            format!("verified after this step's edits: {what}")
        })
    }
}

/// A way of attempting a step.
pub(crate) trait StepStrategy {
    /// Attempts the step: `Some` ends the attempt, `None` leaves the step to the next strategy.
    async fn attempt(&mut self, cx: &mut StepContext<'_>) -> Option<Attempt>;
}

/// Runs the strategies in order until one ends the attempt.
pub(crate) async fn attempt(cx: &mut StepContext<'_>, strategies: &[StrategyName]) -> Attempt {
    for name in strategies {
        let end = match name {
            StrategyName::SampleCheck => sample_check::SampleCheck.attempt(cx).await,
            StrategyName::ToolLoop => tool_loop::ToolLoop.attempt(cx).await,
        };
        if let Some(end) = end {
            return end;
        }
    }
    Attempt::Failed(
        "no strategy of the model's profile took the step (a sample-check only profile, and the step's files \
         cannot be asked for in one reply)"
            .into(),
    )
}
