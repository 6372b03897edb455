//! Hooks end to end through the real binary, as a person moving from Claude Code writes them: a `PreToolUse`
//! hook that blocks a command with a reason the model sees, `PostToolUse` hooks that log edits and give the model
//! feedback, `SessionStart` and `Stop` hooks, `UserPromptSubmit` hooks that add context or refuse a task, and a
//! project's hooks that run only once the workspace is trusted.

use super::mock::{MockServer, Reply, sse};
use super::support::Sandbox;

const KEY: &str = "sk-test-hooks-0123456789abcdef";

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
}

fn user_config(b: &Sandbox, text: &str) {
    std::fs::create_dir_all(b.root.join("config")).unwrap();
    std::fs::write(b.root.join("config/config.toml"), text).unwrap();
}

fn exec(
    b: &Sandbox,
    server: &MockServer,
    task: &str,
) -> (std::process::Output, Vec<serde_json::Value>) {
    let out = b
        .tandem(&["exec", "--json", "--approve", "auto", task])
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out, events)
}

fn plan() -> Reply {
    tool(
        "submit_plan",
        serde_json::json!({"summary": "s", "steps": [
            {"id": 1, "goal": "Write the notes", "files": ["notes.md"], "done_when": "notes.md exists", "changes_tests": false}
        ]}),
    )
}

#[test]
fn hooks_block_a_command_log_edits_give_feedback_and_never_see_the_key() {
    let b = Sandbox::new();
    let out = b.root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    user_config(
        &b,
        &format!(
            r#"
[hooks.no_rm]
event = "PreToolUse"
matcher = "Bash"
command = "if grep -q 'rm -rf'; then echo 'rm -rf is not allowed here; delete files one by one' >&2; exit 2; fi"

[hooks.log_edits]
event = "PostToolUse"
matcher = "Edit|Write"
command = "cat >> {o}/edits.jsonl; echo >> {o}/edits.jsonl"

[hooks.formatter]
event = "PostToolUse"
matcher = "write_file"
command = "echo 'formatted notes.md (2 lines changed)' >&2; exit 2"

[hooks.start]
event = "SessionStart"
command = "cat > {o}/start.json; env > {o}/env.txt"

[hooks.stop]
event = "Stop"
command = "cat > {o}/stop.json"

[hooks.ticket]
event = "UserPromptSubmit"
command = "cat > /dev/null; echo 'Ticket ABC-123: keep the notes short'"
"#
        ),
    );
    let server = MockServer::start();
    server.push([
        plan(),
        tool("run", serde_json::json!({"command": "rm -rf build"})),
        tool(
            "write_file",
            serde_json::json!({"path": "notes.md", "content": "# Notes\n"}),
        ),
        tool("step_done", serde_json::json!({"summary": "notes written"})),
    ]);
    let (output, events) = exec(&b, &server, "Write the notes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");

    // The command never ran; the model got the hook's reason as the tool's result.
    let run = events
        .iter()
        .find(|e| e["type"] == "tool_result" && e["tool"] == "run")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(run["ok"], false);
    let said = run["output"].as_str().unwrap();
    assert!(
        said.contains("Blocked by the hook `no_rm`: rm -rf is not allowed here"),
        "{said}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "command_decided" && e["command"] == "rm -rf build"),
        "a blocked command is not even judged by the policy: {stdout}"
    );
    let requests = server.requests();
    assert!(
        requests[0]
            .body
            .contains("Context from the person's hooks:")
            && requests[0]
                .body
                .contains("Ticket ABC-123: keep the notes short"),
        "a prompt hook's stdout is context for the planner"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.body.contains("rm -rf is not allowed here")),
        "the reason went back to the model"
    );
    let blocked = events
        .iter()
        .find(|e| e["type"] == "hook_ran" && e["hook"] == "no_rm")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(blocked["event"], "PreToolUse");
    assert_eq!(blocked["tool"], "run");
    assert_eq!(blocked["exit_code"], 2);

    // The edit was logged with its path, and the formatter's word reached the model after the result.
    assert_eq!(
        std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
        "# Notes\n"
    );
    let log = std::fs::read_to_string(out.join("edits.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["hook_event_name"], "PostToolUse");
    assert_eq!(first["tool_name"], "write_file");
    assert_eq!(first["tool_input"]["path"], "notes.md");
    assert_eq!(first["tool_response"]["ok"], true);
    assert!(first["session_id"].as_str().is_some_and(|s| !s.is_empty()));
    let write = events
        .iter()
        .find(|e| e["type"] == "tool_result" && e["tool"] == "write_file")
        .unwrap();
    assert!(
        write["output"]
            .as_str()
            .unwrap()
            .contains("The hook `formatter` says: formatted notes.md"),
        "{write}"
    );

    // Start and stop, with the outcome; the provider key is in no hook's environment.
    let start: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("start.json")).unwrap()).unwrap();
    assert_eq!(start["source"], "startup");
    let stop: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stop.json")).unwrap()).unwrap();
    assert_eq!(stop["hook_event_name"], "Stop");
    assert_eq!(stop["outcome"], "done");
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    assert!(
        !env.contains(KEY) && !env.contains("OPENAI_API_KEY"),
        "{env}"
    );
    // The Stop hook ran before the last event.
    let last = events.last().unwrap();
    assert_eq!(last["type"], "session_finished", "{stdout}");
}

#[test]
fn a_prompt_hook_refuses_a_task_before_any_model_is_asked() {
    let b = Sandbox::new();
    user_config(
        &b,
        r#"
[hooks.policy]
event = "UserPromptSubmit"
command = "if grep -qi 'production'; then echo '{\"decision\": \"block\", \"reason\": \"no production changes from an agent\"}'; fi"
"#,
    );
    let server = MockServer::start();
    let (output, events) = exec(&b, &server, "Deploy to production");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_ne!(output.status.code(), Some(0), "{stdout}");
    assert!(server.requests().is_empty(), "no model was asked");
    let error = events.iter().find(|e| e["type"] == "error").unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no production changes from an agent"),
        "{error}"
    );
    assert_eq!(events.last().unwrap()["type"], "session_finished");
}

#[test]
fn a_projects_hooks_run_only_in_a_trusted_workspace_and_doctor_says_where_each_came_from() {
    let b = Sandbox::new();
    let marker = b.root.join("project-hook-ran");
    std::fs::create_dir_all(b.ws().join(".tandem")).unwrap();
    std::fs::write(
        b.ws().join(".tandem/config.toml"),
        format!(
            "[hooks.planted]\nevent = \"SessionStart\"\ncommand = \"touch {}\"\n",
            marker.display()
        ),
    )
    .unwrap();
    user_config(
        &b,
        "[hooks.mine]\nevent = \"Stop\"\ncommand = \"true\"\ntimeout_secs = 5\n",
    );
    let server = MockServer::start();
    server.push([
        plan(),
        tool("step_done", serde_json::json!({"summary": "nothing to do"})),
    ]);
    let (output, _) = exec(&b, &server, "Write the notes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!marker.exists(), "an untrusted project's hook ran");
    assert!(
        stderr.contains("hooks.planted") && stderr.contains("it runs commands of its own"),
        "{stderr}"
    );
    let doctor = b.run(&["--offline", "doctor", "--no-load"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("mine on Stop: true (timeout 5 s;") && !text.contains("planted on"),
        "{text}"
    );

    // Trusted, the project's hook runs too, and doctor names its file.
    assert!(b.run(&["trust"]).status.success());
    server.push([
        plan(),
        tool("step_done", serde_json::json!({"summary": "nothing to do"})),
    ]);
    exec(&b, &server, "Write the notes");
    assert!(marker.exists(), "the trusted project's hook did not run");
    let doctor = b.run(&["--offline", "doctor", "--no-load"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("planted on SessionStart") && text.contains(".tandem/config.toml"),
        "{text}"
    );
}

#[test]
fn a_spent_budget_runs_budget_reached_and_the_move_to_local_runs_route_changed() {
    let (model, _model_lock) = crate::require_model!();
    let b = Sandbox::new();
    let out = b.root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    user_config(
        &b,
        &format!(
            "[budget]\nsession_usd = 0.0001\n\n[hooks.budget]\nevent = \"BudgetReached\"\ncommand = \"cat > {o}/budget.json\"\n\n[hooks.route]\nevent = \"RouteChanged\"\ncommand = \"cat >> {o}/route.jsonl; echo >> {o}/route.jsonl\"\n"
        ),
    );
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let server = MockServer::start();
    // The first planner turn looks around and costs more than the cap; the next one goes local.
    server.push([tool("list_dir", serde_json::json!({"path": "."}))]);
    let output = b
        .tandem(&[
            "exec",
            "--json",
            "--plan-only",
            "--model",
            model.to_str().unwrap(),
            "Write the notes",
        ])
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_PLANNER__MAX_TOKENS", "96")
        .env("TANDEM_AGENT__MAX_PLANNER_TURNS", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(server.requests().len(), 1, "{stdout}");
    let budget: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("budget.json"))
            .unwrap_or_else(|e| panic!("no BudgetReached ({e}): {stdout}")),
    )
    .unwrap();
    assert_eq!(budget["hook_event_name"], "BudgetReached");
    assert_eq!(budget["scope"], "session");
    assert_eq!(budget["role"], "planner");
    let route = std::fs::read_to_string(out.join("route.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(route.lines().next().unwrap()).unwrap();
    assert_eq!(first["from"], "openai", "{route}");
    assert_eq!(first["to"], "local");
    assert_eq!(first["to_local"], true);
    assert_eq!(first["reason"]["kind"], "budget_spent");
}

#[test]
fn a_stop_hook_runs_after_every_iteration_of_a_loop() {
    let b = Sandbox::new();
    let log = b.root.join("stops.jsonl");
    user_config(
        &b,
        &format!(
            "[hooks.each_stop]\nevent = \"Stop\"\ncommand = \"cat >> {0}; echo >> {0}\"\n",
            log.display()
        ),
    );
    std::fs::write(b.ws().join("PROMPT.md"), "Do the thing.").unwrap();
    let server = MockServer::start();
    // Every reply is prose, never a plan: each iteration fails, and each one's end runs the hook.
    server.respond_with(|_, _| Reply::Sse(sse::openai::reply("I would rather chat.", 10, 0, 5)));
    let out = b
        .tandem(&["loop", "--max-iterations", "2", "--max-idle", "0"])
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stops: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("no Stop hook ran ({e}): {stderr}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stops.len(), 2, "{stderr}");
    assert!(stops.iter().all(|s| s["outcome"] == "failed"), "{stops:?}");
    assert_ne!(stops[0]["session_id"], stops[1]["session_id"]);
}
