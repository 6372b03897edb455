//! `tandem acp`: tandem as an Agent Client Protocol agent over stdio, for editors' agent panels (Zed, JetBrains,
//! Neovim, Emacs), on the protocol's own crate.
//!
//! An ACP session is a tandem conversation in the workspace tandem was started in: each prompt is a turn (a
//! follow-up of the earlier ones), run by the same session machinery as the UI and `exec`. Its events become
//! session updates: the models' text as message chunks (the planner's as thoughts), the plan as plan entries
//! with their status, tool calls and proposed edits as tool calls with their status and diff, and the route and
//! spend in the turn's last message. Approvals the session asks for (by tandem's approval policy) become
//! permission requests. Cancel interrupts the turn. Everything the client sends is checked as a model's input
//! would be: a session's `cwd` must be the workspace, and a mentioned file is read through the path policy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use agent_client_protocol::{self as acp, Client as _};
use tokio_util::compat::{TokioAsyncReadCompatExt as _, TokioAsyncWriteCompatExt as _};

use crate::agent::session::SessionHandle;
use crate::agent::transcript;
use crate::launch::{Launcher, SessionSpec, continue_session};
use crate::protocol::{
    ApprovalDecision, ApprovalKind, Event, EventMsg, Op, Outcome, Plan, RouteRole, StepStatus,
};
use crate::tui::mention::attachment_text;

/// Most hunks offered one by one in a permission request (an edit with more is allowed or rejected whole).
const MAX_HUNK_OPTIONS: usize = 8;

/// The largest file a prompt's resource link attaches.
const MAX_ATTACH: u64 = 256 * 1024;

/// One ACP session: its tandem session id, whether a turn has finished (a next prompt is a follow-up), and the
/// running turn's handle (for cancel).
struct Conversation {
    turns: u32,
    running: Option<SessionHandle>,
}

/// The agent: the launcher every turn is built with, the connection to the client, the sessions by id.
struct TandemAgent {
    launcher: Launcher,
    conn: RefCell<Option<Rc<acp::AgentSideConnection>>>,
    sessions: RefCell<HashMap<String, Conversation>>,
}

/// Serves ACP on stdin and stdout until the client closes them.
pub async fn serve(launcher: Launcher) -> anyhow::Result<()> {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let agent = Rc::new(TandemAgent {
                launcher,
                conn: RefCell::new(None),
                sessions: RefCell::new(HashMap::new()),
            });
            let outgoing = tokio::io::stdout().compat_write();
            let incoming = tokio::io::stdin().compat();
            let (conn, io) =
                acp::AgentSideConnection::new(Shared(agent.clone()), outgoing, incoming, |fut| {
                    tokio::task::spawn_local(fut);
                });
            agent.conn.replace(Some(Rc::new(conn)));
            io.await
                .map_err(|e| anyhow::anyhow!("the ACP connection failed: {e}"))
        })
        .await
}

/// The agent behind an `Rc`, as the connection holds it.
struct Shared(Rc<TandemAgent>);

fn invalid(message: impl Into<String>) -> acp::Error {
    acp::Error::invalid_params().data(serde_json::Value::String(message.into()))
}

fn internal(message: impl std::fmt::Display) -> acp::Error {
    acp::Error::internal_error().data(serde_json::Value::String(message.to_string()))
}

impl TandemAgent {
    fn conn(&self) -> Result<Rc<acp::AgentSideConnection>, acp::Error> {
        self.conn
            .borrow()
            .clone()
            .ok_or_else(|| internal("the connection is not ready"))
    }

    /// The workspace, if `cwd` is it (tandem serves the workspace it was started in).
    fn check_cwd(&self, cwd: &std::path::Path) -> Result<(), acp::Error> {
        let root = self.launcher.workspace().root();
        let same = std::fs::canonicalize(cwd)
            .ok()
            .is_some_and(|c| c == root || std::fs::canonicalize(root).is_ok_and(|r| r == c));
        if same {
            Ok(())
        } else {
            Err(invalid(format!(
                "tandem serves {}; start `tandem acp` in {} for that folder",
                root.display(),
                cwd.display()
            )))
        }
    }

    async fn update(&self, session: &acp::SessionId, update: acp::SessionUpdate) {
        if let Ok(conn) = self.conn() {
            let _ = conn
                .session_notification(acp::SessionNotification::new(session.clone(), update))
                .await;
        }
    }

    /// The prompt as a task: its text, and each file it mentions or embeds, read through the path policy.
    fn task_of(&self, blocks: &[acp::ContentBlock]) -> Result<String, acp::Error> {
        let ws = self.launcher.workspace();
        let mut text = String::new();
        let mut files = String::new();
        for block in blocks {
            match block {
                acp::ContentBlock::Text(t) => {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&t.text);
                }
                acp::ContentBlock::ResourceLink(link) => {
                    let path = relative(ws, &link.uri)?;
                    let (_, bytes) = ws
                        .read(&path, MAX_ATTACH)
                        .map_err(|e| invalid(format!("{path}: {e}")))?;
                    let content = String::from_utf8(bytes)
                        .map_err(|_| invalid(format!("{path} is not text")))?;
                    files.push_str(&attachment_text(&path, &content));
                }
                acp::ContentBlock::Resource(embedded) => {
                    if let acp::EmbeddedResourceResource::TextResourceContents(r) =
                        &embedded.resource
                    {
                        // What the editor sends is its buffer; the path must still be the workspace's.
                        let path = relative(ws, &r.uri)?;
                        ws.resolve_read(&path)
                            .map_err(|e| invalid(format!("{path}: {e}")))?;
                        files.push_str(&attachment_text(&path, &r.text));
                    }
                }
                _ => {}
            }
        }
        if text.trim().is_empty() && files.is_empty() {
            return Err(invalid("the prompt has no text"));
        }
        Ok(format!("{text}{files}"))
    }

    /// Runs one turn of `id` with `task`, relaying its events; returns how it ended.
    async fn turn(
        &self,
        session: &acp::SessionId,
        id: &str,
        task: String,
    ) -> Result<acp::StopReason, acp::Error> {
        let follow_up = self
            .sessions
            .borrow()
            .get(id)
            .map(|c| c.turns > 0)
            .ok_or_else(|| invalid(format!("no session {id}")))?;
        let resume = if follow_up {
            let (state, _) = continue_session(self.launcher.workspace(), id, Some(task.clone()))
                .map_err(internal)?;
            Some(state)
        } else {
            None
        };
        let router = self.launcher.router(id).map_err(internal)?;
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let (run, handle) = self
            .launcher
            .session(
                SessionSpec {
                    id: id.to_string(),
                    task,
                    plan_only: false,
                    resume,
                    initial_plan: None,
                },
                router,
                Some(events_tx),
            )
            .map_err(internal)?;
        if let Some(c) = self.sessions.borrow_mut().get_mut(id) {
            c.running = Some(handle.clone());
        }
        let mcp = self.launcher.mcp().await;
        let running = tokio::spawn(run.with_mcp(mcp).run());
        let mut view = TurnView {
            root: self.launcher.workspace().root().to_path_buf(),
            ..TurnView::default()
        };
        while let Some(event) = events.recv().await {
            if let EventMsg::EditProposed { edit } = &event.msg {
                view.hunks.insert(edit.id, edit.hunks.clone());
            }
            if let EventMsg::ApprovalRequested { request, kind } = &event.msg {
                let hunks = match kind {
                    ApprovalKind::Edit {
                        edit,
                        per_hunk: true,
                        ..
                    } => view.hunks.get(edit).cloned().unwrap_or_default(),
                    _ => Vec::new(),
                };
                let decision = self.permission(session, *request, kind, &hunks).await;
                handle.send(Op::Approve {
                    request: *request,
                    decision,
                });
                continue;
            }
            for update in view.updates(&event.msg) {
                self.update(session, update).await;
            }
        }
        let outcome = running.await.unwrap_or(Outcome::Failed);
        if let Some(c) = self.sessions.borrow_mut().get_mut(id) {
            c.running = None;
            c.turns += 1;
        }
        Ok(match outcome {
            Outcome::Interrupted => acp::StopReason::Cancelled,
            _ => acp::StopReason::EndTurn,
        })
    }

    /// Asks the client about an edit or a command; a client that cannot answer refuses. An edit asked about per
    /// hunk (`ui.approval = "per-hunk"`, more than one hunk) offers each hunk alone as well.
    async fn permission(
        &self,
        session: &acp::SessionId,
        request: u64,
        kind: &ApprovalKind,
        hunks: &[crate::protocol::HunkSummary],
    ) -> ApprovalDecision {
        let (id, title, tool_kind) = match kind {
            ApprovalKind::Edit { edit, path, .. } => (
                format!("edit-{edit}"),
                format!("Edit {path}"),
                acp::ToolKind::Edit,
            ),
            ApprovalKind::Command { command, reason } => (
                format!("approval-{request}"),
                format!("Run `{command}` ({reason})"),
                acp::ToolKind::Execute,
            ),
        };
        let call = acp::ToolCallUpdate::new(
            id,
            acp::ToolCallUpdateFields::new()
                .title(title)
                .kind(tool_kind)
                .status(acp::ToolCallStatus::Pending),
        );
        let mut options = vec![acp::PermissionOption::new(
            "allow",
            if hunks.len() > 1 {
                "Allow every change"
            } else {
                "Allow"
            },
            acp::PermissionOptionKind::AllowOnce,
        )];
        if hunks.len() > 1 {
            for h in hunks.iter().take(MAX_HUNK_OPTIONS) {
                options.push(acp::PermissionOption::new(
                    format!("hunk-{}", h.index),
                    format!(
                        "Only change {} ({} +{} -{})",
                        h.index + 1,
                        h.header,
                        h.added,
                        h.removed
                    ),
                    acp::PermissionOptionKind::AllowOnce,
                ));
            }
        }
        options.push(acp::PermissionOption::new(
            "reject",
            "Reject",
            acp::PermissionOptionKind::RejectOnce,
        ));
        let asked = match self.conn() {
            Ok(conn) => {
                conn.request_permission(acp::RequestPermissionRequest::new(
                    session.clone(),
                    call,
                    options,
                ))
                .await
            }
            Err(e) => Err(e),
        };
        let hunk = |id: &str| {
            id.strip_prefix("hunk-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| hunks.iter().any(|h| h.index == *n))
        };
        match asked.map(|r| r.outcome) {
            Ok(acp::RequestPermissionOutcome::Selected(s)) if &*s.option_id.0 == "allow" => {
                ApprovalDecision::Accept
            }
            Ok(acp::RequestPermissionOutcome::Selected(s)) if hunk(&s.option_id.0).is_some() => {
                ApprovalDecision::AcceptHunks {
                    hunks: hunk(&s.option_id.0).into_iter().collect(),
                }
            }
            Ok(_) => ApprovalDecision::Reject {
                reason: Some("the person refused it in the editor".into()),
            },
            Err(e) => ApprovalDecision::Reject {
                reason: Some(format!("the editor could not ask: {e}")),
            },
        }
    }
}

/// What a turn has shown so far: the plan (its entries' status is resent whole, as ACP wants).
#[derive(Default)]
struct TurnView {
    /// The workspace (ACP paths are absolute).
    root: std::path::PathBuf,
    plan: Option<Plan>,
    status: HashMap<u32, acp::PlanEntryStatus>,
    planner: Option<String>,
    /// The hunks of each proposed edit, for a per-hunk permission request.
    hunks: HashMap<u64, Vec<crate::protocol::HunkSummary>>,
}

impl TurnView {
    fn plan_update(&self) -> Option<acp::SessionUpdate> {
        let plan = self.plan.as_ref()?;
        let entries = plan
            .steps
            .iter()
            .map(|s| {
                let status = self
                    .status
                    .get(&s.id)
                    .cloned()
                    .unwrap_or(acp::PlanEntryStatus::Pending);
                acp::PlanEntry::new(s.goal.clone(), acp::PlanEntryPriority::Medium, status)
            })
            .collect();
        Some(acp::SessionUpdate::Plan(acp::Plan::new(entries)))
    }

    /// The session updates for one tandem event.
    fn updates(&mut self, msg: &EventMsg) -> Vec<acp::SessionUpdate> {
        let text = |t: String| acp::ContentChunk::new(t.into());
        match msg {
            EventMsg::Text { role, text: t } => vec![match role {
                RouteRole::Planner => acp::SessionUpdate::AgentThoughtChunk(text(t.clone())),
                RouteRole::Executor => acp::SessionUpdate::AgentMessageChunk(text(t.clone())),
            }],
            EventMsg::PlanReady { plan, .. } => {
                self.plan = Some(plan.clone());
                self.status.clear();
                self.plan_update().into_iter().collect()
            }
            EventMsg::StepStarted { step, .. } => {
                self.status.insert(*step, acp::PlanEntryStatus::InProgress);
                self.plan_update().into_iter().collect()
            }
            EventMsg::StepFinished { step, status, .. } => {
                let s = match status {
                    StepStatus::Done => acp::PlanEntryStatus::Completed,
                    _ => acp::PlanEntryStatus::Pending,
                };
                self.status.insert(*step, s);
                self.plan_update().into_iter().collect()
            }
            EventMsg::ToolCall {
                call_id,
                tool,
                arguments,
                ..
            } => {
                let kind = match tool.as_str() {
                    "read_file" | "list_dir" | "outline" => acp::ToolKind::Read,
                    "grep" => acp::ToolKind::Search,
                    "edit" | "write_file" => acp::ToolKind::Edit,
                    "run" => acp::ToolKind::Execute,
                    _ => acp::ToolKind::Other,
                };
                let what = arguments
                    .get("path")
                    .or_else(|| arguments.get("command"))
                    .or_else(|| arguments.get("pattern"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                vec![acp::SessionUpdate::ToolCall(
                    acp::ToolCall::new(
                        call_id.clone(),
                        format!("{tool} {what}").trim().to_string(),
                    )
                    .kind(kind)
                    .status(acp::ToolCallStatus::InProgress)
                    .raw_input(arguments.clone()),
                )]
            }
            EventMsg::ToolResult {
                call_id,
                ok,
                output,
                ..
            } => vec![acp::SessionUpdate::ToolCallUpdate(
                acp::ToolCallUpdate::new(
                    call_id.clone(),
                    acp::ToolCallUpdateFields::new()
                        .status(if *ok {
                            acp::ToolCallStatus::Completed
                        } else {
                            acp::ToolCallStatus::Failed
                        })
                        .content(vec![acp::ToolCallContent::from(output.clone())]),
                ),
            )],
            EventMsg::EditProposed { edit } => {
                // The client shows the diff itself from the texts; the unified diff where they are not at hand.
                let content = match &edit.texts {
                    Some(texts) => acp::ToolCallContent::Diff(
                        acp::Diff::new(self.root.join(&edit.path), texts.1.clone())
                            .old_text(texts.0.clone()),
                    ),
                    None => acp::ToolCallContent::from(format!(
                        "```diff\n{}\n```",
                        edit.diff.trim_end()
                    )),
                };
                vec![acp::SessionUpdate::ToolCall(
                    acp::ToolCall::new(format!("edit-{}", edit.id), format!("Edit {}", edit.path))
                        .kind(acp::ToolKind::Edit)
                        .status(acp::ToolCallStatus::Pending)
                        .locations(vec![acp::ToolCallLocation::new(self.root.join(&edit.path))])
                        .content(vec![content]),
                )]
            }
            EventMsg::Route { decision } if decision.role == RouteRole::Planner => {
                self.planner = Some(format!("{}/{}", decision.provider, decision.model));
                Vec::new()
            }
            EventMsg::Warning { message } | EventMsg::Error { message } => {
                vec![acp::SessionUpdate::AgentMessageChunk(text(format!(
                    "\n⚠ {message}\n"
                )))]
            }
            EventMsg::SessionFinished { outcome, summary } => {
                let mut line = format!(
                    "\n\n{outcome:?}: {} file(s) changed",
                    summary.changed_files.len()
                );
                if !summary.verified.is_empty() {
                    line.push_str(&format!("; {}", summary.verified));
                }
                if let Some(planner) = &self.planner {
                    line.push_str(&format!("; planned by {planner}"));
                }
                line.push_str(&format!(
                    "; ${:.4} spent, ${:.4} saved",
                    summary.usd, summary.saved_usd
                ));
                vec![acp::SessionUpdate::AgentMessageChunk(text(line))]
            }
            _ => Vec::new(),
        }
    }
}

/// A `file://` URI (or a relative path) as a path relative to the workspace; anything else is refused.
fn relative(ws: &crate::sandbox::Workspace, uri: &str) -> Result<String, acp::Error> {
    let path = match url::Url::parse(uri) {
        Ok(u) if u.scheme() == "file" => u
            .to_file_path()
            .map_err(|()| invalid(format!("{uri} is not a local file")))?,
        Ok(_) => {
            return Err(invalid(format!(
                "{uri}: only files of the workspace can be attached"
            )));
        }
        Err(_) => std::path::PathBuf::from(uri),
    };
    let rel = if path.is_absolute() {
        ws.relative(&path)
    } else {
        path.to_string_lossy().into_owned()
    };
    if rel.is_empty() || rel.starts_with("..") || std::path::Path::new(&rel).is_absolute() {
        return Err(invalid(format!("{uri} is outside the workspace")));
    }
    Ok(rel)
}

#[async_trait::async_trait(?Send)]
impl acp::Agent for Shared {
    async fn initialize(
        &self,
        _args: acp::InitializeRequest,
    ) -> Result<acp::InitializeResponse, acp::Error> {
        Ok(acp::InitializeResponse::new(acp::ProtocolVersion::V1)
            .agent_info(
                acp::Implementation::new("tandem", env!("CARGO_PKG_VERSION")).title("tandem"),
            )
            .agent_capabilities(
                acp::AgentCapabilities::new()
                    .load_session(true)
                    .prompt_capabilities(acp::PromptCapabilities::new().embedded_context(true)),
            ))
    }

    async fn authenticate(
        &self,
        _args: acp::AuthenticateRequest,
    ) -> Result<acp::AuthenticateResponse, acp::Error> {
        // Provider keys come from tandem's own config and environment, never from the client.
        Ok(acp::AuthenticateResponse::default())
    }

    async fn new_session(
        &self,
        args: acp::NewSessionRequest,
    ) -> Result<acp::NewSessionResponse, acp::Error> {
        self.0.check_cwd(&args.cwd)?;
        let id = transcript::new_id();
        self.0.sessions.borrow_mut().insert(
            id.clone(),
            Conversation {
                turns: 0,
                running: None,
            },
        );
        Ok(acp::NewSessionResponse::new(id))
    }

    async fn load_session(
        &self,
        args: acp::LoadSessionRequest,
    ) -> Result<acp::LoadSessionResponse, acp::Error> {
        self.0.check_cwd(&args.cwd)?;
        let id = args.session_id.0.to_string();
        let ws = self.0.launcher.workspace();
        let events = transcript::load(ws.root(), &id).map_err(|e| invalid(e.to_string()))?;
        let state = transcript::replay(&events);
        // The conversation is shown again as it went: each turn's task, then what the models said and did.
        let mut view = TurnView {
            root: ws.root().to_path_buf(),
            ..TurnView::default()
        };
        for event in &events {
            let updates = match &event.msg {
                EventMsg::SessionStarted { task, .. } => {
                    vec![acp::SessionUpdate::UserMessageChunk(
                        acp::ContentChunk::new(task.clone().into()),
                    )]
                }
                msg => view.updates(msg),
            };
            for update in updates {
                self.0.update(&args.session_id, update).await;
            }
        }
        let turns = u32::try_from(state.history.len().max(1)).unwrap_or(u32::MAX);
        self.0.sessions.borrow_mut().insert(
            id,
            Conversation {
                turns,
                running: None,
            },
        );
        Ok(acp::LoadSessionResponse::new())
    }

    async fn prompt(&self, args: acp::PromptRequest) -> Result<acp::PromptResponse, acp::Error> {
        let id = args.session_id.0.to_string();
        if self
            .0
            .sessions
            .borrow()
            .get(&id)
            .is_some_and(|c| c.running.is_some())
        {
            return Err(invalid("a prompt is already running in this session"));
        }
        let task = self.0.task_of(&args.prompt)?;
        let stop = self.0.turn(&args.session_id, &id, task).await?;
        Ok(acp::PromptResponse::new(stop))
    }

    async fn cancel(&self, args: acp::CancelNotification) -> Result<(), acp::Error> {
        if let Some(handle) = self
            .0
            .sessions
            .borrow()
            .get(&*args.session_id.0)
            .and_then(|c| c.running.clone())
        {
            handle.send(Op::Interrupt);
        }
        Ok(())
    }
}
