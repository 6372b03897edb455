//! The real binary's UI under tmux: against the loopback mock cloud (planner and executor) with the demo model
//! loading in the background, type a task, accept one hunk of the proposed edit and reject the other, then
//! check the file on disk, the status bar's spend, and that quitting gives the terminal back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use super::mock::{MockServer, Reply, sse};

const BEFORE: &str =
    "def add(a, b):\n    return a - b\n\n\n# helpers\n\n\n\n\n\ndef mul(a, b):\n    return a + b\n";

/// Runs `tmux args` against the private server of session `name`.
///
/// Each session gets a server of its own (`-L`), so tests running at once never share one: with a shared
/// server, the last session closing in one test stops it while another test is connecting, and that test's
/// `new-session` fails with "server exited unexpectedly". `-f /dev/null` keeps the user's tmux.conf out.
pub(super) fn tmux(name: &str, args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(["-L", name, "-f", "/dev/null"])
        .args(args)
        .output()
        .expect("tmux runs")
}

/// Types `keys` into session `name` (tmux's `send-keys`: key names, or text after `-l`).
pub(super) fn send_keys(name: &str, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", name];
    args.extend_from_slice(keys);
    tmux(name, &args);
}

pub(super) fn capture(name: &str) -> String {
    String::from_utf8_lossy(&tmux(name, &["capture-pane", "-p", "-t", name]).stdout).into_owned()
}

/// Waits until the pane shows `needle`; returns the screen.
pub(super) fn wait_for(name: &str, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let screen = capture(name);
        if screen.contains(needle) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "no `{needle}` on screen after {secs} s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the pane no longer shows `needle`; returns the screen.
fn wait_gone(name: &str, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let screen = capture(name);
        if !screen.contains(needle) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "`{needle}` still on screen after {secs} s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
}

pub(super) struct Session(pub(super) String);

/// Whether tmux is here; without it the test is skipped, unless the suite runs in full (then it fails).
pub(super) fn tmux_available() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("TANDEM_REQUIRE_MODEL").is_none(),
        "tmux is required here (scripts/setup.sh installs it)"
    );
    super::support::skip("no tmux");
    false
}

/// Starts a detached tmux session `name` of `width` × `height` running `command`.
pub(super) fn new_session(name: &str, width: u16, height: u16, command: &str) {
    let (w, h) = (width.to_string(), height.to_string());
    let out = tmux(
        name,
        &["new-session", "-d", "-s", name, "-x", &w, "-y", &h, command],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&self.0, &["kill-session", "-t", &self.0]);
    }
}

#[test]
fn a_task_in_the_real_ui_applies_one_hunk_rejects_the_other_and_shows_the_spend() {
    if !tmux_available() {
        return;
    }
    let (model, _model_lock) = crate::require_model!();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join(".tandem")).unwrap();
    std::fs::write(ws.join("calc.py"), BEFORE).unwrap();
    let server = MockServer::start();
    std::fs::write(
        ws.join(".tandem/config.toml"),
        format!(
            "[planner]\nprovider = \"openai\"\n\n[executor]\nprovider = \"openai\"\n\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"gpt-5.1\"\napi_key_env = \"MOCK_CLOUD_KEY\"\n\n[agent]\nverify = \"none\"\n\n[ui]\napproval = \"per-hunk\"\n",
            server.url
        ),
    )
    .unwrap();
    server.push([
        tool(
            "submit_plan",
            json!({"summary": "Fix add and mul", "steps": [{"id": 1, "goal": "Fix both", "files": ["calc.py"], "done_when": "they compute"}]}),
        ),
        tool(
            "edit",
            json!({"path": "calc.py", "search": BEFORE, "replace": BEFORE.replace("a - b", "a + b").replace("a + b\n", "a * b\n").replacen("a * b", "a + b", 1)}),
        ),
        tool("step_done", json!({"summary": "fixed"})),
    ]);

    let name = format!("tandem-ui-{}", std::process::id());
    let _session = Session(name.clone());
    let bin = env!("CARGO_BIN_EXE_tandem");
    let home = dir.path().join("home");
    let command = format!(
        "env -i PATH=\"$PATH\" TERM=xterm-256color HOME={home} MOCK_CLOUD_KEY=sk-mock TANDEM_CONFIG_DIR={d}/config TANDEM_DATA_DIR={d}/data TANDEM_STATE_DIR={d}/state TANDEM_CACHE_DIR={d}/cache {bin} -C {ws} --trust --model {model}; echo TANDEM-EXITED-$?; sleep 30",
        home = home.display(),
        d = dir.path().display(),
        ws = ws.display(),
        model = model.display(),
    );
    new_session(&name, 100, 30, &command);

    // The first frame comes at once; the model loads behind it.
    wait_for(&name, "Task — Enter sends", 20);
    send_keys(&name, &["-l", "fix add and mul in calc.py"]);
    send_keys(&name, &["Enter"]);
    let diff = wait_for(&name, "hunk 1/2", 60);
    if let Some(path) = std::env::var_os("TANDEM_UI_CAPTURE") {
        // For the README's picture of the UI.
        std::fs::write(path, &diff).unwrap();
    }
    assert!(diff.contains("+    return a + b"), "{diff}");
    // Accept the first hunk (add), reject the second (mul), apply.
    send_keys(&name, &["y"]);
    wait_for(&name, "hunk 2/2", 10);
    send_keys(&name, &["n"]);
    send_keys(&name, &["Enter"]);
    let done = wait_for(&name, "Done: 1 file(s) changed", 60);
    if let Some(path) = std::env::var_os("TANDEM_UI_CAPTURE") {
        let diff = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(path, format!("{done}\n{diff}")).unwrap();
    }

    let after = std::fs::read_to_string(ws.join("calc.py")).unwrap();
    assert!(
        after.contains("def add(a, b):\n    return a + b"),
        "{after}"
    );
    assert!(
        after.contains("def mul(a, b):\n    return a + b"),
        "the rejected hunk stays out: {after}"
    );
    // The status bar (the last line) shows what the mock cloud's usage cost.
    let status = done
        .lines()
        .rev()
        .find(|l| l.contains("spent"))
        .unwrap_or_default()
        .to_string();
    let spent: f64 = status
        .split('$')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!(
        spent > 0.0 && status.contains("planner openai (cloud)"),
        "{status}"
    );
    assert!(
        !done.contains("INFO") && !done.contains("WARN"),
        "no log text on screen:\n{done}"
    );

    // Ctrl-C twice quits and gives the terminal back (the shell's echo is visible on the main screen).
    send_keys(&name, &["C-c"]);
    send_keys(&name, &["C-c"]);
    let exited = wait_for(&name, "TANDEM-EXITED-0", 10);
    assert!(
        !exited.contains("Task — Enter sends"),
        "the UI is gone after exit:\n{exited}"
    );
    assert!(Path::new(&ws).join(".tandem/sessions").exists());
}

/// Starts the real binary in a tmux session over `ws` with the mock cloud behind both roles; `extra` are
/// more arguments. The session ends when the returned guard drops.
fn start_ui(name: &str, dir: &Path, ws: &Path, model: &Path, extra: &str) -> Session {
    let session = Session(name.to_string());
    let bin = env!("CARGO_BIN_EXE_tandem");
    let command = format!(
        "env -i PATH=\"$PATH\" TERM=xterm-256color HOME={d}/home MOCK_CLOUD_KEY=sk-mock TANDEM_CONFIG_DIR={d}/config TANDEM_DATA_DIR={d}/data TANDEM_STATE_DIR={d}/state TANDEM_CACHE_DIR={d}/cache {bin} -C {ws} --trust --model {model} {extra}; echo TANDEM-EXITED-$?; sleep 30",
        d = dir.display(),
        ws = ws.display(),
        model = model.display(),
    );
    new_session(name, 110, 32, &command);
    session
}

/// A project config that sends both roles to the mock cloud `server` (no check, edits applied without asking),
/// then `extra`.
fn cloud_config(server: &MockServer, extra: &str) -> String {
    format!(
        "[planner]\nprovider = \"openai\"\n\n[executor]\nprovider = \"openai\"\n\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"gpt-5.1\"\napi_key_env = \"MOCK_CLOUD_KEY\"\n\n[agent]\nverify = \"none\"\n\n[ui]\napproval = \"auto\"\n{extra}",
        server.url
    )
}

/// The planner requests the mock received, as JSON text (those offering `submit_plan`).
fn planner_requests(server: &MockServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json().to_string())
        .filter(|b| b.contains("submit_plan"))
        .collect()
}

#[test]
fn a_conversation_in_the_real_ui_queues_a_follow_up_and_resumes_after_a_restart() {
    if !tmux_available() {
        return;
    }
    let (model, _model_lock) = crate::require_model!();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join(".tandem")).unwrap();
    let before = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n";
    std::fs::write(ws.join("calc.py"), before).unwrap();
    let server = MockServer::start();
    std::fs::write(ws.join(".tandem/config.toml"), cloud_config(&server, "")).unwrap();
    let plan = |summary: &str, goal: &str| {
        tool(
            "submit_plan",
            json!({"summary": summary, "steps": [{"id": 1, "goal": goal, "files": ["calc.py"], "done_when": "it computes"}]}),
        )
    };
    server.push([
        // The first plan takes a while, so the second message is typed while the first turn runs.
        Reply::Delayed(
            Duration::from_secs(4),
            Box::new(plan("Fix add", "Fix add")),
        ),
        tool(
            "edit",
            json!({"path": "calc.py", "search": "return a - b", "replace": "return a + b"}),
        ),
        tool("step_done", json!({"summary": "add fixed"})),
        plan("Fix mul", "Fix mul"),
        tool(
            "edit",
            json!({"path": "calc.py", "search": "def mul(a, b):\n    return a + b", "replace": "def mul(a, b):\n    return a * b"}),
        ),
        tool("step_done", json!({"summary": "mul fixed"})),
    ]);

    let name = format!("tandem-conv-{}", std::process::id());
    let ui = start_ui(&name, dir.path(), &ws, &model, "");
    wait_for(&name, "Enter", 20);
    send_keys(&name, &["-l", "fix add"]);
    send_keys(&name, &["Enter"]);
    std::thread::sleep(Duration::from_millis(800));
    send_keys(&name, &["-l", "now fix mul"]);
    send_keys(&name, &["Enter"]);
    wait_for(&name, "queued (1 waiting)", 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(ws.join("calc.py")).unwrap()
        != before
            .replace("a - b", "a + b")
            .replace("return a + b\n", "return a * b\n")
            .replacen("a * b", "a + b", 1)
    {
        assert!(
            Instant::now() < deadline,
            "both turns did not land:\n{}\n{}",
            std::fs::read_to_string(ws.join("calc.py")).unwrap(),
            capture(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for(&name, "mul fixed", 20);
    let planners = planner_requests(&server);
    assert_eq!(planners.len(), 2, "{planners:?}");
    assert!(
        planners[1].contains("Earlier in this session")
            && planners[1].contains("Turn 1: fix add")
            && planners[1].contains("add fixed"),
        "the follow-up is planned with the first turn in view: {}",
        planners[1]
    );
    send_keys(&name, &["C-c"]);
    send_keys(&name, &["C-c"]);
    wait_for(&name, "TANDEM-EXITED-0", 10);
    drop(ui);

    // A restart with --continue shows the conversation and plans the next message as its third turn.
    server.push([
        plan("Nothing left", "Check both"),
        tool("step_done", json!({"summary": "both right"})),
    ]);
    let name = format!("tandem-conv2-{}", std::process::id());
    let _ui = start_ui(&name, dir.path(), &ws, &model, "--continue");
    let screen = wait_for(&name, "continuing session", 20);
    assert!(
        screen.contains("fix add") && screen.contains("now fix mul"),
        "{screen}"
    );
    send_keys(&name, &["-l", "check both"]);
    send_keys(&name, &["Enter"]);
    wait_for(&name, "both right", 30);
    let planners = planner_requests(&server);
    assert_eq!(planners.len(), 3, "{planners:?}");
    assert!(
        planners[2].contains("Turn 1: fix add") && planners[2].contains("Turn 2: now fix mul"),
        "{}",
        planners[2]
    );
    let sessions: Vec<_> = std::fs::read_dir(ws.join(".tandem/sessions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(sessions.len(), 1, "one conversation, one session");

    // The /resume picker filters as it is typed into; Esc clears the filter, then closes.
    send_keys(&name, &["-l", "/resume"]);
    send_keys(&name, &["Enter"]);
    wait_for(&name, "Type to filter", 10);
    send_keys(&name, &["-l", "zq"]);
    wait_for(&name, "No session matches", 10);
    send_keys(&name, &["BSpace", "BSpace"]);
    send_keys(&name, &["-l", "chkbo"]);
    let screen = wait_for(&name, "(1 of 1; Esc clears)", 10);
    assert!(
        screen.contains("check both"),
        "the latest turn's task: {screen}"
    );
    send_keys(&name, &["Escape"]);
    wait_for(&name, "Type to filter", 10);
    send_keys(&name, &["Escape"]);
    let screen = wait_gone(&name, "Type to filter", 10);
    assert!(!screen.contains("Continue a session"), "{screen}");
}

#[test]
fn hooks_in_the_real_ui_block_a_command_and_report_a_formatter_and_the_stop() {
    if !tmux_available() {
        return;
    }
    let (model, _model_lock) = crate::require_model!();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join(".tandem")).unwrap();
    let stopped = dir.path().join("stopped.json");
    let server = MockServer::start();
    let hooks = format!(
        "\n[hooks.no_curl]\nevent = \"PreToolUse\"\nmatcher = \"Bash\"\ncommand = \"if grep -q curl; then echo 'no network from here' >&2; exit 2; fi\"\n\n[hooks.fmt]\nevent = \"PostToolUse\"\nmatcher = \"Write\"\ncommand = \"echo formatted\"\n\n[hooks.done]\nevent = \"Stop\"\ncommand = \"cat > {}\"\n",
        stopped.display()
    );
    std::fs::write(
        ws.join(".tandem/config.toml"),
        cloud_config(&server, &hooks),
    )
    .unwrap();
    server.push([
        tool(
            "submit_plan",
            json!({"summary": "Notes", "steps": [{"id": 1, "goal": "Write notes", "files": ["notes.md"], "done_when": "written"}]}),
        ),
        tool("run", json!({"command": "curl https://example.com"})),
        tool("write_file", json!({"path": "notes.md", "content": "# Notes\n"})),
        tool("step_done", json!({"summary": "notes written"})),
    ]);
    let name = format!("tandem-hooks-{}", std::process::id());
    let _ui = start_ui(&name, dir.path(), &ws, &model, "");
    wait_for(&name, "Enter", 20);
    send_keys(&name, &["-l", "write the notes"]);
    send_keys(&name, &["Enter"]);
    let screen = wait_for(&name, "notes written", 30);
    assert!(
        screen.contains("hook no_curl (PreToolUse run) blocked it: no network from here"),
        "{screen}"
    );
    assert!(
        screen.contains("hook fmt (PostToolUse write_file): formatted"),
        "{screen}"
    );
    wait_for(&name, "hook done (Stop)", 10);
    let stop: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stopped).unwrap()).unwrap();
    assert_eq!(stop["outcome"], "done");
}
