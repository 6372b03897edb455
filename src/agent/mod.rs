//! The agent: plan → execute steps → verify → re-plan, with approvals, checkpoints and a transcript.

pub mod check;
pub mod checkpoint;
pub mod conversation;
pub mod events;
pub mod instructions;
pub(crate) mod names;
pub mod session;
pub(crate) mod strategy;
pub mod transcript;
pub mod verify;
