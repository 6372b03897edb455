//! The sandbox: the path policy every file tool goes through, atomic writes, command approval rules, the OS
//! confinement of commands (Landlock, seccomp, process limits) and the shell runner.

mod atomic;
pub mod commands;
pub mod confine;
pub mod guard;
pub mod paths;
pub mod shell;
pub mod state;

pub use atomic::write_atomic;
pub use commands::{CommandApproval, CommandRules, Decision, Verdict};
pub use paths::{PathError, Workspace};
pub use shell::{Sandbox, SandboxMode, SandboxSettings};
