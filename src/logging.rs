//! Tracing to a log file in the state directory, never to a terminal (the engine routes llama.cpp's logs here).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keeps the log writer alive; drop it last, at exit, to flush.
pub struct LogGuard {
    _guard: WorkerGuard,
    /// The file logs are written to.
    pub path: PathBuf,
}

/// The log filter when RUST_LOG is not set.
pub const DEFAULT_FILTER: &str = "tandem=info,llama_cpp_2=warn";

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// When the process started (the first call, which `main` makes first thing).
pub fn process_start() -> std::time::Instant {
    *STARTED.get_or_init(std::time::Instant::now)
}

/// Starts logging into `dir/tandem.log` (rotated daily); RUST_LOG overrides the filter.
pub fn init(dir: &Path) -> std::io::Result<LogGuard> {
    std::fs::create_dir_all(dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("tandem")
        .filename_suffix("log")
        .max_log_files(7)
        .build(dir)
        .map_err(std::io::Error::other)?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // A second init (tests, embedding) keeps the first subscriber; that is not an error worth failing over.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(LogGuard {
        _guard: guard,
        path: dir.join("tandem.<date>.log"),
    })
}
