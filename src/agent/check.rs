//! The project's check: which command it is (named by the config, the task or the project's instructions, else
//! detected), and one typed report of each run (which runner, how many tests passed and failed, and whether any
//! test ran at all). A run that executed no test is *not run*: never a pass.

use std::path::Path;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::verify::{Tally, detect, tally};

/// Where the check command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// `agent.verify` in the config.
    Config,
    /// The task text names it.
    Task,
    /// The project's instructions (AGENTS.md) name it.
    Instructions,
    /// The project's README (or CONTRIBUTING) names it; docs go stale, so like a guess it must run at least one
    /// test to count as a check.
    Readme,
    /// Guessed from the project's files; it must run at least one test to count as a check.
    Detected,
}

impl CheckSource {
    /// Whether a person or the project named the command (a named check that runs no test has failed).
    pub fn named(self) -> bool {
        !matches!(self, CheckSource::Detected | CheckSource::Readme)
    }

    /// Words for summaries.
    pub fn describe(self) -> &'static str {
        match self {
            CheckSource::Config => "the config's agent.verify",
            CheckSource::Task => "named in the task",
            CheckSource::Instructions => "named in the project's instructions",
            CheckSource::Readme => "named in the project's README",
            CheckSource::Detected => "detected from the project's files",
        }
    }
}

/// The check command and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCommand {
    /// The shell command.
    pub command: String,
    /// Where it came from.
    pub source: CheckSource,
}

/// The files a check command runs by name (`python3 test_wc.py`, `node test.js`): its words that look like
/// source files, relative to the workspace.
pub fn files_run(command: &str) -> Vec<String> {
    command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|'))
        .map(|w| w.trim_matches(|c| matches!(c, '"' | '\'' | '`')))
        .filter(|w| !w.starts_with('-') && !w.contains('='))
        .filter(|w| {
            std::path::Path::new(w)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| {
                    matches!(
                        e,
                        "py" | "js"
                            | "mjs"
                            | "cjs"
                            | "ts"
                            | "rb"
                            | "sh"
                            | "go"
                            | "rs"
                            | "php"
                            | "pl"
                    )
                })
        })
        .map(|w| w.trim_start_matches("./").to_string())
        .collect()
}

/// Whether `agent.verify` turns the check off (`none` or `off`).
pub fn disabled(configured: &str) -> bool {
    matches!(configured.trim(), "none" | "off")
}

/// The check for a session: `configured` (`agent.verify`: empty = find one, `none`/`off` = no check), else a
/// test command the task names, else one the instructions name, else one the project's README or CONTRIBUTING
/// names, else one detected from the files.
pub fn choose(
    workspace: &Path,
    configured: &str,
    task: &str,
    instructions: Option<&str>,
) -> Option<CheckCommand> {
    let named = |command: String, source| Some(CheckCommand { command, source });
    if disabled(configured) {
        return None;
    }
    match configured.trim() {
        "" => {}
        cmd => return named(cmd.to_string(), CheckSource::Config),
    }
    if let Some(cmd) = named_command(task) {
        return named(cmd, CheckSource::Task);
    }
    if let Some(cmd) = instructions.and_then(named_command) {
        return named(cmd, CheckSource::Instructions);
    }
    if let Some(cmd) = project_docs(workspace).find_map(|text| named_command(&text)) {
        return named(cmd, CheckSource::Readme);
    }
    detect(workspace).map(|command| CheckCommand {
        command,
        source: CheckSource::Detected,
    })
}

/// The files a project tells contributors how to run its tests in, at the workspace's top.
const PROJECT_DOCS: &[&str] = &[
    "README.md",
    "README",
    "README.rst",
    "README.txt",
    "CONTRIBUTING.md",
];

/// Bytes of a project doc read for a test command.
const PROJECT_DOC_MAX: u64 = 256 * 1024;

/// The text of each project doc there is, through the symlink-safe reader tandem reads its own files with (a
/// link, a FIFO or anything but a regular file is not read), each within [`PROJECT_DOC_MAX`].
fn project_docs(workspace: &Path) -> impl Iterator<Item = String> + '_ {
    PROJECT_DOCS.iter().filter_map(move |name| {
        let bytes = crate::sandbox::state::read(&workspace.join(name), PROJECT_DOC_MAX).ok()??;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// Programs a test command starts with.
const RUNNERS: &[&str] = &[
    "python3",
    "python",
    "pytest",
    "py.test",
    "node",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "bun",
    "deno",
    "cargo",
    "go",
    "make",
    "bash",
    "sh",
    "tox",
    "nox",
    "ruby",
    "rspec",
    "bundle",
    "mvn",
    "gradle",
    "./gradlew",
    "dotnet",
    "ctest",
    "jest",
    "vitest",
    "mocha",
    "uv",
    "poetry",
    "php",
    "phpunit",
    "swift",
    "mix",
];

/// Runners whose every use is a test run.
const TEST_RUNNERS: &[&str] = &[
    "pytest", "py.test", "jest", "vitest", "mocha", "ctest", "rspec", "phpunit", "tox", "nox",
];

/// The test command a text names: a code span or a fenced line (else a `run …`/`tests: …` phrase) that starts
/// with a known program and runs tests (`python3 test_x.py`, `cargo test -- --include-ignored`, `npm test`).
pub fn named_command(text: &str) -> Option<String> {
    static SPAN: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"`([^`\n]+)`").ok());
    static KEYWORD: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)(?:\brun(?:ning)?|\bwith|\busing|\btests?:|\bcheck(?:ed)? (?:with|by)|\bverify(?: with)?:?)\s+",
        )
        .ok()
    });
    static COMMAND: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"^(?:\./)?[A-Za-z0-9_./-]+(?: [^\s,;`]+)*").ok());
    let mut candidates: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            candidates.push(trimmed.trim_start_matches("$ ").to_string());
        }
    }
    if let Some(span) = SPAN.as_ref() {
        candidates.extend(span.captures_iter(text).map(|c| c[1].trim().to_string()));
    }
    if let Some(found) = candidates.iter().find(|c| is_test_command(c)) {
        return Some(found.clone());
    }
    let (keyword, command) = (KEYWORD.as_ref()?, COMMAND.as_ref()?);
    keyword.find_iter(text).find_map(|k| {
        let found = command.find(&text[k.end()..])?.as_str();
        // A bare command ends where its sentence or clause does: `run python3 test_x.py to check.`
        let mut cmd = found;
        for stop in [
            ". ", " to ", " and ", " then ", " before ", " after ", " so ", " until ", " when ",
            " which ", " that ",
        ] {
            if let Some(at) = cmd.find(stop) {
                cmd = &cmd[..at];
            }
        }
        let cmd = cmd.trim_end_matches(['.', ':', ')']).to_string();
        is_test_command(&cmd).then_some(cmd)
    })
}

/// Whether `command` starts with a known program and runs tests.
fn is_test_command(command: &str) -> bool {
    let command = command.trim();
    if command.is_empty() || command.len() > 300 || command.contains('\n') {
        return false;
    }
    let Some(program) = command.split_whitespace().next() else {
        return false;
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    let known = RUNNERS.contains(&program)
        || RUNNERS.contains(&base)
        || (program.starts_with("./") && program.len() > 2);
    if !known {
        return false;
    }
    if TEST_RUNNERS.contains(&base) {
        return true;
    }
    let lower = command.to_ascii_lowercase();
    ["test", "spec", "check"].iter().any(|w| lower.contains(w))
}

/// What a run of the check showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Tests ran and none failed (or, for a command that reports no count, it exited 0).
    Passed,
    /// A test failed, or the command failed.
    Failed,
    /// No test was executed: not a pass, whatever the exit code.
    NotRun,
}

/// One run of the check, read once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The runner whose summary was read (`unittest`, `pytest`, `cargo test`, …), or `exit status` when the
    /// output has no summary tandem reads.
    pub runner: String,
    /// Tests passed, where the runner says.
    pub passed: Option<u32>,
    /// Tests failed, where the runner says.
    pub failed: Option<u32>,
    /// The command's exit code (`None`: killed or timed out).
    pub exit_code: Option<i32>,
    /// The verdict.
    pub verdict: Verdict,
}

impl CheckReport {
    /// Reads a run: its output and how it exited.
    pub fn read(output: &str, exit_code: Option<i32>, success: bool) -> Self {
        let summary = runner_summary(output);
        let (runner, t) = match summary {
            Some((runner, t)) => (runner.to_string(), Some(t)),
            None => ("exit status".to_string(), None),
        };
        let verdict = match t {
            Some(t) if t.passed == 0 && t.failed == 0 => Verdict::NotRun,
            Some(t) if t.failed > 0 || !success => Verdict::Failed,
            Some(_) => Verdict::Passed,
            None if ran_no_test(output) => Verdict::NotRun,
            None if success => Verdict::Passed,
            None => Verdict::Failed,
        };
        CheckReport {
            runner,
            passed: t.map(|t| t.passed),
            failed: t.map(|t| t.failed),
            exit_code,
            verdict,
        }
    }

    /// What was verified, in words: `3 tests passed`, `1 of 4 tests failed`, `no test was run`,
    /// `exit status 0 (no test count: not a runner tandem reads)`.
    pub fn describe(&self) -> String {
        let plural = |n: u32| if n == 1 { "test" } else { "tests" };
        let exit = self.exit_code.map_or_else(
            || "no exit status".to_string(),
            |c| format!("exit status {c}"),
        );
        match (self.verdict, self.passed, self.failed) {
            (Verdict::NotRun, _, _) => {
                format!("no test was run ({} reported none; {exit})", self.runner)
            }
            (Verdict::Passed, Some(p), _) => format!("{p} {} passed ({})", plural(p), self.runner),
            (Verdict::Failed, Some(p), Some(f)) if f > 0 => {
                format!(
                    "{f} of {} {} failed ({})",
                    p + f,
                    plural(p + f),
                    self.runner
                )
            }
            (Verdict::Failed, Some(p), _) => {
                format!("{p} {} passed but the command failed ({exit})", plural(p))
            }
            (Verdict::Passed, None, _) => {
                format!(
                    "{exit} (no test count: the output is not a test runner's summary tandem reads)"
                )
            }
            (Verdict::Failed, None, _) => format!("the command failed ({exit})"),
        }
    }

    /// The tally for comparing runs (`None` when no test count was read).
    pub fn tally(&self) -> Option<Tally> {
        Some(Tally {
            passed: self.passed?,
            failed: self.failed?,
        })
    }
}

/// Which runner's summary the output has, and its count.
fn runner_summary(output: &str) -> Option<(&'static str, Tally)> {
    let t = tally(output)?;
    let has = |s: &str| output.contains(s);
    let runner = if has("test result: ") {
        "cargo test"
    } else if output
        .lines()
        .any(|l| l.trim_start().starts_with("Ran ") && l.contains(" test"))
    {
        "unittest"
    } else if has("Tests:") {
        "jest"
    } else if output.lines().any(|l| l.trim_start().starts_with("Tests ")) {
        "vitest"
    } else if has("# pass ") || has("ℹ pass ") {
        "node --test"
    } else if has(" passing (") {
        "mocha"
    } else if has("--- PASS:") || has("--- FAIL:") {
        "go test"
    } else {
        "pytest"
    };
    Some((runner, t))
}

/// Whether output without a summary says no test ran (go's `no test files`, Jest's `No tests found`, pytest's
/// `no tests ran`, unittest's `NO TESTS RAN`, node's `# tests 0`).
fn ran_no_test(output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    if lower.contains("no tests ran")
        || lower.contains("no tests found")
        || lower.contains("no tests to run")
        || lower
            .lines()
            .any(|l| l.trim() == "# tests 0" || l.trim() == "ℹ tests 0")
    {
        return true;
    }
    // go test: every package line says it has no test files.
    let go: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("?   \t") || l.starts_with("ok  \t") || l.starts_with("FAIL\t"))
        .collect();
    !go.is_empty() && go.iter().all(|l| l.contains("[no test files]"))
}

/// The first error a check's output names, in one line of at most 160 characters: for a Python traceback, the
/// exception that closes it (the cause, not the loader's wrapper); else the first line with an error, a panic,
/// or a failed test.
pub fn first_error(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    let first = lines
        .iter()
        .position(|l| {
            l.contains("Error") || l.trim_start().starts_with("error") || l.contains("panicked")
        })
        .or_else(|| lines.iter().position(|l| l.starts_with("FAIL")))?;
    // A traceback's exceptions run to the end of its block (unittest and pytest rule one off with `---` or
    // `===`): the last is the one raised.
    let block = lines[first..]
        .iter()
        .take_while(|l| !(l.starts_with("---") || l.starts_with("===") || l.starts_with("___")));
    let line = if is_exception_line(lines[first]) {
        block
            .filter(|l| is_exception_line(l))
            .last()
            .copied()
            .unwrap_or(lines[first])
    } else {
        lines[first]
    };
    Some(line.trim().chars().take(160).collect())
}

/// Whether `line` is an exception as a traceback prints it: `SyntaxError: …`, `pkg.CustomError: …`,
/// `AssertionError [ERR_ASSERTION]: …`, from the first column.
fn is_exception_line(line: &str) -> bool {
    let name_len = line
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(name_len);
    let rest = rest.trim_start();
    (name.ends_with("Error") || name.ends_with("Exception"))
        && (rest.starts_with(':') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(output: &str, code: i32) -> CheckReport {
        CheckReport::read(output, Some(code), code == 0)
    }

    #[test]
    fn the_files_a_check_runs_by_name_are_its_source_words() {
        assert_eq!(files_run("python3 test_wc.py"), ["test_wc.py"]);
        assert_eq!(
            files_run("cd app && node ./spec/run.js --verbose && python3 -m unittest"),
            ["spec/run.js"]
        );
        assert_eq!(files_run("'./check.sh' x.txt"), ["check.sh"]);
        assert!(files_run("cargo test -- --include-ignored").is_empty());
        assert!(files_run("PYTHONPATH=src.py pytest -q").is_empty());
    }

    #[test]
    fn a_run_that_executed_no_test_is_never_a_pass() {
        let cases = [
            (
                "unittest",
                "\n----------------------------------------------------------------------\nRan 0 tests in 0.000s\n\nOK\n",
                0,
            ),
            (
                "unittest 3.12",
                "\n----------------------------------------------------------------------\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n",
                5,
            ),
            (
                "cargo",
                "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
                0,
            ),
            (
                "cargo, all ignored",
                "running 3 tests\ntest a ... ignored\n\ntest result: ok. 0 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
                0,
            ),
            ("go", "?   \texample.com/m\t[no test files]\n", 0),
            ("pytest", "\nno tests ran in 0.01s\n", 5),
            ("jest", "No tests found, exiting with code 1\n", 1),
            (
                "node --test",
                "# tests 0\n# suites 0\n# pass 0\n# fail 0\n",
                0,
            ),
        ];
        for (name, output, code) in cases {
            let report = read(output, code);
            assert_eq!(report.verdict, Verdict::NotRun, "{name}: {report:?}");
            assert!(
                report.describe().starts_with("no test was run"),
                "{name}: {}",
                report.describe()
            );
        }
    }

    #[test]
    fn each_runner_says_how_many_passed_and_failed() {
        let r = read(
            "..\n----------------------------------------------------------------------\nRan 3 tests in 0.001s\n\nFAILED (failures=1)\n",
            1,
        );
        assert_eq!(
            (r.runner.as_str(), r.passed, r.failed, r.verdict),
            ("unittest", Some(2), Some(1), Verdict::Failed)
        );
        assert_eq!(r.describe(), "1 of 3 tests failed (unittest)");
        let r = read(
            "test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
            0,
        );
        assert_eq!(
            (r.runner.as_str(), r.verdict),
            ("cargo test", Verdict::Passed)
        );
        assert_eq!(r.describe(), "4 tests passed (cargo test)");
        let r = read("3 passed in 0.02s\n", 0);
        assert_eq!((r.runner.as_str(), r.passed), ("pytest", Some(3)));
        let r = read("# tests 2\n# pass 1\n# fail 1\n", 1);
        assert_eq!(
            (r.runner.as_str(), r.verdict),
            ("node --test", Verdict::Failed)
        );
        // Tests that pass under a command that still fails (a later build step, a crash) are a failure.
        let r = read(
            "test result: ok. 2 passed; 0 failed\nerror: linking failed\n",
            101,
        );
        assert_eq!(r.verdict, Verdict::Failed);
    }

    #[test]
    fn a_plain_script_is_judged_by_its_exit_status_and_says_so() {
        let ok = read("all good\n", 0);
        assert_eq!(
            (ok.runner.as_str(), ok.verdict),
            ("exit status", Verdict::Passed)
        );
        assert!(ok.describe().contains("no test count"), "{}", ok.describe());
        let bad = read("Traceback (most recent call last):\nAssertionError\n", 1);
        assert_eq!(bad.verdict, Verdict::Failed);
        assert_eq!(bad.describe(), "the command failed (exit status 1)");
        let killed = CheckReport::read("", None, false);
        assert_eq!(killed.verdict, Verdict::Failed);
    }

    #[test]
    fn the_task_names_its_test_command_in_many_ways() {
        let cases = [
            (
                "Implement add in calc.py. Run `python3 test_calc.py` to check.",
                Some("python3 test_calc.py"),
            ),
            (
                "Make the tests pass: `cargo test -- --include-ignored`",
                Some("cargo test -- --include-ignored"),
            ),
            (
                "Fix wrap(). The tests run with node --test wrap.test.js.",
                Some("node --test wrap.test.js"),
            ),
            (
                "Tests: python3 -m pytest -q leap_test.py",
                Some("python3 -m pytest -q leap_test.py"),
            ),
            ("```sh\n$ npm test\n```\nMake it pass.", Some("npm test")),
            ("Make `go test ./...` pass", Some("go test ./...")),
            (
                "Run python3 word_count_test.py.",
                Some("python3 word_count_test.py"),
            ),
            // Not test commands: a file name, a plain word, a program that is not a runner.
            ("Edit `calc.py` so that `add` works", None),
            ("Run the linter with `ruff check .`", None),
            ("Add a --verbose flag", None),
        ];
        for (task, want) in cases {
            assert_eq!(named_command(task).as_deref(), want, "{task}");
        }
    }

    #[test]
    fn the_config_wins_then_the_task_then_the_instructions_then_detection() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let task = "Make `cargo test -- --include-ignored` pass";
        let agents = Some("## Testing\n\nRun `cargo test --all` before committing.\n");
        let c = choose(dir.path(), "make check", task, agents).unwrap();
        assert_eq!(
            (c.command.as_str(), c.source),
            ("make check", CheckSource::Config)
        );
        let c = choose(dir.path(), "", task, agents).unwrap();
        assert_eq!(
            (c.command.as_str(), c.source),
            ("cargo test -- --include-ignored", CheckSource::Task)
        );
        let c = choose(dir.path(), "", "fix the bug", agents).unwrap();
        assert_eq!(
            (c.command.as_str(), c.source),
            ("cargo test --all", CheckSource::Instructions)
        );
        let c = choose(dir.path(), "", "fix the bug", None).unwrap();
        assert_eq!(
            (c.command.as_str(), c.source),
            ("cargo test", CheckSource::Detected)
        );
        assert!(choose(dir.path(), "none", task, agents).is_none());
        // The project's README, after the instructions and before detection; a README that is a link is not
        // read, and one that names no test command is passed over.
        std::fs::write(
            dir.path().join("README.md"),
            "# x\n\nBuild with `cargo build`.\n\nTests: `cargo test --features full`.\n",
        )
        .unwrap();
        let c = choose(dir.path(), "", "fix the bug", agents).unwrap();
        assert_eq!(c.source, CheckSource::Instructions);
        let c = choose(dir.path(), "", "fix the bug", None).unwrap();
        assert_eq!(
            (c.command.as_str(), c.source),
            ("cargo test --features full", CheckSource::Readme)
        );
        assert!(
            !c.source.named(),
            "a README's command must run a test to count"
        );
        std::fs::remove_file(dir.path().join("README.md")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("R.md"), "Run `cargo test --outside`.\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("R.md"), dir.path().join("README.md"))
            .unwrap();
        let c = choose(dir.path(), "", "fix the bug", None).unwrap();
        assert_eq!(c.source, CheckSource::Detected);
    }
}
