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
    // JavaScript tests with no npm script: the files `node --test` finds by its own default patterns (test.js,
    // *.test.js, *-test.js, *_test.js, test-*.js, a test/ folder), which it runs each as a test.
    let node_tests = std::fs::read_dir(ws).ok().is_some_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = ["js", "mjs", "cjs"]
                .iter()
                .find_map(|ext| name.strip_suffix(&format!(".{ext}")));
            match stem {
                Some(stem) => {
                    stem == "test"
                        || stem.ends_with(".test")
                        || stem.ends_with("-test")
                        || stem.ends_with("_test")
                        || stem.starts_with("test-")
                }
                None => name == "test" && e.path().is_dir(),
            }
        })
    });
    if node_tests {
        return Some("node --test".into());
    }
    // Plain test scripts `node --test` does not find by name (test_x.js, x.spec.js): each run as a script.
    let mut scripts: Vec<String> = std::fs::read_dir(ws)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| {
                    let stem = ["js", "mjs", "cjs"]
                        .iter()
                        .find_map(|ext| name.strip_suffix(&format!(".{ext}")));
                    stem.is_some_and(|stem| stem.starts_with("test_") || stem.ends_with(".spec"))
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                })
                .collect()
        })
        .unwrap_or_default();
    if !scripts.is_empty() {
        scripts.sort();
        let runs: Vec<String> = scripts.iter().map(|s| format!("node {s}")).collect();
        return Some(runs.join(" && "));
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

/// How many tests a check's run passed and failed, as its test runner's summary says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed, or errored before they could pass or fail.
    pub failed: u32,
}

impl std::ops::Add for Tally {
    type Output = Tally;
    fn add(self, other: Tally) -> Tally {
        Tally {
            passed: self.passed.saturating_add(other.passed),
            failed: self.failed.saturating_add(other.failed),
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// Whether a failing check that gave `now` is worse than one that gave `then`: fewer tests pass, or both ran as
/// many passing tests and more fail. No summary (the tests did not build or load) counts as none passing: worse
/// than a run where some passed, not worse than one where none did (a stub that compiles and fails every test
/// has nothing a try that does not compile yet could lose), and a verify command that is not a test runner
/// never makes one run worse than another.
pub fn worse(now: Option<Tally>, then: Option<Tally>) -> bool {
    let passed = |t: Option<Tally>| t.map_or(0, |t| t.passed);
    match (now, then) {
        (Some(now), Some(then)) if now.passed == then.passed => now.failed > then.failed,
        _ => passed(now) < passed(then),
    }
}

/// The tests a verify command's output says passed and failed, from the summary of the runners it knows:
/// cargo test (every `test result:` line, summed), Python's unittest (`Ran N tests` and `FAILED (...)`),
/// pytest, Jest and Vitest (`Tests:`), Node's test runner (`# pass N` / `ℹ pass N`), Mocha (`N passing`) and
/// `go test -v` (`--- PASS:` lines). `None` when it has no such summary.
pub fn tally(output: &str) -> Option<Tally> {
    use std::sync::LazyLock;
    // The patterns are literals, checked by the tests below; `None` only if one did not compile.
    static ITEM: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"\b(\d+) (passed|failed|failing|passing|errors?)\b").ok()
    });
    static NODE: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"^(?:#|ℹ) (pass|fail) (\d+)$").ok());
    static UNITTEST: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)")
            .ok()
    });
    let (Some(item), Some(node_re), Some(unittest)) =
        (ITEM.as_ref(), NODE.as_ref(), UNITTEST.as_ref())
    else {
        return None;
    };
    let items = |line: &str| {
        let mut t = Tally::default();
        for c in item.captures_iter(line) {
            let n: u32 = c[1].parse().unwrap_or(0);
            match &c[2] {
                "passed" | "passing" => t.passed = t.passed.saturating_add(n),
                _ => t.failed = t.failed.saturating_add(n),
            }
        }
        t
    };
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    // cargo test: one summary per test binary.
    let cargo: Vec<Tally> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("test result: ").map(items))
        .collect();
    if !cargo.is_empty() {
        return Some(cargo.into_iter().fold(Tally::default(), |a, b| a + b));
    }
    // unittest: `Ran 3 tests in 0.003s`, then `OK`, `OK (skipped=1)` or `FAILED (failures=1, errors=1)`.
    if let Some(at) = lines
        .iter()
        .rposition(|l| l.starts_with("Ran ") && l.contains(" test"))
    {
        let ran: u32 = lines[at]
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let (mut failed, mut not_passed) = (0u32, 0u32);
        if let Some(verdict) = lines[at + 1..]
            .iter()
            .find(|l| l.starts_with("FAILED") || l.starts_with("OK"))
        {
            for c in unittest.captures_iter(verdict) {
                let n: u32 = c[2].parse().unwrap_or(0);
                not_passed = not_passed.saturating_add(n);
                if matches!(&c[1], "failures" | "errors" | "unexpected successes") {
                    failed = failed.saturating_add(n);
                }
            }
            return Some(Tally {
                passed: ran.saturating_sub(not_passed),
                failed,
            });
        }
    }
    // Jest (`Tests:       1 failed, 2 passed, 3 total`) and Vitest (`Tests  1 failed | 2 passed (3)`).
    if let Some(line) = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Tests:") || l.starts_with("Tests "))
    {
        let t = items(line);
        if t != Tally::default() {
            return Some(t);
        }
    }
    // Node's test runner, TAP (`# pass 2`) or spec (`ℹ pass 2`).
    let mut node: Option<Tally> = None;
    for c in lines.iter().filter_map(|l| node_re.captures(l)) {
        let t = node.get_or_insert_default();
        let n: u32 = c[2].parse().unwrap_or(0);
        if &c[1] == "pass" {
            t.passed = n;
        } else {
            t.failed = n;
        }
    }
    if node.is_some() {
        return node;
    }
    // pytest (`===== 1 failed, 2 passed in 0.05s =====`, or bare under -q) and Mocha (`2 passing (5ms)`,
    // `1 failing` on the next line).
    if let Some(line) = lines.iter().rev().find(|l| {
        (l.contains(" in ") && l.ends_with('s') || l.ends_with('=') || l.contains(" passing ("))
            && item.is_match(l)
    }) {
        let mut t = items(line);
        if line.contains(" passing (") {
            let at = lines.iter().rposition(|l| l == line).unwrap_or(0);
            if let Some(next) = lines.get(at + 1) {
                t = t + items(next);
            }
        }
        return Some(t);
    }
    // go test -v: a line per test.
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count() as u32;
    let go = Tally {
        passed: count("--- PASS:"),
        failed: count("--- FAIL:"),
    };
    (go != Tally::default()).then_some(go)
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
        // Plain node test scripts, no npm script: node's own runner finds them.
        std::fs::write(dir.path().join("cli.js"), "").unwrap();
        assert_eq!(detect(dir.path()), None);
        std::fs::write(dir.path().join("test.js"), "").unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some("node --test"));
        std::fs::remove_file(dir.path().join("test.js")).unwrap();
        // Scripts node's runner does not find by name are run each as a script.
        std::fs::write(dir.path().join("test_query.js"), "").unwrap();
        std::fs::write(dir.path().join("cart.spec.js"), "").unwrap();
        assert_eq!(
            detect(dir.path()).as_deref(),
            Some("node cart.spec.js && node test_query.js")
        );
        std::fs::write(dir.path().join("wrap.test.mjs"), "").unwrap();
        assert_eq!(detect(dir.path()).as_deref(), Some("node --test"));
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

    #[test]
    fn the_runners_summaries_say_how_many_tests_passed_and_failed() {
        let t = |passed, failed| Some(Tally { passed, failed });
        // cargo test: every test binary's line, summed; a build that fails has none.
        let cargo = "running 2 tests\ntest tests::a ... FAILED\n\ntest result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s\n\nrunning 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        assert_eq!(tally(cargo), t(4, 2));
        assert_eq!(
            tally(
                "error[E0308]: mismatched types\n --> src/lib.rs:3:5\nerror: could not compile `x` (lib test) due to 1 previous error\n"
            ),
            None
        );
        // unittest: what ran, less what failed, errored or was skipped.
        let unittest = "FAIL: test_a (t.T.test_a)\n----------------------------------------------------------------------\nRan 3 tests in 0.003s\n\nFAILED (failures=1, errors=1)\nadded 1\n";
        assert_eq!(tally(unittest), t(1, 2));
        assert_eq!(
            tally(
                "----------------------------------------------------------------------\nRan 1 test in 0.000s\n\nFAILED (errors=1)\n"
            ),
            t(0, 1)
        );
        assert_eq!(tally("Ran 4 tests in 0.010s\n\nOK (skipped=1)\n"), t(3, 0));
        // pytest, verbose and -q.
        assert_eq!(
            tally(
                "E   assert 2 == 3\n=========================== short test summary info ============================\nFAILED test_x.py::test_a - assert 2 == 3\n========================= 1 failed, 2 passed, 1 error in 0.05s =========================\n"
            ),
            t(2, 2)
        );
        assert_eq!(tally(".F.\n1 failed, 2 passed in 0.01s\n"), t(2, 1));
        // Jest, Vitest, Node's runner (TAP and spec), Mocha, go test -v.
        assert_eq!(
            tally(
                "Test Suites: 1 failed, 1 total\nTests:       1 failed, 4 passed, 5 total\nSnapshots:   0 total\n"
            ),
            t(4, 1)
        );
        assert_eq!(
            tally(" Test Files  1 failed (1)\n      Tests  2 failed | 3 passed (5)\n"),
            t(3, 2)
        );
        assert_eq!(
            tally("# tests 3\n# suites 0\n# pass 2\n# fail 1\n# cancelled 0\n"),
            t(2, 1)
        );
        assert_eq!(tally("ℹ tests 3\nℹ pass 3\nℹ fail 0\n"), t(3, 0));
        assert_eq!(
            tally("  2 passing (5ms)\n  1 failing\n\n  1) adds:\n"),
            t(2, 1)
        );
        assert_eq!(
            tally(
                "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n    --- FAIL: TestB/sub (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\n"
            ),
            t(1, 2)
        );
        // A verify command that is no test runner.
        assert_eq!(tally("src/a.js:3:1: error: unexpected token\n"), None);
        assert_eq!(
            tally(
                "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n'a' !== 'b'\n"
            ),
            None
        );
    }

    #[test]
    fn a_run_is_worse_when_fewer_tests_pass_or_as_many_pass_and_more_fail() {
        let t = |passed, failed| Some(Tally { passed, failed });
        assert!(worse(t(0, 1), t(1, 2)));
        assert!(worse(t(1, 2), t(1, 1)));
        assert!(!worse(t(2, 5), t(1, 0)));
        assert!(!worse(t(1, 1), t(1, 1)));
        // Tests that did not build or load pass none: worse than a run where one passed, not than one where
        // none did (a try that does not compile yet is not undone for a stub); two such runs are alike.
        assert!(worse(None, t(1, 3)));
        assert!(!worse(None, t(0, 3)));
        assert!(!worse(t(0, 3), None));
        assert!(!worse(None, None));
    }
}
