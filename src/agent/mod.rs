//! The agent: planning turns (and, as it grows, execution, verification and re-planning).

pub mod plan;
