//! The sandbox: the path policy every file tool goes through, atomic writes, and the shell runner.

mod atomic;
pub mod paths;
pub mod shell;

pub use atomic::write_atomic;
pub use paths::{PathError, Workspace};
