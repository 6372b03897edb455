//! Shared helpers: finding the demo model, loading engines, temporary workspaces.

use std::path::PathBuf;

use tandem::config::DEMO_MODEL_FILE;
use tandem::model::local::{EngineConfig, EngineHost, LocalEngine};
use tandem::paths::Dirs;

/// The demo model, or `None` (the test then skips) when it is absent and TANDEM_REQUIRE_MODEL is unset.
///
/// TANDEM_TEST_MODEL points at another GGUF; otherwise the model is looked for where
/// scripts/fetch-demo-model.sh puts it.
pub fn demo_model() -> Option<PathBuf> {
    let path = std::env::var_os("TANDEM_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Dirs::from_env().models().join(DEMO_MODEL_FILE));
    if path.is_file() {
        return Some(path);
    }
    let required =
        std::env::var_os("TANDEM_REQUIRE_MODEL").is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "TANDEM_REQUIRE_MODEL is set but the demo model is not at {}; run scripts/fetch-demo-model.sh",
        path.display()
    );
    skip(&format!(
        "the demo model is not at {} (run scripts/fetch-demo-model.sh)",
        path.display()
    ));
    None
}

/// Engine settings for `model` whose worker process is the tandem binary (this test program is not one).
pub fn engine_config(model: impl Into<PathBuf>) -> EngineConfig {
    let mut config = EngineConfig::for_model(model);
    config.host = EngineHost::Process(Some(PathBuf::from(env!("CARGO_BIN_EXE_tandem"))));
    config
}

/// Notes a test skipped for want of `what`; under CI (`CI=true`) a missing prerequisite fails the test
/// instead, since CI's own setup (.ci/run, scripts/setup.sh) is meant to provide every one.
pub fn skip(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "CI=true and {what}: .ci/run must provide it");
    eprintln!("skipped: {what}");
}

/// Loads the demo model with a small context (tests stay quick) and 2 threads.
pub fn engine_with(model: PathBuf, context_size: u32) -> LocalEngine {
    let mut config = engine_config(model);
    config.context_size = context_size;
    config.threads = 2;
    LocalEngine::load(config).expect("the demo model loads")
}

/// Loads the demo model with a 4096-token context.
pub fn engine(model: PathBuf) -> LocalEngine {
    engine_with(model, 4096)
}

/// Serialises the tests that run the model: two llama.cpp engines on two cores, each with two OpenMP threads
/// that busy-wait, slow each other down many times over.
/// Each test has its own runtime, so holding this across an await blocks only that test's thread.
pub fn model_lock() -> ModelLock {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ModelLock(
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// Held while a test runs the demo model; see [`model_lock`].
pub struct ModelLock(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

/// The demo model's path and the model lock, or skips the test (returns from it) when the model is absent and
/// not required.
#[macro_export]
macro_rules! require_model {
    () => {
        match $crate::suite::support::demo_model() {
            Some(path) => (path, $crate::suite::support::model_lock()),
            None => return,
        }
    };
}

/// A workspace and user dirs of its own, so no test sees the machine's real config.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    /// The temp root: `ws/`, `home/`, `config/`, `data/`, `state/`, `cache/`.
    pub root: std::path::PathBuf,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("ws")).unwrap();
        Sandbox { _dir: dir, root }
    }

    pub fn ws(&self) -> std::path::PathBuf {
        self.root.join("ws")
    }

    pub fn tandem(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
        cmd.args(args)
            .current_dir(self.ws())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.join("home"))
            .env("TANDEM_CONFIG_DIR", self.root.join("config"))
            .env("TANDEM_CACHE_DIR", self.root.join("cache"))
            .env("TANDEM_DATA_DIR", self.root.join("data"))
            .env("TANDEM_STATE_DIR", self.root.join("state"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.tandem(args).output().unwrap()
    }
}
