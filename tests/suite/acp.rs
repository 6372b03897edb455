//! `tandem acp` driven by the protocol crate's own client side (not code of ours), as an editor drives it:
//! initialize, a new session, a prompt that plans and edits with a permission request answered both ways,
//! cancel mid-generation, and an earlier session loaded again in a new connection. The models are the loopback
//! mock server speaking OpenAI's protocol.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use agent_client_protocol::{self as acp, Agent as _};
use tokio_util::compat::{TokioAsyncReadCompatExt as _, TokioAsyncWriteCompatExt as _};

use super::mock::{MockServer, Reply, sse};
use super::support::Sandbox;

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::Sse(sse::openai::tool_reply(&format!("call_{name}"), name, args))
}

/// A client that records every update and answers permission requests with the next of its answers.
#[derive(Clone, Default)]
struct Editor {
    updates: Rc<RefCell<Vec<acp::SessionUpdate>>>,
    asked: Rc<RefCell<Vec<String>>>,
    answers: Rc<RefCell<Vec<&'static str>>>,
}

#[async_trait::async_trait(?Send)]
impl acp::Client for Editor {
    async fn request_permission(
        &self,
        args: acp::RequestPermissionRequest,
    ) -> acp::Result<acp::RequestPermissionResponse> {
        self.asked
            .borrow_mut()
            .push(args.tool_call.fields.title.clone().unwrap_or_default());
        let answer = self.answers.borrow_mut().remove(0);
        Ok(acp::RequestPermissionResponse::new(
            acp::RequestPermissionOutcome::Selected(acp::SelectedPermissionOutcome::new(answer)),
        ))
    }

    async fn session_notification(&self, args: acp::SessionNotification) -> acp::Result<()> {
        self.updates.borrow_mut().push(args.update);
        Ok(())
    }
}

impl Editor {
    fn text(&self) -> String {
        let mut out = String::new();
        for u in self.updates.borrow().iter() {
            if let acp::SessionUpdate::AgentMessageChunk(c)
            | acp::SessionUpdate::AgentThoughtChunk(c)
            | acp::SessionUpdate::UserMessageChunk(c) = u
                && let acp::ContentBlock::Text(t) = &c.content
            {
                out.push_str(&t.text);
            }
        }
        out
    }
}

/// Starts `tandem acp` in the sandbox's workspace, talking to `server`; returns the child and the connection.
fn connect(
    b: &Sandbox,
    server: &MockServer,
    editor: &Editor,
) -> (tokio::process::Child, acp::ClientSideConnection) {
    connect_with(b, server, editor, "per-file")
}

/// Like [`connect`], with edits asked about by `approval` (`ui.approval`).
fn connect_with(
    b: &Sandbox,
    server: &MockServer,
    editor: &Editor,
    approval: &str,
) -> (tokio::process::Child, acp::ClientSideConnection) {
    let std_cmd = b.tandem(&["acp"]);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.env("OPENAI_API_KEY", "sk-test-acp-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_AGENT__MAX_ROUNDS", "1")
        .env("TANDEM_UI__APPROVAL", approval)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let outgoing = child.stdin.take().unwrap().compat_write();
    let incoming = child.stdout.take().unwrap().compat();
    let (conn, io) = acp::ClientSideConnection::new(editor.clone(), outgoing, incoming, |fut| {
        tokio::task::spawn_local(fut);
    });
    tokio::task::spawn_local(io);
    (child, conn)
}

/// Runs `test` on a current-thread runtime in a local set (the protocol crate's futures are not `Send`).
fn on_one_thread(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, test);
}

/// Initializes the connection and opens a session in the sandbox's workspace.
async fn open_session(conn: &acp::ClientSideConnection, b: &Sandbox) -> acp::SessionId {
    conn.initialize(acp::InitializeRequest::new(acp::ProtocolVersion::V1))
        .await
        .unwrap();
    conn.new_session(acp::NewSessionRequest::new(b.ws()))
        .await
        .unwrap()
        .session_id
}

fn plan(goal: &str) -> Reply {
    tool(
        "submit_plan",
        serde_json::json!({"summary": goal, "steps": [
            {"id": 1, "goal": goal, "files": ["notes.md"], "done_when": "done", "changes_tests": false}
        ]}),
    )
}

#[test]
fn an_editor_plans_edits_with_permission_both_ways_cancels_and_loads_a_session() {
    let b = Sandbox::new();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let server = MockServer::start();
    on_one_thread(async {
        let editor = Editor::default();
        let (_child, conn) = connect(&b, &server, &editor);
        let init = conn
            .initialize(acp::InitializeRequest::new(acp::ProtocolVersion::V1))
            .await
            .unwrap();
        assert!(init.agent_capabilities.load_session);
        // A folder other than the workspace is refused: tandem serves the one it was started in.
        assert!(
            conn.new_session(acp::NewSessionRequest::new(b.root.join("home")))
                .await
                .is_err()
        );
        let session = conn
            .new_session(acp::NewSessionRequest::new(b.ws()))
            .await
            .unwrap()
            .session_id;

        // Turn 1: a plan, an edit the person allows.
        server.push([
            plan("Add a line"),
            tool(
                "edit",
                serde_json::json!({"path": "notes.md", "search": "# Notes\n", "replace": "# Notes\n\nfirst\n"}),
            ),
            tool("step_done", serde_json::json!({"summary": "added"})),
        ]);
        editor.answers.borrow_mut().push("allow");
        let done = conn
            .prompt(acp::PromptRequest::new(
                session.clone(),
                vec!["Add a line to the notes".into()],
            ))
            .await
            .unwrap();
        assert_eq!(done.stop_reason, acp::StopReason::EndTurn);
        assert_eq!(
            std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
            "# Notes\n\nfirst\n"
        );
        assert_eq!(editor.asked.borrow().as_slice(), ["Edit notes.md"]);
        let updates = editor.updates.borrow().clone();
        let plan_entries = updates.iter().rev().find_map(|u| match u {
            acp::SessionUpdate::Plan(p) => Some(p.entries.clone()),
            _ => None,
        });
        let entries = plan_entries.expect("the plan as plan entries");
        assert_eq!(entries[0].content, "Add a line");
        assert_eq!(entries[0].status, acp::PlanEntryStatus::Completed);
        let diff = updates
            .iter()
            .find_map(|u| match u {
                acp::SessionUpdate::ToolCall(c) if c.kind == acp::ToolKind::Edit => {
                    c.content.iter().find_map(|x| match x {
                        acp::ToolCallContent::Diff(d) => Some(d.clone()),
                        _ => None,
                    })
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("the edit with its diff: {updates:?}"));
        assert_eq!(diff.path, b.ws().join("notes.md"));
        assert_eq!(diff.old_text.as_deref(), Some("# Notes\n"));
        assert_eq!(diff.new_text, "# Notes\n\nfirst\n");
        assert!(editor.text().contains("spent"), "{}", editor.text());

        // Turn 2, a follow-up: the person rejects the edit; nothing changes.
        server.push([
            plan("Add another line"),
            tool(
                "edit",
                serde_json::json!({"path": "notes.md", "search": "first\n", "replace": "first\nsecond\n"}),
            ),
            tool("step_failed", serde_json::json!({"reason": "refused"})),
        ]);
        editor.answers.borrow_mut().push("reject");
        conn.prompt(acp::PromptRequest::new(
            session.clone(),
            vec!["Add another line".into()],
        ))
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
            "# Notes\n\nfirst\n"
        );
        let planner_requests: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.body.clone())
            .filter(|b| b.contains("submit_plan"))
            .collect();
        assert!(
            planner_requests
                .last()
                .is_some_and(|b| b.contains("Add a line to the notes")),
            "the follow-up is planned with the first turn in view"
        );

        // Turn 3: cancelled while the planner is still answering.
        server.push([Reply::Delayed(
            Duration::from_secs(20),
            Box::new(plan("never")),
        )]);
        let cancel = {
            let session = session.clone();
            async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                conn.cancel(acp::CancelNotification::new(session))
                    .await
                    .unwrap();
            }
        };
        let started = std::time::Instant::now();
        let (stopped, ()) = tokio::join!(
            conn.prompt(acp::PromptRequest::new(
                session.clone(),
                vec!["Something slow".into()]
            )),
            cancel
        );
        assert_eq!(stopped.unwrap().stop_reason, acp::StopReason::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(15));

        // A new connection loads the session: its turns are shown again.
        let again = Editor::default();
        let (_child2, conn2) = connect(&b, &server, &again);
        conn2
            .initialize(acp::InitializeRequest::new(acp::ProtocolVersion::V1))
            .await
            .unwrap();
        conn2
            .load_session(acp::LoadSessionRequest::new(session.clone(), b.ws()))
            .await
            .unwrap();
        let shown = again.text();
        assert!(
            shown.contains("Add a line to the notes") && shown.contains("Add another line"),
            "{shown}"
        );
    });
}

#[test]
fn a_hostile_client_cannot_attach_a_file_outside_the_workspace() {
    let b = Sandbox::new();
    std::fs::write(b.root.join("secret.txt"), "AWS_SECRET=1").unwrap();
    let server = MockServer::start();
    on_one_thread(async {
        let editor = Editor::default();
        let (_child, conn) = connect(&b, &server, &editor);
        let session = open_session(&conn, &b).await;
        for uri in [
            format!("file://{}", b.root.join("secret.txt").display()),
            "../secret.txt".to_string(),
            "https://example.com/x".to_string(),
        ] {
            let link =
                acp::ContentBlock::ResourceLink(acp::ResourceLink::new("secret", uri.clone()));
            let err = conn
                .prompt(acp::PromptRequest::new(
                    session.clone(),
                    vec!["Summarise this".into(), link],
                ))
                .await
                .unwrap_err();
            assert!(
                format!("{err:?}").contains("outside") || format!("{err:?}").contains("only files"),
                "{uri}: {err:?}"
            );
        }
        // A session id is a file name in .tandem/sessions, never a path out of it.
        let outside = b.root.join("planted.jsonl");
        std::fs::write(&outside, "").unwrap();
        let absolute = b.root.join("planted").display().to_string();
        for id in ["../../../planted", absolute.as_str(), ""] {
            assert!(
                conn.load_session(acp::LoadSessionRequest::new(id.to_string(), b.ws()))
                    .await
                    .is_err(),
                "{id}"
            );
        }
        assert!(server.requests().is_empty(), "nothing reached a model");
    });
}

#[test]
fn the_protocols_typescript_client_from_npm_plans_and_edits_through_tandem() {
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acp-client");
    if !client
        .join("node_modules/@agentclientprotocol/sdk")
        .is_dir()
    {
        super::support::skip("the npm ACP client (scripts/setup.sh installs it)");
        return;
    }
    let b = Sandbox::new();
    std::fs::write(b.ws().join("notes.md"), "# Notes\n").unwrap();
    let server = MockServer::start();
    server.push([
        plan("Add a line"),
        tool(
            "edit",
            serde_json::json!({"path": "notes.md", "search": "# Notes\n", "replace": "# Notes\n\nfrom npm\n"}),
        ),
        tool("step_done", serde_json::json!({"summary": "added"})),
    ]);
    let out = std::process::Command::new("node")
        .arg(client.join("client.mjs"))
        .arg(env!("CARGO_BIN_EXE_tandem"))
        .arg(b.ws())
        .arg("Add a line to the notes")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", b.root.join("home"))
        .env("TANDEM_CONFIG_DIR", b.root.join("config"))
        .env("TANDEM_CACHE_DIR", b.root.join("cache"))
        .env("TANDEM_DATA_DIR", b.root.join("data"))
        .env("TANDEM_STATE_DIR", b.root.join("state"))
        .env("OPENAI_API_KEY", "sk-test-acp-0123456789abcdef")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("TANDEM_EXECUTOR", "openai")
        .env("TANDEM_AGENT__VERIFY", "none")
        .env("TANDEM_UI__APPROVAL", "per-file")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["agent"], "tandem");
    assert_eq!(report["stopReason"], "end_turn");
    assert_eq!(report["asked"], serde_json::json!(["Edit notes.md"]));
    for kind in [
        "plan",
        "tool_call",
        "tool_call_update",
        "agent_message_chunk",
    ] {
        assert!(
            report["updates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u == kind),
            "{kind} in {report}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
        "# Notes\n\nfrom npm\n"
    );
}

#[test]
fn an_edit_asked_about_per_hunk_offers_each_hunk_and_applies_only_the_one_chosen() {
    let b = Sandbox::new();
    let before: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    std::fs::write(b.ws().join("notes.md"), &before).unwrap();
    let after = before
        .replace("line 2\n", "line two\n")
        .replace("line 28\n", "line twenty-eight\n");
    let server = MockServer::start();
    server.push([
        plan("Spell two numbers"),
        tool(
            "write_file",
            serde_json::json!({"path": "notes.md", "content": after}),
        ),
        tool("step_done", serde_json::json!({"summary": "spelled"})),
    ]);
    on_one_thread(async {
        let editor = Editor::default();
        editor.answers.borrow_mut().push("hunk-1");
        let (_child, conn) = connect_with(&b, &server, &editor, "per-hunk");
        let session = open_session(&conn, &b).await;
        conn.prompt(acp::PromptRequest::new(
            session,
            vec!["Spell two numbers".into()],
        ))
        .await
        .unwrap();
    });
    assert_eq!(
        std::fs::read_to_string(b.ws().join("notes.md")).unwrap(),
        before.replace("line 28\n", "line twenty-eight\n"),
        "only the second hunk applied"
    );
}
