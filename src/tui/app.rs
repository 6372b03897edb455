//! The interactive UI's state: what the transcript, plan, diff preview, status bar and composer show. It
//! changes only through protocol events ([`App::event`]) and keys ([`App::key`]); keys answer with
//! [`Action`]s for the runtime to carry out, so every state can be built and drawn in tests.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::protocol::{
    ApprovalDecision, ApprovalKind, EditProposal, EventMsg, Plan, RouteDecision, RouteReason,
    RouteRole, StepStatus,
};

/// What the runtime must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a session for this task (`plan_only`: stop after the plan; `plan`: execute this plan).
    Start {
        /// The task.
        task: String,
        /// Stop after planning.
        plan_only: bool,
        /// A plan to execute instead of planning.
        plan: Option<Plan>,
    },
    /// Send an op to the running session.
    Op(crate::protocol::Op),
    /// Undo the last checkpoint of the last session (none is running).
    UndoLast,
    /// Force the planner's provider (`None`: back to the config).
    Route(Option<String>),
    /// Set a role's provider.
    Model(RouteRole, String),
    /// Switch theme.
    Theme(String),
    /// Show the spend breakdown.
    Cost,
    /// Trust the workspace's project config as it is now (the person typed `/trust`).
    Trust,
    /// Start a new conversation: the next task is a new session (`/new`).
    NewConversation,
    /// Continue an earlier session of this workspace: by id or list number, or list them (`/resume`).
    Resume(Option<String>),
    /// Shorten the conversation's earlier turns into a summary (`/compact`).
    Compact,
    /// Leave.
    Quit,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// What the user typed.
    User(String),
    /// A model's text (streamed into).
    Model(RouteRole, String),
    /// A tool call and its result.
    Tool {
        /// Tool name.
        tool: String,
        /// Short argument summary.
        args: String,
        /// `None` while running; then ok and the first line of output.
        result: Option<(bool, String)>,
    },
    /// A notice from tandem.
    Info(String),
    /// An error.
    Error(String),
}

/// An edit waiting for approval, with the user's per-hunk choices.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEdit {
    /// The request id to answer.
    pub request: u64,
    /// The proposal.
    pub edit: EditProposal,
    /// Whether hunks may be chosen one by one.
    pub per_hunk: bool,
    /// The selected hunk.
    pub selected: usize,
    /// Per hunk: `Some(true)` accepted, `Some(false)` rejected, `None` undecided.
    pub choices: Vec<Option<bool>>,
}

/// A command waiting for approval.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCommand {
    /// The request id.
    pub request: u64,
    /// The command.
    pub command: String,
    /// Why it asks.
    pub reason: String,
}

/// A full-screen overlay.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Keys and commands.
    Help,
    /// The spend breakdown (text prepared by the runtime).
    Cost(String),
    /// The question whether to trust the workspace's project config, with the keys it would honour.
    Trust(String),
    /// This workspace's recent sessions, numbered for `/resume N`.
    Sessions(String),
}

/// Whether the local model is ready.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// Not needed (no role uses it) or not started.
    Idle,
    /// Loading since this instant.
    Loading(Instant),
    /// Loaded, in this many seconds.
    Ready(f64),
    /// Failed to load.
    Failed(String),
}

/// Everything the UI shows.
#[derive(Debug, Clone)]
pub struct App {
    /// The workspace, for the title.
    pub workspace: String,
    /// Transcript entries.
    pub entries: Vec<Entry>,
    /// Lines scrolled up from the bottom.
    pub scroll: usize,
    /// The current plan.
    pub plan: Option<Plan>,
    /// Step status and the provider that ran it.
    pub steps: BTreeMap<u32, (StepStatus, String)>,
    /// The step running now.
    pub current_step: Option<u32>,
    /// The last route per role.
    pub routes: BTreeMap<&'static str, RouteDecision>,
    /// Executor output tokens per second (last request).
    pub tokens_per_sec: Option<f64>,
    /// Executor context used (input tokens of the last request) and its size.
    pub context: (u64, u64),
    /// Session $ spent and saved.
    pub spent: f64,
    /// See `spent`.
    pub saved: f64,
    /// The session budget, if capped.
    pub budget: Option<f64>,
    /// An edit waiting for approval.
    pub pending_edit: Option<PendingEdit>,
    /// A command waiting for approval.
    pub pending_command: Option<PendingCommand>,
    /// The composer's text.
    pub input: String,
    /// Earlier inputs, newest last.
    pub history: Vec<String>,
    /// Position while browsing history.
    pub history_pos: Option<usize>,
    /// A session is running.
    pub busy: bool,
    /// When the running request's text began (for tokens/s).
    pub stream_started: Option<Instant>,
    /// The overlay shown, if any.
    pub overlay: Option<Overlay>,
    /// The local model's state.
    pub model: ModelState,
    /// The last plan made (for `/run`).
    pub last_plan: Option<(String, Plan)>,
    /// When Ctrl-C was pressed once (a second press within 2 s quits).
    pub ctrl_c: Option<Instant>,
    /// Spinner frame.
    pub frame: usize,
    /// The theme's name.
    pub theme: String,
    /// Recent warnings (shown in the banner).
    pub warnings: VecDeque<String>,
}

impl App {
    /// An empty app for `workspace`.
    pub fn new(workspace: &str, theme: &str, context_size: u64, budget: Option<f64>) -> App {
        App {
            workspace: workspace.to_string(),
            entries: Vec::new(),
            scroll: 0,
            plan: None,
            steps: BTreeMap::new(),
            current_step: None,
            routes: BTreeMap::new(),
            tokens_per_sec: None,
            context: (0, context_size),
            spent: 0.0,
            saved: 0.0,
            budget,
            pending_edit: None,
            pending_command: None,
            input: String::new(),
            history: Vec::new(),
            history_pos: None,
            busy: false,
            stream_started: None,
            overlay: None,
            model: ModelState::Idle,
            last_plan: None,
            ctrl_c: None,
            frame: 0,
            theme: theme.to_string(),
            warnings: VecDeque::new(),
        }
    }

    /// A notice in the transcript.
    pub fn info(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Info(text.into()));
        self.scroll = 0;
    }

    /// An error in the transcript.
    pub fn error(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Error(text.into()));
        self.scroll = 0;
    }

    /// The planner's route, when it runs locally because the cloud failed or is capped: the banner's text.
    pub fn fallback(&self) -> Option<String> {
        let d = self.routes.get("planner")?;
        match &d.reason {
            RouteReason::CircuitOpen { .. }
            | RouteReason::FellBack { .. }
            | RouteReason::BudgetSpent { .. } => {
                Some(format!("planning on {} — {}", d.provider, d.reason))
            }
            _ => None,
        }
    }

    /// Applies one protocol event.
    pub fn event(&mut self, msg: &EventMsg) {
        match msg {
            EventMsg::SessionStarted { .. } => {
                self.busy = true;
                self.steps.clear();
                self.current_step = None;
            }
            EventMsg::Route { decision } => {
                self.routes.insert(decision.role.as_str(), decision.clone());
                self.stream_started = Some(Instant::now());
            }
            EventMsg::ProviderFailed { provider, error } => {
                self.push_warning(format!("{provider} failed: {error}"));
            }
            EventMsg::Text { role, text } => {
                if let Some(Entry::Model(r, buf)) = self.entries.last_mut()
                    && r == role
                {
                    buf.push_str(text);
                } else {
                    self.entries.push(Entry::Model(*role, text.clone()));
                }
                self.scroll = 0;
            }
            EventMsg::TextRestart { role } => {
                if let Some(Entry::Model(r, _)) = self.entries.last()
                    && r == role
                {
                    self.entries.pop();
                }
            }
            EventMsg::PlanReady { plan, round } => {
                self.plan = Some(plan.clone());
                self.steps.clear();
                self.info(format!(
                    "Plan{}: {} ({} step{})",
                    if *round > 1 {
                        format!(" (round {round})")
                    } else {
                        String::new()
                    },
                    plan.summary,
                    plan.steps.len(),
                    if plan.steps.len() == 1 { "" } else { "s" }
                ));
            }
            EventMsg::StepStarted { step, .. } => {
                self.current_step = Some(*step);
            }
            EventMsg::StepFinished { step, status, .. } => {
                let by = self
                    .routes
                    .get("executor")
                    .map(|d| format!("{}/{}", d.provider, d.model))
                    .unwrap_or_default();
                self.steps.insert(*step, (*status, by));
                if self.current_step == Some(*step) {
                    self.current_step = None;
                }
            }
            EventMsg::Escalated { step, reason } => {
                self.info(format!(
                    "step {step} escalated to the planner's provider: {reason}"
                ));
            }
            EventMsg::ToolCall {
                tool, arguments, ..
            } => {
                let args = arguments
                    .get("path")
                    .or_else(|| arguments.get("command"))
                    .or_else(|| arguments.get("pattern"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                self.entries.push(Entry::Tool {
                    tool: tool.clone(),
                    args,
                    result: None,
                });
            }
            EventMsg::ToolResult {
                tool, ok, output, ..
            } => {
                let first = output
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect();
                if let Some(Entry::Tool {
                    result, tool: t, ..
                }) = self
                    .entries
                    .iter_mut()
                    .rev()
                    .find(|e| matches!(e, Entry::Tool { result: None, .. }))
                    && t == tool
                {
                    *result = Some((*ok, first));
                }
            }
            EventMsg::EditProposed { edit } => {
                self.pending_edit = Some(PendingEdit {
                    request: 0,
                    choices: vec![None; edit.hunks.len().max(1)],
                    edit: edit.clone(),
                    per_hunk: false,
                    selected: 0,
                });
            }
            EventMsg::ApprovalRequested { request, kind } => match kind {
                ApprovalKind::Edit { per_hunk, .. } => {
                    if let Some(p) = &mut self.pending_edit {
                        p.request = *request;
                        p.per_hunk = *per_hunk;
                    }
                }
                ApprovalKind::Command { command, reason } => {
                    self.pending_command = Some(PendingCommand {
                        request: *request,
                        command: command.clone(),
                        reason: reason.clone(),
                    });
                }
            },
            EventMsg::ApprovalDecided {
                request,
                decision,
                by,
            } => {
                if self
                    .pending_edit
                    .as_ref()
                    .is_some_and(|p| p.request == *request || p.request == 0)
                {
                    self.pending_edit = None;
                }
                if self
                    .pending_command
                    .as_ref()
                    .is_some_and(|p| p.request == *request)
                {
                    self.pending_command = None;
                }
                if by != "user" {
                    let what = match decision {
                        ApprovalDecision::Accept => "accepted".to_string(),
                        ApprovalDecision::AcceptHunks { hunks } => {
                            format!("hunks {hunks:?} accepted")
                        }
                        ApprovalDecision::Reject { reason } => {
                            format!(
                                "refused{}",
                                reason
                                    .as_ref()
                                    .map(|r| format!(": {r}"))
                                    .unwrap_or_default()
                            )
                        }
                    };
                    if by.starts_with("policy: protected") || by == "interrupt" {
                        self.info(format!("{what} ({by})"));
                    }
                }
            }
            EventMsg::EditApplied { path, hunks, .. } => {
                self.info(format!("edited {path} (hunks {hunks:?})"));
            }
            EventMsg::EditRejected { path, reason, .. } => {
                self.info(format!("edit of {path} not applied: {reason}"));
            }
            EventMsg::Undone { files, .. } => {
                self.info(format!("undone: {}", files.join(", ")));
            }
            EventMsg::VerifyStarted { command } => self.info(format!("verifying: {command}")),
            EventMsg::VerifyFinished {
                passed, command, ..
            } => {
                self.info(format!(
                    "{command}: {}",
                    if *passed { "passed" } else { "failed" }
                ));
            }
            EventMsg::Replanning { reason, .. } => self.info(format!("re-planning: {reason}")),
            EventMsg::Usage {
                role,
                usage,
                session_usd,
                session_saved_usd,
                ..
            } => {
                self.spent = *session_usd;
                self.saved = *session_saved_usd;
                if *role == RouteRole::Executor {
                    self.context.0 = usage.total_input();
                    if let Some(t) = self.stream_started.take() {
                        let secs = t.elapsed().as_secs_f64();
                        if secs > 0.0 && usage.output_tokens > 0 {
                            self.tokens_per_sec = Some(usage.output_tokens as f64 / secs);
                        }
                    }
                }
            }
            EventMsg::CommandDecided {
                command,
                verdict,
                reason,
            } => {
                if *verdict == crate::protocol::CommandVerdict::Refuse {
                    self.info(format!("`{command}` refused: {reason}"));
                }
            }
            EventMsg::Compacted { summary, turns } => self.info(format!(
                "compacted {turns} earlier turn(s) into a summary:\n{summary}"
            )),
            EventMsg::Warning { message } => self.push_warning(message.clone()),
            EventMsg::Error { message } => self.error(message.clone()),
            EventMsg::SessionFinished { outcome, summary } => {
                self.busy = false;
                self.pending_edit = None;
                self.pending_command = None;
                self.spent = summary.usd;
                self.saved = summary.saved_usd;
                self.info(format!(
                    "{outcome:?}: {} file(s) changed{}",
                    summary.changed_files.len(),
                    match summary.verify_passed {
                        Some(true) => ", verify passed",
                        Some(false) => ", verify failed",
                        None => "",
                    }
                ));
            }
        }
    }

    fn push_warning(&mut self, w: String) {
        self.warnings.push_back(w);
        while self.warnings.len() > 3 {
            self.warnings.pop_front();
        }
    }

    /// Handles a key; returns what the runtime must do.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            if self.ctrl_c.is_some_and(|t| t.elapsed().as_secs_f64() < 2.0) {
                return vec![Action::Quit];
            }
            self.ctrl_c = Some(Instant::now());
            self.info("Ctrl-C again to quit");
            return if self.busy {
                vec![Action::Op(crate::protocol::Op::Interrupt)]
            } else {
                Vec::new()
            };
        }
        if matches!(self.overlay, Some(Overlay::Trust(_))) {
            return match key.code {
                KeyCode::Char('y') => {
                    self.overlay = None;
                    vec![Action::Trust]
                }
                KeyCode::Char('n') | KeyCode::Esc => {
                    self.overlay = None;
                    self.info("not trusted: the project config only narrows settings (/trust to change that)");
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        if self.overlay.is_some() {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter | KeyCode::Char('?')
            ) {
                self.overlay = None;
            }
            return Vec::new();
        }
        if let Some(p) = &self.pending_command {
            let request = p.request;
            let decision = match key.code {
                KeyCode::Char('y') | KeyCode::Enter => ApprovalDecision::Accept,
                KeyCode::Char('n') | KeyCode::Esc => ApprovalDecision::Reject { reason: None },
                _ => return Vec::new(),
            };
            self.pending_command = None;
            return vec![Action::Op(crate::protocol::Op::Approve {
                request,
                decision,
            })];
        }
        if let Some(p) = &mut self.pending_edit
            && p.request != 0
        {
            let n = p.choices.len();
            let decide = |accept: bool, p: &mut PendingEdit| {
                p.choices[p.selected] = Some(accept);
                if p.selected + 1 < n {
                    p.selected += 1;
                }
            };
            match key.code {
                KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab => {
                    p.selected = (p.selected + 1).min(n - 1)
                }
                KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab => {
                    p.selected = p.selected.saturating_sub(1)
                }
                KeyCode::Char('y') if p.per_hunk => decide(true, p),
                KeyCode::Char('n') if p.per_hunk => decide(false, p),
                KeyCode::Char(' ') if p.per_hunk => {
                    let c = &mut p.choices[p.selected];
                    *c = Some(!c.unwrap_or(false));
                }
                KeyCode::Char('a') | KeyCode::Char('y') => {
                    return self.answer_edit(ApprovalDecision::Accept);
                }
                KeyCode::Char('r') | KeyCode::Char('n') | KeyCode::Esc => {
                    return self.answer_edit(ApprovalDecision::Reject { reason: None });
                }
                KeyCode::Enter => {
                    let accepted: Vec<usize> = p
                        .choices
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c == Some(true))
                        .map(|(i, _)| i)
                        .collect();
                    let decision = if !p.per_hunk || accepted.len() == n {
                        ApprovalDecision::Accept
                    } else if accepted.is_empty() {
                        ApprovalDecision::Reject {
                            reason: Some("the user rejected every hunk".into()),
                        }
                    } else {
                        ApprovalDecision::AcceptHunks { hunks: accepted }
                    };
                    return self.answer_edit(decision);
                }
                _ => {}
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc if self.busy => {
                self.info("cancelling…");
                vec![Action::Op(crate::protocol::Op::Interrupt)]
            }
            KeyCode::Char('?') if self.input.is_empty() => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
            KeyCode::Enter
                if key.modifiers.contains(KeyModifiers::ALT)
                    || key.modifiers.contains(KeyModifiers::SHIFT) =>
            {
                self.input.push('\n');
                Vec::new()
            }
            KeyCode::Char('j') if ctrl => {
                self.input.push('\n');
                Vec::new()
            }
            KeyCode::Enter => self.submit(),
            KeyCode::Backspace => {
                self.input.pop();
                Vec::new()
            }
            KeyCode::Up if !self.input.contains('\n') => {
                self.browse(-1);
                Vec::new()
            }
            KeyCode::Down if !self.input.contains('\n') => {
                self.browse(1);
                Vec::new()
            }
            KeyCode::PageUp => {
                self.scroll += 10;
                Vec::new()
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(10);
                Vec::new()
            }
            KeyCode::Char('u') if ctrl => {
                self.input.clear();
                Vec::new()
            }
            KeyCode::Char(c) if !ctrl => {
                self.input.push(c);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Pasted text goes into the composer as it is.
    pub fn paste(&mut self, text: &str) {
        self.input
            .push_str(&text.replace("\r\n", "\n").replace('\r', "\n"));
    }

    fn answer_edit(&mut self, decision: ApprovalDecision) -> Vec<Action> {
        let Some(p) = self.pending_edit.take() else {
            return Vec::new();
        };
        vec![Action::Op(crate::protocol::Op::Approve {
            request: p.request,
            decision,
        })]
    }

    fn browse(&mut self, dir: i32) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() - 1;
        let pos = match (self.history_pos, dir) {
            (None, -1) => Some(last),
            (None, _) => None,
            (Some(0), -1) => Some(0),
            (Some(p), -1) => Some(p - 1),
            (Some(p), _) if p >= last => None,
            (Some(p), _) => Some(p + 1),
        };
        self.history_pos = pos;
        self.input = pos.map(|p| self.history[p].clone()).unwrap_or_default();
    }

    fn submit(&mut self) -> Vec<Action> {
        let text = self.input.trim().to_string();
        self.input.clear();
        self.history_pos = None;
        if text.is_empty() {
            return Vec::new();
        }
        if self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        if let Some(cmd) = text.strip_prefix('/') {
            return self.command(cmd);
        }
        // While a task runs, the message is queued by the runtime: it runs as the next turn.
        self.entries.push(Entry::User(text.clone()));
        self.scroll = 0;
        vec![Action::Start {
            task: text,
            plan_only: false,
            plan: None,
        }]
    }

    fn command(&mut self, cmd: &str) -> Vec<Action> {
        let (name, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let rest = rest.trim();
        let idle = !self.busy;
        match name {
            "help" => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
            "quit" | "exit" | "q" => vec![Action::Quit],
            "clear" => {
                self.entries.clear();
                self.scroll = 0;
                Vec::new()
            }
            "plan" if idle && !rest.is_empty() => {
                self.entries.push(Entry::User(format!("/plan {rest}")));
                vec![Action::Start {
                    task: rest.to_string(),
                    plan_only: true,
                    plan: None,
                }]
            }
            "run" if idle => match (self.last_plan.clone(), rest.is_empty()) {
                (_, false) => {
                    self.entries.push(Entry::User(rest.to_string()));
                    vec![Action::Start {
                        task: rest.to_string(),
                        plan_only: false,
                        plan: None,
                    }]
                }
                (Some((task, plan)), true) => {
                    self.info(format!("running the plan: {}", plan.summary));
                    vec![Action::Start {
                        task,
                        plan_only: false,
                        plan: Some(plan),
                    }]
                }
                (None, true) => {
                    self.info("no plan yet: /plan <task> first, or /run <task>");
                    Vec::new()
                }
            },
            "undo" => {
                if self.busy {
                    vec![Action::Op(crate::protocol::Op::Undo)]
                } else {
                    vec![Action::UndoLast]
                }
            }
            "cost" => vec![Action::Cost],
            "trust" => vec![Action::Trust],
            "new" => vec![Action::NewConversation],
            "resume" => vec![Action::Resume((!rest.is_empty()).then(|| rest.to_string()))],
            "compact" => vec![Action::Compact],
            "route" => match rest {
                "" => {
                    let now = self
                        .routes
                        .get("planner")
                        .map_or_else(|| "not routed yet".to_string(), |d| d.to_string());
                    self.info(format!(
                        "planner route: {now}. /route cloud|local|<provider>|auto"
                    ));
                    Vec::new()
                }
                "auto" => vec![Action::Route(None)],
                "cloud" | "local" => vec![Action::Route(Some(rest.to_string()))],
                other => vec![Action::Route(Some(other.to_string()))],
            },
            "model" => {
                let mut words = rest.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("planner"), Some(p)) => vec![Action::Model(RouteRole::Planner, p.into())],
                    (Some("executor"), Some(p)) => {
                        vec![Action::Model(RouteRole::Executor, p.into())]
                    }
                    _ => {
                        let show = |role: &str| {
                            self.routes.get(role).map_or_else(
                                || "(not used yet)".to_string(),
                                |d| format!("{}/{}", d.provider, d.model),
                            )
                        };
                        let text = format!(
                            "planner: {}, executor: {}. /model planner|executor <provider>",
                            show("planner"),
                            show("executor")
                        );
                        self.info(text);
                        Vec::new()
                    }
                }
            }
            "theme" if !rest.is_empty() => vec![Action::Theme(rest.to_string())],
            "theme" => {
                self.info(format!(
                    "theme: {}. /theme dark|light|high-contrast",
                    self.theme
                ));
                Vec::new()
            }
            "plan" | "run" => {
                self.info(if idle {
                    "usage: /plan <task>".to_string()
                } else {
                    "a session is running: wait for it, or Esc to cancel it".to_string()
                });
                Vec::new()
            }
            other => {
                self.info(format!("unknown command /{other}; /help lists them"));
                Vec::new()
            }
        }
    }
}
