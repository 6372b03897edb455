//! The sandbox: the path policy every file tool goes through, atomic writes, command approval rules, the OS
//! confinement of commands (bubblewrap namespaces, or Landlock as the fallback; seccomp; resource limits),
//! the shell runner, and the one module that starts child processes.

mod atomic;
pub mod bwrap;
pub mod commands;
pub mod confine;
pub mod env;
pub mod guard;
mod lexer;
pub mod limits;
pub mod paths;
mod readonly;
pub mod seccomp;
pub mod server;
pub mod shell;
pub mod spawn;
pub mod state;
mod unwrap;

pub use atomic::write_atomic;
pub use commands::{CommandPolicy, CommandRules, Decision};
pub use paths::{PathError, Workspace};
pub use shell::{Sandbox, SandboxMode, SandboxSettings, put_back_note};
