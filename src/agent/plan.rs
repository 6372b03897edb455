//! A planner turn: the task and the repository overview in, a strictly parsed [`Plan`] out.

use crate::model::ChatMessage;
use crate::model::local::{
    CancelToken, Completion, Constraint, EngineError, FinishReason, GenRequest, LocalEngine,
    Prompt, SamplingParams,
};
use crate::protocol::{Plan, PlanError};

/// How many times a reply that does not parse is asked for again before the turn fails.
pub const PLAN_ATTEMPTS: u32 = 3;

/// The planner conversation for a task.
pub fn planner_messages(system: &str, task: &str, overview: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(system.trim()),
        ChatMessage::user(format!(
            "Repository overview:\n{}\n\nTask: {}",
            overview.trim(),
            task.trim()
        )),
    ]
}

/// A plan and what making it cost.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// The plan.
    pub plan: Plan,
    /// Every attempt's completion, the last one being the plan's.
    pub attempts: Vec<Completion>,
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanTurnError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The turn was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Every attempt's reply failed to parse; the last error and reply are kept.
    #[error("no usable plan after {attempts} attempts: {error}")]
    Unparseable {
        /// How many replies were tried.
        attempts: u32,
        /// The last parse error.
        error: PlanError,
        /// The last reply, for the log.
        last_reply: String,
    },
}

/// Plans on the local engine, under the plan's JSON-schema grammar; a reply that still does not parse
/// (cut off by `max_tokens`, say) is retried with another seed.
pub fn plan_locally(
    engine: &LocalEngine,
    messages: Vec<ChatMessage>,
    sampling: &SamplingParams,
    max_tokens: u32,
    cancel: &CancelToken,
) -> Result<PlanOutcome, PlanTurnError> {
    let mut attempts = Vec::new();
    let mut last = None;
    for attempt in 0..PLAN_ATTEMPTS {
        let mut sampling = sampling.clone();
        if attempt > 0 {
            sampling.seed = sampling.seed.map(|s| s.wrapping_add(attempt));
            if sampling.temperature == 0.0 {
                // Greedy would repeat the same reply.
                sampling.temperature = 0.3;
            }
        }
        let request = GenRequest {
            prompt: Prompt::Chat(messages.clone()),
            max_tokens,
            sampling,
            constraint: Some(Constraint::JsonSchema(Plan::json_schema())),
            stop: Vec::new(),
        };
        let completion = engine
            .generate_with(request, cancel.clone())
            .collect_blocking()?;
        if completion.finish == FinishReason::Cancelled {
            return Err(PlanTurnError::Cancelled);
        }
        let parsed = Plan::parse(&completion.text);
        attempts.push(completion);
        match parsed {
            Ok(plan) => return Ok(PlanOutcome { plan, attempts }),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "plan reply did not parse");
                last = Some(e);
            }
        }
    }
    let last_reply = attempts.last().map(|c| c.text.clone()).unwrap_or_default();
    Err(PlanTurnError::Unparseable {
        attempts: PLAN_ATTEMPTS,
        error: last.unwrap_or(PlanError::Malformed("no reply".into())),
        last_reply,
    })
}
