//! System prompts: compiled in from prompts/, overridable by files in the user's config dir.

use std::path::Path;

/// A prompt tandem ships with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptName {
    /// The planner's system prompt.
    Planner,
    /// The executor's system prompt.
    Executor,
    /// The system prompt of a step asked for its files whole.
    Writer,
    /// The system prompt of a step asked for the definitions it changes.
    Definitions,
}

impl PromptName {
    fn file_name(self) -> &'static str {
        match self {
            PromptName::Planner => "planner.md",
            PromptName::Executor => "executor.md",
            PromptName::Writer => "writer.md",
            PromptName::Definitions => "definitions.md",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            PromptName::Planner => include_str!("../prompts/planner.md"),
            PromptName::Executor => include_str!("../prompts/executor.md"),
            PromptName::Writer => include_str!("../prompts/writer.md"),
            PromptName::Definitions => include_str!("../prompts/definitions.md"),
        }
    }
}

/// The prompt text: `<config dir>/prompts/<name>.md` if present, else the built-in one.
pub fn load(name: PromptName, config_dir: &Path) -> String {
    let path = config_dir.join("prompts").join(name.file_name());
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            tracing::info!(path = %path.display(), "using prompt override");
            text
        }
        _ => name.builtin().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_over_builtin() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(PromptName::Planner, dir.path()).contains("planner of tandem"));
        std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
        std::fs::write(dir.path().join("prompts/planner.md"), "custom").unwrap();
        assert_eq!(load(PromptName::Planner, dir.path()), "custom");
    }
}
