//! Types every front end shares: the plan, route decisions, and the `Op`/`Event` stream; serde only.

mod event;
mod plan;
mod route;
pub mod schema;

pub use event::*;
pub use plan::{Plan, PlanError, Step};
pub use route::{Kind, RouteDecision, RouteReason, RouteRole, clock};
