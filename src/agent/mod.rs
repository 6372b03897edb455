//! The agent: plan → execute steps → verify → re-plan, with approvals, checkpoints and a transcript.

pub mod checkpoint;
pub mod events;
pub mod session;
pub mod transcript;
pub mod verify;
