//! A planner turn: the task and the repository overview in, a strictly parsed [`Plan`] out, through the router
//! (cloud when configured and available, the local model otherwise).

use crate::model::{ChatMessage, ChatRequest};
use crate::protocol::{Plan, PlanError};
use crate::router::{RouteRole, Routed, Router, RouterError, RouterEvent};

/// How many times a reply that does not parse is asked for again before the turn fails.
pub const PLAN_ATTEMPTS: u32 = 3;

/// The planner request for a task: the system prompt and the overview first (stable across turns, so providers
/// can cache them), then the task.
pub fn planner_request(
    system: &str,
    task: &str,
    overview: &str,
    sources: Vec<String>,
    max_tokens: u32,
) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system(system.trim()),
            ChatMessage::user(format!("Repository overview:\n{}", overview.trim())),
            ChatMessage::user(format!("Task: {}", task.trim())),
        ],
        max_tokens,
        json_schema: Some(Plan::json_schema()),
        stable_prefix: 2,
        sources,
        ..ChatRequest::default()
    }
}

/// A plan and what making it cost.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// The plan.
    pub plan: Plan,
    /// Every attempt, the last one being the plan's.
    pub attempts: Vec<Routed>,
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanTurnError {
    /// No provider could serve the request.
    #[error(transparent)]
    Router(#[from] RouterError),
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

/// Asks the planner for a plan; a reply that does not parse is asked for again (warmer), then reported.
pub async fn plan(
    router: &Router,
    mut request: ChatRequest,
    on: &mut (dyn FnMut(RouterEvent) + Send),
) -> Result<PlanOutcome, PlanTurnError> {
    let mut attempts = Vec::new();
    let mut last = None;
    for attempt in 0..PLAN_ATTEMPTS {
        if attempt > 0 {
            // The same request at temperature 0 would give the same reply.
            request.temperature = Some(0.3 + 0.2 * attempt as f32);
        }
        let routed = router.chat(RouteRole::Planner, &request, on).await?;
        let parsed = Plan::parse(&routed.response.text);
        attempts.push(routed);
        match parsed {
            Ok(plan) => return Ok(PlanOutcome { plan, attempts }),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "plan reply did not parse");
                last = Some(e);
            }
        }
    }
    let last_reply = attempts
        .last()
        .map(|r| r.response.text.clone())
        .unwrap_or_default();
    Err(PlanTurnError::Unparseable {
        attempts: PLAN_ATTEMPTS,
        error: last.unwrap_or(PlanError::Malformed("no reply".into())),
        last_reply,
    })
}
