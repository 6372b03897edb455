//! Config errors: each names the file (or variable, or flag), the line and the key.

use std::path::PathBuf;

/// A config that cannot be used, and exactly where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{col}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        /// `file:line`, `env VAR` or `flag --x`.
        origin: String,
        /// The dotted key, e.g. `local.threads`.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
}
