//! The verify command: configured, or detected from the project's files.

use std::path::Path;

/// The command that checks the whole change, from `configured` (empty: detect; `none`: off).
pub fn verify_command(workspace: &Path, configured: &str) -> Option<String> {
    match configured.trim() {
        "none" | "off" => None,
        "" => detect(workspace),
        cmd => Some(cmd.to_string()),
    }
}

/// The Python verify command: pytest where it imports, else unittest.
pub const PYTHON_TESTS: &str = "if python3 -c 'import pytest' >/dev/null 2>&1; then python3 -m pytest -q; else python3 -m unittest; fi";

/// Guesses the test command from the project's files.
pub fn detect(ws: &Path) -> Option<String> {
    let has = |name: &str| ws.join(name).exists();
    if has("Cargo.toml") {
        return Some("cargo test".into());
    }
    if has("go.mod") {
        return Some("go test ./...".into());
    }
    if has("package.json") {
        let text = std::fs::read_to_string(ws.join("package.json")).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let test = json
            .pointer("/scripts/test")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !test.is_empty() && !test.contains("no test specified") {
            return Some("npm test".into());
        }
    }
    let python_tests = std::fs::read_dir(ws).ok().is_some_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with("test_") && name.ends_with(".py"))
                || name == "tests"
                || name == "pytest.ini"
                || name == "conftest.py"
        })
    });
    if has("pyproject.toml") || has("setup.py") || python_tests {
        // Whether pytest is importable is asked by the command itself, in the sandbox: with the workspace as
        // the current directory, `import pytest` runs a model-written pytest.py.
        return Some(PYTHON_TESTS.into());
    }
    if has("Makefile") {
        let text = std::fs::read_to_string(ws.join("Makefile")).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("test:")) {
            return Some("make test".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_project_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect(dir.path()), None);
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"scripts":{"test":"echo \"Error: no test specified\""}}"#,
        )
        .unwrap();
        assert_eq!(detect(dir.path()), None);
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"scripts":{"test":"vitest run"}}"#,
        )
        .unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some("npm test"));
        std::fs::write(dir.path().join("go.mod"), "module x").unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some("go test ./..."));
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some("cargo test"));
        assert_eq!(
            verify_command(dir.path(), "make check").as_deref(),
            Some("make check")
        );
        assert_eq!(verify_command(dir.path(), "none"), None);
    }

    #[test]
    fn detection_runs_nothing_from_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        std::fs::write(
            dir.path().join("pytest.py"),
            format!("open({:?}, 'w').write('x')\n", marker.display().to_string()),
        )
        .unwrap();
        std::fs::write(dir.path().join("test_a.py"), "").unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some(PYTHON_TESTS));
        assert!(
            !marker.exists(),
            "detection imported the workspace's pytest.py"
        );
    }
}
