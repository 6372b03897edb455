//! Shared helpers: finding the demo model, loading engines, temporary workspaces.

use std::path::PathBuf;

use tandem::config::DEMO_MODEL_FILE;
use tandem::model::local::{EngineConfig, LocalEngine};
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
    eprintln!(
        "skipped: the demo model is not at {} (run scripts/fetch-demo-model.sh)",
        path.display()
    );
    None
}

/// Loads the demo model with a small context (tests stay quick) and 2 threads.
pub fn engine_with(model: PathBuf, context_size: u32) -> LocalEngine {
    let mut config = EngineConfig::for_model(model);
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
