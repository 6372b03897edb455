//! Headless runs through the real binary: saved plans executed offline, a ralph loop that survives cloud rate
//! limits, and Ctrl-C that leaves no half-written file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use super::mock::{MockServer, Reply, sse};
use super::support::Sandbox;
use crate::require_model;

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
}

fn stray_temp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with(".tandem-tmp-") {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_saved_plan_runs_later_offline_and_plan_only_changes_nothing() {
    let (model, _model_lock) = require_model!();
    let b = Sandbox::new();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let server = MockServer::start();
    server.push([tool("submit_plan", serde_json::json!({"summary": "Add a line to notes", "steps": [
        {"id": 1, "goal": "Add the line 'hello' to notes.md", "files": ["notes.md"], "done_when": "notes.md has hello"}]}))]);
    let before = std::fs::read(b.ws().join("notes.md")).unwrap();
    let out = b
        .tandem(&["exec", "--plan-only", "--json", "Add hello to notes.md"])
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["plan"]["steps"][0]["files"][0], "notes.md");
    assert_eq!(printed["planner"]["provider"], "openai");
    assert_eq!(
        std::fs::read(b.ws().join("notes.md")).unwrap(),
        before,
        "--plan-only changed nothing"
    );
    let saved: Vec<PathBuf> = std::fs::read_dir(b.ws().join(".tandem/plans"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(saved.len(), 1);
    drop(server);

    // Later, offline, on the local model: the saved plan runs without planning again.
    let plan = saved[0].display().to_string();
    let out = b
        .tandem(&["--offline", "exec", "--json", "--plan", &plan])
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("TANDEM_MODEL", &model)
        .env("TANDEM_AGENT__MAX_STEP_TURNS", "2")
        .env("TANDEM_AGENT__MAX_STEP_ATTEMPTS", "1")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_LOCAL__MAX_TOKENS", "256")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == "plan_ready").count(), 1);
    assert_eq!(
        events.iter().find(|e| e["type"] == "plan_ready").unwrap()["plan"]["summary"],
        "Add a line to notes"
    );
    let routes: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "route").collect();
    assert!(
        !routes.is_empty() && routes.iter().all(|r| r["decision"]["provider"] == "local"),
        "offline: all local"
    );
    assert!(
        routes.iter().all(|r| r["decision"]["role"] == "executor"),
        "no planner request: {routes:?}"
    );
    assert!(events.last().unwrap()["type"] == "session_finished");
}

#[test]
fn a_ten_iteration_loop_survives_rate_limit_windows_and_its_ledger_matches_the_server() {
    let (model, _model_lock) = require_model!();
    let b = Sandbox::new();
    std::fs::write(b.ws().join("PROMPT.md"), "Keep notes.md tidy.\n").unwrap();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let server = MockServer::start();
    let served = Arc::new(Mutex::new((0u64, 0u64)));
    {
        let served = served.clone();
        let progress_file = b.ws().join(".tandem/progress.md");
        server.respond_with(move |req, _| {
            let body = req.json();
            let has_tool = |name: &str| body["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["function"]["name"] == name));
            let forced_plan = body.get("response_format").is_some();
            let planner = has_tool("submit_plan") || forced_plan;
            // The cloud is rate-limited in alternating windows of iterations: 3-4 and 7-8. The current iteration
            // is one past those the loop's own progress file records: the prompt is no guide, since the model
            // writes notes.md, which the next prompts show (a model may write any text there, "This is iteration 8" included).
            let iteration = std::fs::read_to_string(&progress_file)
                .map(|text| {
                    text.lines()
                        .filter(|l| {
                            l.strip_prefix("## Iteration ")
                                .and_then(|rest| rest.split(' ').next())
                                .is_some_and(|n| n.parse::<u32>().is_ok())
                        })
                        .count() as u32
                })
                .unwrap_or(0)
                + 1;
            if matches!(iteration, 3 | 4 | 7 | 8) {
                return Reply::error(429, &[("retry-after", "2")], "Rate limit reached for requests");
            }
            let mut s = served.lock().unwrap();
            s.0 += 500;
            s.1 += 40;
            let plan = serde_json::json!({"summary": "Tidy notes", "steps": [
                {"id": 1, "goal": "Check notes.md", "files": ["notes.md"], "done_when": "it reads well"}]});
            if forced_plan {
                Reply::Sse(sse::openai::reply(&plan.to_string(), 500, 0, 40))
            } else if planner {
                tool("submit_plan", plan)
            } else {
                tool("step_done", serde_json::json!({"summary": "checked"}))
            }
        });
    }
    let out = b
        .tandem(&["loop", "--max-iterations", "10", "--max-idle", "0"])
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_MODEL", &model)
        .env("TANDEM_LOCAL__CONTEXT_SIZE", "4096")
        .env("TANDEM_LOCAL__MAX_TOKENS", "192")
        .env("TANDEM_AGENT__MAX_STEP_TURNS", "1")
        .env("TANDEM_AGENT__MAX_STEP_ATTEMPTS", "1")
        .env("TANDEM_AGENT__MAX_PLANNER_TURNS", "1")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .env("TANDEM_AGENT__VERIFY", "none")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tandem loop: iteration "))
        .collect();
    assert_eq!(lines.len(), 10, "{stderr}");
    let routes: Vec<bool> = lines
        .iter()
        .map(|l| l.contains("planner local ("))
        .collect();
    let to_local = routes.windows(2).filter(|w| !w[0] && w[1]).count();
    let to_cloud = routes.windows(2).filter(|w| w[0] && !w[1]).count();
    assert!(
        to_local >= 2 && to_cloud >= 2,
        "routes {routes:?}\n{stderr}"
    );
    assert!(
        stderr.contains("tandem loop: the planner is now local/"),
        "the loop says so: {stderr}"
    );
    assert!(
        stderr.contains("tandem loop: the planner is now openai/gpt-5.1"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped: --max-iterations 10"), "{stderr}");

    let ledger =
        tandem::spend::Ledger::open(&tandem::spend::Ledger::default_path(&b.root.join("data")))
            .unwrap();
    let rows = ledger.rows_since(0).unwrap();
    let cloud: Vec<_> = rows.iter().filter(|r| !r.local).collect();
    let input: u64 = cloud.iter().map(|r| r.usage.total_input()).sum();
    let output: u64 = cloud.iter().map(|r| r.usage.output_tokens).sum();
    assert_eq!((input, output), *served.lock().unwrap(), "ledger vs server");
    assert!(
        rows.iter().any(|r| r.local),
        "local fallback requests are in the ledger too"
    );
    let progress = std::fs::read_to_string(b.ws().join(".tandem/progress.md")).unwrap();
    assert_eq!(progress.matches("## Iteration ").count(), 10);
}

#[test]
fn ctrl_c_mid_session_leaves_every_file_whole() {
    let b = Sandbox::new();
    let server = MockServer::start();
    let big: String = (0..20_000)
        .map(|i| format!("line {i} of a large generated file\n"))
        .collect();
    server.push([
        tool(
            "submit_plan",
            serde_json::json!({"summary": "Write files", "steps": [
            {"id": 1, "goal": "Write big.txt", "files": ["big.txt"], "done_when": "it exists"},
            {"id": 2, "goal": "Write more", "files": ["more.txt"], "done_when": "it exists"}]}),
        ),
        tool(
            "write_file",
            serde_json::json!({"path": "big.txt", "content": big}),
        ),
        Reply::Delayed(
            std::time::Duration::from_secs(20),
            Box::new(tool("step_done", serde_json::json!({"summary": "done"}))),
        ),
    ]);
    let mut child = b
        .tandem(&["exec", "Write the files"])
        .env("TANDEM_LOCAL__THREADS", "2")
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let applied = line.contains("✎ big.txt");
        seen.push(line);
        if applied {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert_eq!(
        std::fs::read_to_string(b.ws().join("big.txt")).unwrap(),
        big,
        "the written file is whole"
    );
    assert!(!b.ws().join("more.txt").exists());
    assert_eq!(stray_temp_files(&b.ws()), Vec::<PathBuf>::new());
    let sessions = std::fs::read_dir(b.ws().join(".tandem/sessions"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let last = std::fs::read_to_string(sessions.path())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.contains("\"type\":\"session_finished\"")
            && last.contains("\"outcome\":\"interrupted\""),
        "{last}"
    );
}

#[test]
fn sigterm_during_exec_json_still_ends_with_session_finished() {
    let b = Sandbox::new();
    let server = MockServer::start();
    server.push([Reply::Stall(std::time::Duration::from_secs(60))]);
    let mut child = b
        .tandem(&["exec", "--json", "Plan something"])
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_AGENT__VERIFY", "none")
        .stderr(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let routed = line.contains("\"type\":\"route\"");
        lines.push(line);
        if routed {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", lines.join("\n"));
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["type"], "session_finished", "{}", lines.join("\n"));
    assert_eq!(last["outcome"], "interrupted");
}

#[test]
fn a_loop_whose_last_iteration_failed_does_not_exit_0() {
    let b = Sandbox::new();
    let server = MockServer::start();
    // Every reply is prose, never a plan: planning fails, and so does the iteration.
    server.respond_with(|_, _| Reply::Sse(sse::openai::reply("I would rather chat.", 10, 0, 5)));
    std::fs::write(b.ws().join("PROMPT.md"), "Do the thing.").unwrap();
    let out = b
        .tandem(&["loop", "--max-iterations", "1"])
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("iteration 1/1: Failed"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// A workspace with a notes file, whose user config denies `touch`.
fn denying_touch() -> Sandbox {
    let b = Sandbox::new();
    std::fs::create_dir_all(b.root.join("config")).unwrap();
    std::fs::write(
        b.root.join("config/config.toml"),
        "[sandbox]\ndeny = [\"touch *\"]\n",
    )
    .unwrap();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    b
}

#[test]
fn a_headless_run_never_waits_for_an_approval_nobody_can_give() {
    // A deny rule and a command line whose program the shell makes up at run time: the policy cannot check the
    // rule, so it would ask. Headless, that is a refusal with its reason at once, not a wait.
    let b = denying_touch();
    let server = MockServer::start();
    let plan = serde_json::json!({"summary": "s", "steps": [
        {"id": 1, "goal": "Make a file", "files": ["x"], "done_when": "x exists", "changes_tests": false}
    ]});
    server.push([
        tool("submit_plan", plan),
        tool("run", serde_json::json!({"command": "t=touch; $t x"})),
        tool(
            "step_failed",
            serde_json::json!({"reason": "could not run it"}),
        ),
    ]);
    server.respond_with(|_, _| {
        Reply::Sse(sse::openai::tool_reply(
            "call_f",
            "step_failed",
            serde_json::json!({"reason": "still cannot"}),
        ))
    });
    let started = std::time::Instant::now();
    let out = b
        .tandem(&["exec", "--json", "Make a file named x"])
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "it waited: {stdout}"
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !events.iter().any(|e| e["type"] == "approval_requested"),
        "{stdout}"
    );
    let decided = events
        .iter()
        .find(|e| e["type"] == "approval_decided")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(decided["by"], "headless: nobody to ask", "{decided}");
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result" && e["tool"] == "run")
        .unwrap_or_else(|| panic!("{stdout}"));
    let output = result["output"].as_str().unwrap_or_default();
    assert!(
        output.contains("was not run") && output.contains("nobody can give one in a headless run"),
        "{output}"
    );
    assert!(!b.ws().join("x").exists());
}

#[test]
fn a_hostile_model_cannot_get_round_a_deny_rule_through_the_shells_grammar() {
    // Each line runs `touch` by a route a word-matching policy misses: reserved words, a pipe into a shell, a
    // here-string, an unknown wrapper, an interpreter given code. Each is refused, with its reason, at once.
    let b = denying_touch();
    let attempts = [
        ("if true; then touch a; fi", "denied by rule `touch *`"),
        ("! touch b", "denied by rule `touch *`"),
        ("flock /tmp/l touch c", "denied by rule `touch *`"),
        (
            "echo 'touch d' | sh",
            "runs commands from a file or from its input",
        ),
        (
            "bash <<< 'touch e'",
            "runs commands from a file or from its input",
        ),
        ("taskset -c 0 touch f", "denied by rule `touch *`"),
        (
            "python3 -c 'import os; os.system(\"tou\" + \"ch g\")'",
            "runs code given in its arguments",
        ),
        ("strace -f -o /dev/null touch h", "may run it"),
    ];
    let server = MockServer::start();
    let plan = serde_json::json!({"summary": "s", "steps": [
        {"id": 1, "goal": "Make files", "files": ["a"], "done_when": "they exist", "changes_tests": false}
    ]});
    let mut replies = vec![tool("submit_plan", plan)];
    for (cmd, _) in attempts {
        replies.push(tool("run", serde_json::json!({ "command": cmd })));
    }
    replies.push(tool(
        "step_failed",
        serde_json::json!({"reason": "could not run them"}),
    ));
    server.push(replies);
    server.respond_with(|_, _| {
        Reply::Sse(sse::openai::tool_reply(
            "call_f",
            "step_failed",
            serde_json::json!({"reason": "still cannot"}),
        ))
    });
    let out = b
        .tandem(&["exec", "--json", "--approve", "auto", "Make files"])
        .env("OPENAI_API_KEY", "sk-test-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "tool_result" && e["tool"] == "run")
        .map(|e| e["output"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(results.len(), attempts.len(), "{stdout}");
    for ((cmd, why), output) in attempts.iter().zip(&results) {
        assert!(output.contains("was not run"), "{cmd}: {output}");
        assert!(output.contains(why), "{cmd}: {output}");
        if !why.starts_with("denied") {
            assert!(
                output.contains("nobody can give one in a headless run"),
                "{cmd}: {output}"
            );
        }
    }
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        assert!(!b.ws().join(name).exists(), "{name} was made");
    }
}
