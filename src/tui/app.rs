//! The interactive UI's state as components — transcript, plan pane, diff review, composer, popups, status
//! bar — each owning its state, keys and drawing. The app routes protocol events ([`App::event`]) and keys
//! ([`App::key`]) to them; keys answer with [`Action`]s for the runtime to carry out, so every state can be
//! built and drawn in tests.

use std::collections::VecDeque;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Paragraph;

use super::composer::{Composer, Outcome};
use super::diff::DiffReview;
use super::fit;
use super::mention::Message;
use super::notices::notice;
use super::plan::PlanView;
use super::popup::{Overlay, Popup, Reply};
use super::status::{ModelState, SPINNER, Status};
use super::theme::Theme;
use super::transcript::{Entry, Transcript};
use crate::protocol::{ApprovalKind, EventMsg, Op, Plan, RouteReason, RouteRole};
use crate::sandbox::Workspace;

/// What the runtime must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this message: the person pressed Enter on text that is not a command.
    Submit(Message),
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
    Op(Op),
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
    /// Start a new conversation: the next message starts a new session (`/new`).
    NewConversation,
    /// Continue an earlier session of this workspace by id, or pick one from a list (`/resume`).
    Resume(Option<String>),
    /// Shorten the conversation's earlier turns into a summary (`/compact`).
    Compact,
    /// Leave.
    Quit,
}

/// Everything the UI shows.
#[derive(Debug, Clone)]
pub struct App {
    workspace: String,
    transcript: Transcript,
    plan: PlanView,
    diff: DiffReview,
    composer: Composer,
    popup: Option<Popup>,
    status: Status,
    busy: bool,
    last_plan: Option<(String, Plan)>,
    ctrl_c: Option<Instant>,
    frame: usize,
    theme: String,
    warnings: VecDeque<String>,
}

impl App {
    /// An empty app for `workspace` (shown in the title); history and `@` completion stay in memory until
    /// [`App::with_workspace`].
    pub fn new(workspace: &str, theme: &str, context_size: u64, budget: Option<f64>) -> App {
        App {
            workspace: workspace.to_string(),
            transcript: Transcript::default(),
            plan: PlanView::default(),
            diff: DiffReview::default(),
            composer: Composer::default(),
            popup: None,
            status: Status::new(context_size, budget),
            busy: false,
            last_plan: None,
            ctrl_c: None,
            frame: 0,
            theme: theme.to_string(),
            warnings: VecDeque::new(),
        }
    }

    /// Keeps the composer's history in the workspace's `.tandem/` and completes `@` mentions from its files.
    pub fn with_workspace(mut self, ws: Workspace) -> App {
        self.composer = Composer::new(Some(ws));
        if let Some(n) = self.composer.take_notice() {
            self.error(n);
        }
        self
    }

    /// A notice in the transcript.
    pub fn info(&mut self, text: impl Into<String>) {
        self.transcript.push(Entry::Info(text.into()));
    }

    /// What the person said, in the transcript (a task given on the command line, a replayed session).
    pub fn user(&mut self, text: impl Into<String>) {
        self.transcript.push(Entry::User(text.into()));
    }

    /// Empties the transcript and the plan pane (before a session is shown again).
    pub fn clear_transcript(&mut self) {
        self.transcript.clear();
        self.plan = PlanView::default();
    }

    /// Nothing is running or pending any more (after a transcript was replayed into the app).
    pub fn settle(&mut self) {
        self.busy = false;
        self.diff.clear();
        if matches!(self.overlay(), Some(Overlay::Command { .. })) {
            self.popup = None;
        }
    }

    /// An error in the transcript.
    pub fn error(&mut self, text: impl Into<String>) {
        self.transcript.push(Entry::Error(text.into()));
    }

    /// Shows a popup.
    pub fn show(&mut self, overlay: Overlay) {
        self.popup = Some(Popup::new(overlay));
    }

    /// The popup shown, if any.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.popup.as_ref().map(Popup::overlay)
    }

    /// Whether a session is running.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// A session was started (`true`) or has ended (`false`).
    pub fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    /// Sets the local model's state.
    pub fn set_model(&mut self, model: ModelState) {
        self.status.set_model(model);
    }

    /// The local model's state.
    pub fn model(&self) -> &ModelState {
        self.status.model()
    }

    /// Session $ spent and saved.
    pub fn spend(&self) -> (f64, f64) {
        self.status.spend()
    }

    /// The theme's name changed.
    pub fn set_theme(&mut self, name: &str) {
        self.theme = name.to_string();
    }

    /// A plan-only session made this plan for `task`: `/run` executes it.
    pub fn plan_made(&mut self, task: String, plan: Plan) {
        self.last_plan = Some((task, plan));
        self.info("plan ready: /run executes it");
    }

    /// Advances the spinner; `true` when something animates (a redraw is due).
    pub fn tick(&mut self) -> bool {
        let moving = self.busy || matches!(self.status.model(), ModelState::Loading(_));
        if moving {
            self.frame = self.frame.wrapping_add(1);
        }
        moving
    }

    /// The text in the composer (pastes collapsed).
    pub fn composer_text(&self) -> String {
        self.composer.text()
    }

    /// The planner's route, when it runs locally because the cloud failed or is capped: the banner's text.
    pub fn fallback(&self) -> Option<String> {
        let d = self.status.route("planner")?;
        match &d.reason {
            RouteReason::CircuitOpen { .. }
            | RouteReason::FellBack { .. }
            | RouteReason::BudgetSpent { .. } => {
                Some(format!("planning on {} — {}", d.provider, d.reason))
            }
            _ => None,
        }
    }

    /// Applies one protocol event: each component takes what it shows.
    pub fn event(&mut self, msg: &EventMsg) {
        self.status.event(msg);
        self.transcript.event(msg);
        self.diff.event(msg);
        let executor = self
            .status
            .route("executor")
            .map(|d| format!("{}/{}", d.provider, d.model));
        self.plan.event(msg, executor);
        if let Some(text) = notice(msg) {
            self.info(text);
        }
        match msg {
            EventMsg::SessionStarted { .. } => self.busy = true,
            EventMsg::ApprovalRequested {
                request,
                kind: ApprovalKind::Command { command, reason },
            } => self.show(Overlay::Command {
                request: *request,
                command: command.clone(),
                reason: reason.clone(),
            }),
            EventMsg::ApprovalDecided { request, .. } => {
                if matches!(self.overlay(), Some(Overlay::Command { request: r, .. }) if r == request)
                {
                    self.popup = None;
                }
            }
            EventMsg::ProviderFailed { provider, error } => {
                // The toast goes; the transcript keeps what happened.
                let text = format!("{provider} failed: {error}");
                self.transcript.push(Entry::Warning(text.clone()));
                self.push_warning(text);
            }
            EventMsg::Warning { message } => self.push_warning(message.clone()),
            EventMsg::Error { message } => self.error(message.clone()),
            EventMsg::SessionFinished { .. } => {
                self.busy = false;
                self.diff.clear();
                if matches!(self.overlay(), Some(Overlay::Command { .. })) {
                    self.popup = None;
                }
            }
            _ => {}
        }
    }

    fn push_warning(&mut self, w: String) {
        self.warnings.push_back(w);
        while self.warnings.len() > 3 {
            self.warnings.pop_front();
        }
    }

    /// Handles a key: the popup, the diff review or the composer takes it, in that order; returns what the
    /// runtime must do.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return self.ctrl_c();
        }
        if let Some(p) = &mut self.popup {
            let reply = p.key(key);
            return self.popup_reply(reply);
        }
        if self.diff.active() {
            return self
                .diff
                .key(key)
                .map(|(request, decision)| vec![Action::Op(Op::Approve { request, decision })])
                .unwrap_or_default();
        }
        if !self.composer.captures(&key) {
            match key.code {
                KeyCode::Esc if self.busy => {
                    self.info("cancelling…");
                    return vec![Action::Op(Op::Interrupt)];
                }
                KeyCode::Char('?') if self.composer.is_empty() => {
                    self.show(Overlay::Help);
                    return Vec::new();
                }
                KeyCode::PageUp => {
                    self.transcript.scroll(10);
                    return Vec::new();
                }
                KeyCode::PageDown => {
                    self.transcript.scroll(-10);
                    return Vec::new();
                }
                _ => {}
            }
        }
        let out = match self.composer.key(key) {
            Outcome::Submit(msg) => self.submit(msg),
            Outcome::Refused(why) => {
                self.error(why);
                Vec::new()
            }
            Outcome::Handled | Outcome::Ignored => Vec::new(),
        };
        if let Some(n) = self.composer.take_notice() {
            self.error(n);
        }
        out
    }

    fn ctrl_c(&mut self) -> Vec<Action> {
        if self.ctrl_c.is_some_and(|t| t.elapsed().as_secs_f64() < 2.0) {
            return vec![Action::Quit];
        }
        self.ctrl_c = Some(Instant::now());
        self.info("Ctrl-C again to quit");
        if self.busy {
            vec![Action::Op(Op::Interrupt)]
        } else {
            Vec::new()
        }
    }

    fn popup_reply(&mut self, reply: Reply) -> Vec<Action> {
        if reply != Reply::Keep {
            self.popup = None;
        }
        match reply {
            Reply::Keep | Reply::Close => Vec::new(),
            Reply::Trust => vec![Action::Trust],
            Reply::Distrust => {
                self.info(
                    "not trusted: the project config only narrows settings (/trust to change that)",
                );
                Vec::new()
            }
            Reply::Decide(request, decision) => vec![Action::Op(Op::Approve { request, decision })],
            Reply::Resume(id) => vec![Action::Resume(Some(id))],
        }
    }

    /// Pasted text goes into the composer (a long paste as a placeholder; sent in full).
    pub fn paste(&mut self, text: &str) {
        self.composer.paste(text);
    }

    fn submit(&mut self, msg: Message) -> Vec<Action> {
        if let Some(cmd) = msg.text.strip_prefix('/') {
            let cmd = cmd.to_string();
            return self.command(&cmd, &msg);
        }
        // While a turn runs, the runtime queues the message: it runs as the next turn.
        self.transcript.push(Entry::User(msg.text.clone()));
        self.note_attachments(&msg);
        vec![Action::Submit(msg)]
    }

    fn note_attachments(&mut self, msg: &Message) {
        for a in &msg.attachments {
            let lines = a.content.lines().count();
            self.info(format!(
                "attached {} ({lines} line{})",
                a.path,
                if lines == 1 { "" } else { "s" }
            ));
        }
    }

    fn command(&mut self, cmd: &str, msg: &Message) -> Vec<Action> {
        let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
        let rest = rest.trim();
        let idle = !self.busy;
        // The task of `/plan` and `/run` with its attachments (after the command word).
        let task = || {
            Message {
                text: rest.to_string(),
                attachments: msg.attachments.clone(),
            }
            .task()
        };
        match name {
            "help" => {
                self.show(Overlay::Help);
                Vec::new()
            }
            "quit" | "exit" | "q" => vec![Action::Quit],
            "clear" => {
                self.transcript.clear();
                Vec::new()
            }
            "plan" if idle && !rest.is_empty() => {
                self.transcript.push(Entry::User(format!("/plan {rest}")));
                self.note_attachments(msg);
                vec![Action::Start {
                    task: task(),
                    plan_only: true,
                    plan: None,
                }]
            }
            "run" if idle => match (self.last_plan.clone(), rest.is_empty()) {
                (_, false) => {
                    self.transcript.push(Entry::User(rest.to_string()));
                    self.note_attachments(msg);
                    vec![Action::Start {
                        task: task(),
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
            "undo" if self.busy => vec![Action::Op(Op::Undo)],
            "undo" => vec![Action::UndoLast],
            "cost" => vec![Action::Cost],
            "trust" => vec![Action::Trust],
            "new" => vec![Action::NewConversation],
            "resume" => vec![Action::Resume((!rest.is_empty()).then(|| rest.to_string()))],
            "compact" => vec![Action::Compact],
            "route" => match rest {
                "" => {
                    let now = self
                        .status
                        .route("planner")
                        .map_or_else(|| "not routed yet".to_string(), |d| d.to_string());
                    self.info(format!(
                        "planner route: {now}. /route cloud|local|<provider>|auto"
                    ));
                    Vec::new()
                }
                "auto" => vec![Action::Route(None)],
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
                            self.status.route(role).map_or_else(
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

    /// Draws the whole screen: banner, transcript and plan (or the diff review), composer, status bar, popup.
    pub fn draw(&self, f: &mut Frame, theme: &Theme) {
        let area = f.area();
        let banner = self.fallback().or_else(|| self.warnings.back().cloned());
        let composer_h = self
            .composer
            .height(area.width)
            .min(area.height.saturating_sub(5).max(3));
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(u16::from(banner.is_some())),
                Constraint::Min(3),
                Constraint::Length(composer_h),
                Constraint::Length(1),
            ])
            .split(area);
        if let Some(text) = banner {
            let style = Style::default()
                .bg(theme.banner_bg)
                .fg(theme.warning)
                .add_modifier(Modifier::BOLD);
            let text = fit::truncate(&format!(" ⚠ {text}"), usize::from(area.width));
            f.render_widget(Paragraph::new(text).style(style), rows[0]);
        }
        if self.diff.active() {
            self.diff.draw(f, theme, rows[1]);
        } else {
            // The plan pane gives way on a narrow terminal; the transcript needs the room more.
            let plan_w = match area.width {
                100.. => 40,
                60..100 => 28,
                _ => 0,
            };
            let cols = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Min(20), Constraint::Length(plan_w)])
                .split(rows[1]);
            let title = format!(" tandem · {} ", self.workspace);
            self.transcript.draw(f, theme, cols[0], title);
            if plan_w > 0 {
                self.plan.draw(f, theme, cols[1], self.frame);
            }
        }
        let title = if self.busy {
            format!(
                " {} working — Esc cancels ",
                SPINNER[self.frame % SPINNER.len()]
            )
        } else {
            " Task — Enter sends · Shift+Enter newline · @ file · /help ".to_string()
        };
        let typing = self.popup.is_none() && !self.diff.active();
        self.composer
            .draw(f, rows[2], theme, title, !self.busy, typing);
        self.status.draw(f, theme, rows[3], self.frame);
        if let Some(p) = &self.popup {
            p.draw(f, theme, area);
        }
    }
}

#[cfg(test)]
impl App {
    /// The status bar's state (tests set timing-dependent values).
    pub fn status_mut(&mut self) -> &mut Status {
        &mut self.status
    }

    /// Whether an edit review is shown.
    pub fn reviewing(&self) -> bool {
        self.diff.active()
    }
}
