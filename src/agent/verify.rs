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

/// A failing check's output as a model is shown it: stack frames inside the language runtime or installed
/// packages (Node's `node:internal`, Python's standard library and site-packages, Rust's std) and, where there
/// are errors, compiler warnings are left out. What is left is what the code under test can change, and a
/// small model reads it better (and prefills it sooner) without the rest. Lines are otherwise kept as they are.
pub fn condense_report(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let has_errors = lines
        .iter()
        .any(|l| l.starts_with("error:") || l.starts_with("error["));
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        // Node: `node:assert:90`, then the runtime's source line and a caret.
        if is_node_location(line) {
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        // Node: `    at Module._compile (node:internal/…)`; the last frame may open the error's properties.
        if t.starts_with("at ") && (t.contains("(node:") || t.starts_with("at node:")) {
            if t.ends_with('{') {
                out.push("{");
            }
            i += 1;
            continue;
        }
        // Python: `  File "/usr/lib/python3.11/…", line 57, in run` and the source lines under it.
        if let Some(path) = t
            .strip_prefix("File \"")
            .and_then(|rest| rest.split('"').next())
            && is_python_runtime(path)
        {
            let own = indent(line);
            i += 1;
            while i < lines.len() && indent(lines[i]) > own && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        // Rust backtraces: `  3: core::panicking::panic_fmt` and `at /rustc/…`.
        if t.starts_with("at /rustc/") || is_rust_runtime_frame(t) {
            i += 1;
            continue;
        }
        // Compiler warnings, where there are errors: a `warning:` line through the next blank line or error.
        if has_errors && line.starts_with("warning") {
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && !lines[i].starts_with("error") {
                i += 1;
            }
            if lines.get(i).is_some_and(|l| l.trim().is_empty()) {
                i += 1;
            }
            continue;
        }
        out.push(line);
        i += 1;
    }
    let mut text = out.join("\n");
    if output.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `node:assert:90`: where Node's own code threw.
fn is_node_location(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("node:") else {
        return false;
    };
    let (name, number) = rest.rsplit_once(':').unwrap_or((rest, ""));
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/".contains(c))
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// A path in Python's standard library or in installed packages.
fn is_python_runtime(path: &str) -> bool {
    path.contains("site-packages/")
        || path.contains("dist-packages/")
        || path.starts_with("<frozen ")
        || path.split('/').any(|part| {
            part.strip_prefix("python3")
                .is_some_and(|v| v.is_empty() || v.starts_with('.'))
        }) && path.contains("/lib/")
}

/// `12: std::panicking::begin_panic` and the like: a backtrace frame in Rust's own libraries.
fn is_rust_runtime_frame(t: &str) -> bool {
    let Some((number, name)) = t.split_once(": ") else {
        return false;
    };
    !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
        && [
            "std::", "core::", "alloc::", "test::", "__rust", "<alloc::", "<core::", "<std::",
        ]
        .iter()
        .any(|p| name.starts_with(p))
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

    #[test]
    fn a_report_keeps_what_the_code_under_test_can_change() {
        let node = "node:assert:90\n  throw new AssertionError(obj);\n  ^\n\nAssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n+ 'foobarbaz'\n- 'fooBarBaz'\n    at Object.<anonymous> (/w/test.js:6:8)\n    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n    at node:internal/main/run_main_module:28:49 {\n  code: 'ERR_ASSERTION',\n}\n\nNode.js v20.20.2\n";
        let got = condense_report(node);
        assert_eq!(
            got,
            "\nAssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n+ 'foobarbaz'\n- 'fooBarBaz'\n    at Object.<anonymous> (/w/test.js:6:8)\n{\n  code: 'ERR_ASSERTION',\n}\n\nNode.js v20.20.2\n"
        );
        let python = "Traceback (most recent call last):\n  File \"/w/test_calc.py\", line 7, in test_add\n    self.assertEqual(calc.add(2, 3), 5)\n  File \"/usr/lib/python3.11/unittest/case.py\", line 873, in assertEqual\n    assertion_func(first, second, msg=msg)\n    ^^^^^^^^^^^^^^\n  File \"<frozen runpy>\", line 88, in _run_code\nAssertionError: -1 != 5\n";
        assert_eq!(
            condense_report(python),
            "Traceback (most recent call last):\n  File \"/w/test_calc.py\", line 7, in test_add\n    self.assertEqual(calc.add(2, 3), 5)\nAssertionError: -1 != 5\n"
        );
        let rust = "warning: unused variable: `x`\n --> src/lib.rs:2:9\n  |\n2 |     let x = 1;\n  |         ^\n\nerror[E0308]: mismatched types\n --> src/lib.rs:3:5\n\nwarning: `demo` (lib) generated 1 warning\nerror: could not compile `demo`\n";
        assert_eq!(
            condense_report(rust),
            "error[E0308]: mismatched types\n --> src/lib.rs:3:5\n\nerror: could not compile `demo`\n"
        );
        let backtrace = "thread 'main' panicked at src/main.rs:4:5:\nboom\nstack backtrace:\n   0: std::panicking::begin_panic\n             at /rustc/abc/library/std/src/panicking.rs:1:1\n   1: demo::main\n             at ./src/main.rs:4:5\n";
        assert_eq!(
            condense_report(backtrace),
            "thread 'main' panicked at src/main.rs:4:5:\nboom\nstack backtrace:\n   1: demo::main\n             at ./src/main.rs:4:5\n"
        );
        // Warnings alone (a failing test, no compile error) are kept: they may be the clue.
        let warned = "warning: unused variable: `x`\n\ntest tests::it ... FAILED\n";
        assert_eq!(condense_report(warned), warned);
        // Nothing to leave out: as it was.
        assert_eq!(
            condense_report("FAILED (failures=1)"),
            "FAILED (failures=1)"
        );
    }
}
