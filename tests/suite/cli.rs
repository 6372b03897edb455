//! The `tandem` binary as a user runs it: config errors, doctor, the --plan-only demo job, unbuilt commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::Sandbox;
use crate::require_model;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `root` (except `.tandem/`) with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".tandem") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_bad_project_config_exits_2_naming_file_line_and_key() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.ws().join(".tandem")).unwrap();
    std::fs::write(
        s.ws().join(".tandem/config.toml"),
        "[local]\ncontext_size = 2048\ngpu_layer = 10\n",
    )
    .unwrap();
    let out = s.run(&["doctor", "--no-load"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let file = s.ws().canonicalize().unwrap().join(".tandem/config.toml");
    assert!(
        err.contains(&format!(
            "{}:3: `local.gpu_layer`: unknown key",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn a_bad_environment_value_exits_2_naming_the_variable() {
    let s = Sandbox::new();
    let out = s
        .tandem(&["doctor", "--no-load"])
        .env("TANDEM_LOCAL__CONTEXT_SIZE", "big")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("env TANDEM_LOCAL__CONTEXT_SIZE: `local.context_size`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn doctor_shows_sources_and_masks_keys() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.root.join("config")).unwrap();
    std::fs::write(s.root.join("config/config.toml"), "[local]\nthreads = 3\n").unwrap();
    let key = "sk-live-abcdefghijklmnopqrstuvwxyz0123";
    let out = s
        .tandem(&["--offline", "--ctx-size", "2048", "doctor", "--no-load"])
        .env("OPENAI_API_KEY", key)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains(key) && !text(&out.stderr).contains(key),
        "the key leaked"
    );
    let line = |k: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(k))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("local.threads =").ends_with(&format!(
            "{}:2",
            s.root.join("config/config.toml").display()
        )),
        "{stdout}"
    );
    assert!(
        line("local.context_size =").ends_with("flag --ctx-size"),
        "{stdout}"
    );
    assert!(
        line("providers.openai.api_key =").contains("sk-…0123"),
        "{stdout}"
    );
    assert!(
        line("providers.openai.api_key =").ends_with("env OPENAI_API_KEY"),
        "{stdout}"
    );
    assert!(stdout.contains("not checked (--offline)"), "{stdout}");
    // No demo model in this sandbox's cache: the model check fails and says how to fetch it.
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("scripts/fetch-demo-model.sh"), "{stdout}");
}

#[test]
fn a_missing_prompt_file_and_no_terminal_are_explained() {
    let s = Sandbox::new();
    let out = s.run(&["loop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no prompt file at") && text(&out.stderr).contains("PROMPT.md"),
        "{}",
        text(&out.stderr)
    );
    // Without a terminal, the UI says how to run headless instead of drawing into a pipe.
    let out = s.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a terminal") && text(&out.stderr).contains("tandem exec"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_model_exits_3_naming_the_path() {
    let s = Sandbox::new();
    let out = s.run(&[
        "--model",
        "/no/such/model.gguf",
        "exec",
        "--plan-only",
        "add a flag",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("model file not found: /no/such/model.gguf"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plan_only_on_the_example_repo_prints_and_saves_a_plan_and_changes_nothing() {
    let (model, _model_lock) = require_model!();
    let s = Sandbox::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/todo-cli");
    copy_dir(&example, &s.ws());
    let _ = std::fs::remove_dir_all(s.ws().join(".tandem"));
    let before = snapshot(&s.ws());
    let out = s
        .tandem(&[
            "exec",
            "--plan-only",
            "Add a done command that marks an item as completed",
        ])
        .env("TANDEM_MODEL", &model)
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.starts_with("# Plan: "), "{stdout}");
    assert!(stdout.contains("1. **"), "{stdout}");
    assert!(
        stdout.contains("_Planned by local/") && stdout.contains(" (no cloud API key is set)._"),
        "{stdout}"
    );
    assert_eq!(snapshot(&s.ws()), before, "--plan-only changed files");

    let plans: Vec<PathBuf> = std::fs::read_dir(s.ws().join(".tandem/plans"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(plans.len(), 1);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plans[0]).unwrap()).unwrap();
    assert_eq!(
        saved["task"],
        "Add a done command that marks an item as completed"
    );
    assert_eq!(saved["planner"]["provider"], "local");
    let plan: tandem::protocol::Plan = serde_json::from_value(saved["plan"].clone()).unwrap();
    assert!(!plan.steps.is_empty());

    // llama.cpp's own logging goes to the log file, never to the terminal.
    assert!(
        !stderr.contains("llama_model_loader") && !stderr.contains("load_tensors"),
        "{stderr}"
    );
    let logs: String = std::fs::read_dir(s.root.join("state/logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("local model loaded"), "log file: {logs}");
    assert!(logs.contains("llama"), "llama.cpp lines reach the log");
}

#[test]
fn plan_only_with_a_cloud_key_plans_in_the_cloud_and_spend_shows_it() {
    let server = super::mock::MockServer::start();
    let plan = r#"{"summary":"Add a done command","steps":[{"id":1,"goal":"Add done() to todo.py","files":["todo.py"],"done_when":"python3 -m unittest passes"}]}"#;
    let plan_reply = super::mock::sse::openai::reply(plan, 2400, 2000, 80);
    server.respond_with(move |req, _| match req.path.as_str() {
        "/v1/models" => super::mock::Reply::Status {
            status: 200,
            headers: vec![],
            body: r#"{"data":[]}"#.into(),
        },
        _ => super::mock::Reply::Sse(plan_reply.clone()),
    });
    let s = Sandbox::new();
    std::fs::write(s.ws().join("todo.py"), "def add(x):\n    pass\n").unwrap();
    let key = "sk-proj-cloudtestkey0123456789";
    let with_cloud = |cmd: &mut Command| {
        cmd.env("OPENAI_API_KEY", key)
            .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
            .env("TANDEM_MODEL", "/nonexistent.gguf");
    };
    let mut cmd = s.tandem(&["exec", "--plan-only", "Add a done command"]);
    with_cloud(&mut cmd);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1. **Add done() to todo.py**"), "{stdout}");
    assert!(
        stdout.contains("_Planned by openai/gpt-5.1 (configured)._"),
        "{stdout}"
    );
    assert!(
        stderr.contains("planner → openai/gpt-5.1 (configured)"),
        "{stderr}"
    );
    assert!(!stdout.contains(key) && !stderr.contains(key));
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].json()["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("todo.py"),
        "the overview went along"
    );

    let mut cmd = s.tandem(&["spend", "--json"]);
    with_cloud(&mut cmd);
    let out = cmd.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["today"]["requests"], 1);
    assert_eq!(report["today"]["usage"]["input_tokens"], 400);
    assert_eq!(report["today"]["usage"]["cached_input_tokens"], 2000);
    assert_eq!(report["today"]["usage"]["output_tokens"], 80);
    let usd = report["today"]["usd"].as_f64().unwrap();
    assert!(
        (usd - (400.0 * 1.25 + 2000.0 * 0.125 + 80.0 * 10.0) / 1e6).abs() < 1e-12,
        "{usd}"
    );
    assert_eq!(report["by_model"][0]["model"], "gpt-5.1");

    let mut cmd = s.tandem(&["doctor", "--no-load"]);
    with_cloud(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("provider openai")
            && stdout.contains("reachable, key accepted (env OPENAI_API_KEY)"),
        "{stdout}"
    );
    assert!(!stdout.contains(key));
}

#[test]
fn exec_runs_a_whole_session_as_json_events_and_undo_restores_the_file() {
    use super::mock::{MockServer, Reply, sse};
    let tool = |name: &str, args: serde_json::Value| {
        Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
    };
    let server = MockServer::start();
    server.push([
        tool("submit_plan", serde_json::json!({"summary": "Fix add", "steps": [{"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "tests pass"}]})),
        tool("edit", serde_json::json!({"path": "calc.py", "search": "return a - b", "replace": "return a + b"})),
        tool("step_done", serde_json::json!({"summary": "fixed"})),
    ]);
    let s = Sandbox::new();
    let calc = "def add(a, b):\n    return a - b\n";
    std::fs::write(s.ws().join("calc.py"), calc).unwrap();
    std::fs::write(s.ws().join("test_calc.py"), "import unittest\nimport calc\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n").unwrap();
    let cloud = |cmd: &mut Command| {
        cmd.env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
            .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
            .env("TANDEM_EXECUTOR", "openai")
            .env("TANDEM_AGENT__VERIFY", "python3 -m unittest -q");
    };
    let mut cmd = s.tandem(&["exec", "--json", "Fix add()"]);
    cloud(&mut cmd);
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "session_started",
        "route",
        "plan_ready",
        "tool_call",
        "edit_proposed",
        "edit_applied",
        "usage",
        "verify_finished",
        "session_finished",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    assert_eq!(events.last().unwrap()["outcome"], "done");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "events are numbered in order"
    );
    assert_eq!(
        std::fs::read_to_string(s.ws().join("calc.py")).unwrap(),
        calc.replace("a - b", "a + b")
    );

    let out = s.run(&["undo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("calc.py"));
    assert_eq!(
        std::fs::read_to_string(s.ws().join("calc.py")).unwrap(),
        calc
    );
    let out = s.run(&["undo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing left to undo"));
    let session = events[0]["session"].as_str().unwrap();
    let transcript =
        std::fs::read_to_string(s.ws().join(format!(".tandem/sessions/{session}.jsonl"))).unwrap();
    assert!(
        transcript
            .lines()
            .last()
            .unwrap()
            .contains("\"type\":\"undone\"")
    );
}

#[test]
fn tandem_sandbox_runs_a_command_confined_and_says_what_the_policy_decides() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.ws().join(".tandem")).unwrap();
    std::fs::write(
        s.ws().join(".tandem/config.toml"),
        "[agent]\ncommands = \"untrusted\"\n\n[sandbox]\ndeny = [\"rm -rf *\"]\n",
    )
    .unwrap();
    let out = s.run(&["sandbox", "echo inside > made.txt; cat made.txt"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(text(&out.stdout).trim(), "inside");
    assert!(
        err.contains("policy:  Ask") && err.contains("sandbox: "),
        "{err}"
    );
    let out = s.run(&["sandbox", "rm -rf nothing-here"]);
    assert!(
        text(&out.stderr).contains("Refuse (denied by rule `rm -rf *`)"),
        "{}",
        text(&out.stderr)
    );
    // A bad rule is a config error naming the key (once the workspace is trusted: before, an allow rule
    // from the project is ignored, since allowing widens).
    std::fs::write(
        s.ws().join(".tandem/config.toml"),
        "[sandbox]\nallow = [\"a; b\"]\n",
    )
    .unwrap();
    let out = s.run(&["--trust", "sandbox", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("sandbox.allow"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tandem_map_prints_the_ranked_map_and_a_second_run_parses_nothing() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.ws().join("src")).unwrap();
    std::fs::write(
        s.ws().join("src/parser.py"),
        "def parse_config(text):\n    return text\n",
    )
    .unwrap();
    std::fs::write(
        s.ws().join("src/main.py"),
        "from parser import parse_config\n\ndef main():\n    parse_config('x')\n",
    )
    .unwrap();
    let out = s.run(&["map", "--budget", "200", "--focus", "fix main.py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let map = text(&out.stdout);
    // The named file's neighbour (what it calls) comes first.
    assert!(
        map.starts_with("src/parser.py:\n    1│ def parse_config(text):"),
        "{map}"
    );
    assert!(map.contains("src/main.py:\n    3│ def main():"), "{map}");
    assert!(
        text(&out.stderr).contains("2 files, 2 parsed, 0 from the cache"),
        "{}",
        text(&out.stderr)
    );
    let again = s.run(&["map"]);
    assert!(
        text(&again.stderr).contains("2 files, 0 parsed, 2 from the cache"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_follow_up_continues_the_session_and_the_planner_sees_the_earlier_turn() {
    use super::mock::{MockServer, Reply, sse};
    let tool = |name: &str, args: serde_json::Value| {
        Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
    };
    let server = MockServer::start();
    server.push([
        tool("submit_plan", serde_json::json!({"summary": "Fix add", "steps": [{"id": 1, "goal": "Make add() add", "files": ["calc.py"], "done_when": "add works"}]})),
        tool("edit", serde_json::json!({"path": "calc.py", "search": "return a - b", "replace": "return a + b"})),
        tool("step_done", serde_json::json!({"summary": "add fixed"})),
        tool("submit_plan", serde_json::json!({"summary": "Add sub", "steps": [{"id": 1, "goal": "Add sub()", "files": ["calc.py"], "done_when": "sub exists"}]})),
        tool("edit", serde_json::json!({"path": "calc.py", "search": "return a + b", "replace": "return a + b\n\n\ndef sub(a, b):\n    return a - b"})),
        tool("step_done", serde_json::json!({"summary": "sub added"})),
    ]);
    let s = Sandbox::new();
    std::fs::write(s.ws().join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    let cloud = |cmd: &mut Command| {
        cmd.env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
            .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
            .env("TANDEM_EXECUTOR", "openai");
    };
    let mut cmd = s.tandem(&["exec", "--json", "Fix add()"]);
    cloud(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    let id = first["session"].as_str().unwrap().to_string();

    // The follow-up goes on in the same session, through --continue.
    let mut cmd = s.tandem(&["exec", "--json", "--continue", "now add a sub() function"]);
    cloud(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("\"session\":\"{id}\"")),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(s.ws().join("calc.py"))
            .unwrap()
            .contains("def sub")
    );
    let requests = server.requests();
    let planner_second = requests
        .iter()
        .map(|r| r.json().to_string())
        .filter(|body| body.contains("submit_plan"))
        .nth(1)
        .expect("a second planner request");
    assert!(
        planner_second.contains("Earlier in this session")
            && planner_second.contains("Turn 1: Fix add()")
            && planner_second.contains("add fixed")
            && planner_second.contains("Follow-up task"),
        "{planner_second}"
    );
    // One transcript holds both turns, and a replay sees the first as history.
    let transcript =
        std::fs::read_to_string(s.ws().join(format!(".tandem/sessions/{id}.jsonl"))).unwrap();
    assert_eq!(
        transcript.matches("\"type\":\"session_started\"").count(),
        2
    );
    assert_eq!(
        transcript.matches("\"type\":\"session_finished\"").count(),
        2
    );

    // A finished session without a follow-up task is refused with the reason; a wrong id too.
    let out = s.run(&["exec", "--resume", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("give a follow-up task"),
        "{}",
        text(&out.stderr)
    );
    let out = s.run(&["exec", "--resume", "nope", "x"]);
    assert!(
        text(&out.stderr).contains("no session `nope`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tandem_state_stays_out_of_git_status_without_touching_the_users_gitignore() {
    let s = Sandbox::new();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(s.ws())
            .env("HOME", s.root.join("home"))
            .output()
            .unwrap()
    };
    git(&["init", "-q"]);
    std::fs::write(s.ws().join(".gitignore"), "target/\n").unwrap();
    std::fs::write(s.ws().join("a.py"), "x = 1\n").unwrap();
    // A plan-only run on the local model writes sessions and plans under .tandem/ (or fails without a
    // model); either way tandem's folder must not show up.
    std::fs::create_dir_all(s.ws().join(".tandem")).unwrap();
    std::fs::write(
        s.ws().join(".tandem/config.toml"),
        "[agent]\nmax_rounds = 2\n",
    )
    .unwrap();
    let _ = s.run(&[
        "--offline",
        "--model",
        "/nonexistent.gguf",
        "exec",
        "--plan-only",
        "x",
    ]);
    assert!(s.ws().join(".tandem/sessions").is_dir());
    let status = text(&git(&["status", "--porcelain", "--untracked-files=all"]).stdout);
    let listed: Vec<&str> = status.lines().collect();
    assert!(listed.contains(&"?? .tandem/config.toml"), "{status}");
    assert!(
        listed
            .iter()
            .all(|l| !l.contains(".tandem/") || l.ends_with(".tandem/config.toml")),
        "{status}"
    );
    assert_eq!(
        std::fs::read_to_string(s.ws().join(".gitignore")).unwrap(),
        "target/\n"
    );
}

#[test]
fn completions_and_man_page_print_without_a_workspace() {
    let s = Sandbox::new();
    let out = s.run(&["-C", "/nonexistent", "completions", "fish"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("complete -c tandem"));
    let out = s.run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains(".TH tandem"));
    // A workspace that does not exist is bad usage: exit 2, naming it.
    let out = s.run(&["-C", "/nonexistent", "exec", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent"));
}

#[test]
fn version_says_the_commit_the_features_and_what_llama_cpp_is_built_for() {
    let s = Sandbox::new();
    let out = s.run(&["--version"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with(&format!("tandem {}", env!("CARGO_PKG_VERSION"))),
        "{said}"
    );
    let commit = said
        .lines()
        .find_map(|l| l.strip_prefix("commit:"))
        .unwrap_or_else(|| panic!("{said}"))
        .trim();
    // Built from this checkout: the commit is a hexadecimal id (or says why there is none).
    assert!(
        commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.starts_with("unknown"),
        "{said}"
    );
    assert!(said.contains("\nfeatures:  "), "{said}");
    if cfg!(all(target_arch = "x86_64", not(target_feature = "avx512f"))) {
        assert!(said.contains("llama.cpp: x86-64-v3"), "{said}");
    }
    // -V stays the one line.
    let short = text(&s.run(&["-V"]).stdout);
    assert_eq!(short.lines().count(), 1, "{short}");
}

#[test]
fn doctor_checks_every_link_and_replica_and_says_a_served_model_mismatch() {
    use super::mock::{MockServer, Reply};
    let listing = |ids: &'static [&'static str]| {
        move |_: &super::mock::Recorded, _: usize| {
            Reply::Status {
            status: 200,
            headers: vec![],
            body: serde_json::json!({"object": "list", "data": ids.iter().map(|id| serde_json::json!({"id": id, "object": "model"})).collect::<Vec<_>>()}).to_string(),
        }
        }
    };
    // A llama-server behind OPENAI_BASE_URL serving another model, and a team server with two replicas.
    let llama = MockServer::start();
    llama.respond_with(listing(&["qwen2.5-coder-7b-instruct"]));
    let gpu1 = MockServer::start();
    gpu1.respond_with(listing(&["qwen3-coder-30b"]));
    let gpu2 = MockServer::start();
    gpu2.respond_with(|_, _| Reply::error(401, &[], "unauthorized"));
    let s = Sandbox::new();
    std::fs::create_dir_all(s.root.join("config")).unwrap();
    std::fs::write(
        s.root.join("config/config.toml"),
        format!(
            "[planner]\nprovider = \"openai\"\nfallback = [\"team\"]\n\
             [providers.team]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nreplicas = [\"{}/v1\"]\n\
             model = \"qwen3-coder-30b\"\nboundary = \"inside\"\napi_key_env = \"TEAM_KEY\"\n",
            gpu1.url, gpu2.url
        ),
    )
    .unwrap();
    let out = s
        .tandem(&["doctor", "--no-load"])
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", llama.url))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    for needle in [
        "planner chain",
        "openai → team → local",
        "serves qwen2.5-coder-7b-instruct, not the configured `gpt-5.1`",
        "provider team@1",
        "reachable, no key needed (inside the trust boundary)",
        "provider team@2",
        "key refused (HTTP 401; no key): check $TEAM_KEY",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    assert_eq!(out.status.code(), Some(1), "a refused replica fails doctor");
    assert!(!stdout.contains("sk-test-0123456789abcdef"));
}

#[test]
fn config_schema_is_derived_from_the_types_and_checks_a_config_as_tandem_reads_it() {
    let s = Sandbox::new();
    let out = s.tandem(&["config", "schema"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let as_json = |toml_text: &str| -> serde_json::Value {
        serde_json::to_value(toml::from_str::<toml::Value>(toml_text).unwrap()).unwrap()
    };
    // The documented reference config (every key at its default) is valid.
    let doc = include_str!("../../docs/CONFIG.md");
    let start = doc.find("```toml\n[local]").unwrap() + "```toml\n".len();
    let reference = &doc[start..start + doc[start..].find("```").unwrap()];
    let errors: Vec<String> = validator
        .iter_errors(&as_json(reference))
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // What tandem refuses to load, the schema refuses too: an unknown key, a wrong type, an unknown policy.
    for bad in [
        "[sandbox]\nnetwrok = true\n",
        "[local]\nthreads = \"two\"\n",
        "[agent]\ncommands = \"sometimes\"\n",
        "[providers.x]\nkind = \"openai\"\nbase_ur = \"http://h\"\n",
    ] {
        assert!(!validator.is_valid(&as_json(bad)), "{bad}");
    }
    assert!(validator.is_valid(&as_json(
        "[sandbox]\nprotect = [\"deploy/prod.yaml\"]\n[prices.\"my-model\"]\ninput = 1.0\noutput = 2.0\n"
    )));
}
