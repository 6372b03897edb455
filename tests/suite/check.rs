//! The check cannot pass vacuously (issue #37): the test command the task names is the check; a run that
//! executed no test is never a pass; exec exits 0 only when the check really passed, or when none was named
//! and none was found, and says which.

use std::process::Command;

use super::mock::{MockServer, Reply, sse};
use super::support::Sandbox;

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A plan of one step over calc.py, an edit that leaves add() wrong, and step_done.
fn wrong_fix(server: &MockServer) {
    server.push([
        tool(
            "submit_plan",
            serde_json::json!({"summary": "Fix add", "steps": [{"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "tests pass"}]}),
        ),
        tool(
            "edit",
            serde_json::json!({"path": "calc.py", "search": "return a - b", "replace": "return a * b"}),
        ),
        tool("step_done", serde_json::json!({"summary": "fixed"})),
    ]);
}

fn cloud(cmd: &mut Command, server: &MockServer) {
    cmd.env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .env("TANDEM_PROFILES__DEFAULT__STEP_CHECKS", "0");
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Tests written as plain functions run by a script: unittest finds none of them.
const PLAIN_TESTS: &str = "import calc\n\n\ndef test_add():\n    assert calc.add(2, 3) == 5\n\n\nif __name__ == \"__main__\":\n    test_add()\n    print(\"ok\")\n";

#[test]
fn the_test_command_the_task_names_is_the_check_and_a_failing_one_is_not_done() {
    let server = MockServer::start();
    wrong_fix(&server);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    std::fs::write(s.ws().join("calc_test.py"), PLAIN_TESTS).unwrap();
    let mut cmd = s.tandem(&[
        "exec",
        "--json",
        "Fix add() in calc.py. Run `python3 calc_test.py` to check. Do not change the tests.",
    ]);
    cloud(&mut cmd, &server);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let events = events(&stdout);
    let verify = events
        .iter()
        .find(|e| e["type"] == "verify_finished")
        .unwrap_or_else(|| panic!("no verify_finished: {stdout}"));
    assert_eq!(verify["command"], "python3 calc_test.py");
    assert_eq!(verify["source"], "task");
    assert_eq!(verify["passed"], false);
    assert_eq!(verify["report"]["verdict"], "failed");
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "verify_failed", "{last}");
    assert_eq!(last["summary"]["verify_passed"], false);
    let verified = last["summary"]["verified"].as_str().unwrap();
    assert!(
        verified.contains("python3 calc_test.py") && verified.contains("failed"),
        "{verified}"
    );
}

#[test]
fn a_detected_check_that_finds_no_test_verifies_nothing_and_says_so() {
    let server = MockServer::start();
    wrong_fix(&server);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    // pyproject.toml makes the project look like Python with tests (pytest or unittest is detected); there are
    // none, and either runner says so.
    std::fs::write(
        s.ws().join("pyproject.toml"),
        "[project]\nname = \"calc\"\n",
    )
    .unwrap();
    let mut cmd = s.tandem(&["exec", "Fix add() in calc.py"]);
    cloud(&mut cmd, &server);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // Nothing was asked for and nothing was found: not a failure, but never "passed".
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Verify: not verified: the detected check")
            && stdout.contains("no test was run"),
        "{stdout}"
    );
    assert!(!stdout.contains("passed"), "{stdout}");
    assert!(stderr.contains("nothing was verified"), "{stderr}");
}

#[test]
fn no_change_and_no_check_is_unverified_not_done() {
    // The model says the step is done without touching anything, and nothing checks it: exit 6, not 0.
    let server = MockServer::start();
    server.push([
        tool(
            "submit_plan",
            serde_json::json!({"summary": "Fix add", "steps": [{"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "add works"}]}),
        ),
        tool("step_done", serde_json::json!({"summary": "it already works"})),
    ]);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    let mut cmd = s.tandem(&["exec", "--json", "Fix add() in calc.py"]);
    cloud(&mut cmd, &server);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(6), "{stdout}\n{stderr}");
    let last = events(&stdout).pop().unwrap();
    assert_eq!(last["outcome"], "unverified", "{last}");
    assert!(
        stdout.contains("nothing was changed and there is no check"),
        "{stdout}"
    );
}

#[test]
fn a_named_check_that_runs_no_test_fails() {
    let server = MockServer::start();
    wrong_fix(&server);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    std::fs::write(s.ws().join("test_calc.py"), PLAIN_TESTS).unwrap();
    let mut cmd = s.tandem(&["exec", "--json", "Fix add() in calc.py"]);
    cloud(&mut cmd, &server);
    cmd.env("TANDEM_AGENT__VERIFY", "python3 -m unittest");
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let events = events(&stdout);
    let verify = events
        .iter()
        .find(|e| e["type"] == "verify_finished")
        .unwrap();
    assert_eq!(verify["report"]["verdict"], "not_run", "{verify}");
    assert_eq!(verify["source"], "config");
    assert_eq!(verify["passed"], false);
    assert!(
        verify["verified"]
            .as_str()
            .unwrap()
            .contains("no test was run"),
        "{verify}"
    );
}

#[test]
fn a_passing_named_check_says_how_many_tests_passed() {
    let server = MockServer::start();
    server.push([
        tool(
            "submit_plan",
            serde_json::json!({"summary": "Fix add", "steps": [{"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "tests pass"}]}),
        ),
        tool(
            "edit",
            serde_json::json!({"path": "calc.py", "search": "return a - b", "replace": "return a + b"}),
        ),
        tool("step_done", serde_json::json!({"summary": "fixed"})),
    ]);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    std::fs::write(
        s.ws().join("test_calc.py"),
        "import unittest\nimport calc\n\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n\n    def test_zero(self):\n        self.assertEqual(calc.add(0, 0), 0)\n",
    )
    .unwrap();
    let mut cmd = s.tandem(&[
        "exec",
        "Fix add() in calc.py; `python3 -m unittest -v` runs the tests",
    ]);
    cloud(&mut cmd, &server);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "Verify: `python3 -m unittest -v` (named in the task): 2 tests passed (unittest)"
        ),
        "{stdout}"
    );
}
