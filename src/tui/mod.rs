//! The interactive UI (`tandem` with no subcommand): ratatui over crossterm. It reads only protocol Events and
//! sends Ops: sessions run in tasks, the local model loads in the background, and the screen is redrawn from
//! [`app::App`] whenever something changed (and at a slow tick while something is running), never blocked.

pub mod app;
mod composer;
mod diff;
mod fit;
mod fuzzy;
mod history;
mod markdown;
pub(crate) mod mention;
mod notices;
mod plan;
pub mod popup;
pub mod status;
pub mod theme;
mod transcript;
pub mod view;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::agent::session::SessionHandle;
use crate::agent::transcript as transcripts;
use crate::cli::{GlobalArgs, exit};
use crate::config::Config;
use crate::launch::{Launcher, Mode, SessionSpec, continue_session};
use crate::protocol::{EventMsg, Op, RouteRole};
use crate::router::Router;
use app::{Action, App};
use popup::Overlay;
use status::ModelState;
use theme::Theme;

/// Puts the terminal back (raw mode off, main screen, paste off, cursor shown); safe to call twice.
pub fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::PopKeyboardEnhancementFlags,
        crossterm::event::DisableBracketedPaste,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// What the runtime learns besides terminal input and session events.
enum Note {
    ModelLoaded(Result<f64, String>),
    SessionDone,
}

/// How the UI starts: a first task (`tandem "task"`), or an earlier session to continue.
#[derive(Debug, Clone, Default)]
pub struct UiStart {
    /// A task to run at once.
    pub task: Option<String>,
    /// A session to continue (`--resume ID`).
    pub resume: Option<String>,
    /// Continue the workspace's latest session (`--continue`).
    pub continue_last: bool,
}

struct Runtime {
    launcher: Launcher,
    original_planner: String,
    theme: Theme,
    handle: Option<SessionHandle>,
    /// The conversation the next message continues (a session id); `None`: the next message starts one.
    conversation: Option<String>,
    /// The router of the conversation, and the providers it was built for (a `/route` change rebuilds it).
    router: Option<(String, Arc<Router>)>,
    /// Messages typed while a task ran, run in order as the next turns.
    queue: VecDeque<(String, bool, Option<crate::protocol::Plan>)>,
    /// Every task is planned only (`--plan-only`).
    plan_only: bool,
    events_tx: tokio::sync::mpsc::UnboundedSender<crate::protocol::Event>,
    notes_tx: tokio::sync::mpsc::UnboundedSender<Note>,
    plan_only_task: Option<String>,
    /// The sessions last listed by `/resume`, for `/resume N`.
    listed: Vec<String>,
}

/// Runs the UI until the user quits; the terminal is restored on every way out (return, error, panic,
/// SIGTERM).
pub async fn run(config: Config, global: &GlobalArgs, start: UiStart) -> anyhow::Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        crate::errln!(
            "tandem: not a terminal; run `tandem exec \"<task>\"` for a headless session"
        );
        return Ok(exit::USAGE);
    }
    let theme_name = global
        .theme
        .clone()
        .unwrap_or_else(|| config.values.ui.theme.clone());
    let theme =
        Theme::load(&theme_name, &config.dirs.config.join("themes")).map_err(anyhow::Error::msg)?;
    let launcher = Launcher::new(config, Mode::Ui, global.offline)?;
    // A session to continue is checked before the screen changes, so a wrong id is a plain error.
    let conversation =
        match (&start.resume, start.continue_last) {
            (Some(id), _) => {
                transcripts::load(launcher.workspace().root(), id)?;
                Some(id.clone())
            }
            (None, true) => Some(transcripts::latest(launcher.workspace().root()).ok_or_else(
                || anyhow::anyhow!("no earlier session in this workspace to continue"),
            )?),
            (None, false) => None,
        };

    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        prev_hook(info);
    }));
    crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::event::EnableBracketedPaste
    )?;
    // Terminals that speak the kitty keyboard protocol then report Shift-Enter apart from Enter (and Esc at
    // once); the others ignore the request, and Alt-Enter or Ctrl-J still make a new line.
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::PushKeyboardEnhancementFlags(
            crossterm::event::KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES
        )
    );
    let result = event_loop(launcher, global, theme, conversation, start.task).await;
    restore_terminal();
    result
}

async fn event_loop(
    launcher: Launcher,
    global: &GlobalArgs,
    theme: Theme,
    conversation: Option<String>,
    first_task: Option<String>,
) -> anyhow::Result<u8> {
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let config = launcher.config();
    let budget =
        (config.values.budget.session_usd > 0.0).then_some(config.values.budget.session_usd);
    let mut app = App::new(
        &launcher.workspace().root().display().to_string(),
        &theme.name,
        u64::from(config.values.local.context_size),
        budget,
    )
    .with_workspace(launcher.workspace().clone());
    for line in config.trust.notices() {
        app.error(line);
    }
    if !config.trust.ignored.is_empty() {
        app.show(Overlay::Trust(trust_question(config)));
        app.info(
            "Type /trust (or run `tandem trust`, or start with --trust) to honour this workspace's config in full.",
        );
    }
    if global.plan_only {
        app.info(
            "--plan-only: every task is planned, nothing is changed; /run executes the last plan",
        );
    }
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    // The local model loads in the background; the UI is usable at once.
    {
        app.set_model(ModelState::Loading(Instant::now()));
        let local = launcher.local().clone();
        let tx = notes_tx.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = local
                .engine()
                .await
                .map(|_| t.elapsed().as_secs_f64())
                .map_err(|e| e.to_string());
            let _ = tx.send(Note::ModelLoaded(r));
        });
    }
    let mut rt = Runtime {
        original_planner: launcher.config().values.planner.provider.clone(),
        launcher,
        theme,
        handle: None,
        conversation: None,
        router: None,
        queue: VecDeque::new(),
        plan_only: global.plan_only,
        events_tx,
        notes_tx,
        plan_only_task: None,
        listed: Vec::new(),
    };
    if let Some(id) = conversation {
        rt.open(&id, &mut app);
    }
    if let Some(task) = first_task.filter(|t| !t.trim().is_empty()) {
        app.user(task.clone());
        rt.act(
            Action::Start {
                task,
                plan_only: false,
                plan: None,
            },
            &mut app,
        )
        .await?;
    }
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let mut first_frame = true;
    loop {
        if dirty {
            terminal.draw(|f| view::draw(f, &app, &rt.theme))?;
            dirty = false;
            if first_frame {
                first_frame = false;
                let ms = crate::logging::process_start().elapsed().as_secs_f64() * 1000.0;
                tracing::info!(first_frame_ms = ms, "first frame drawn");
            }
        }
        tokio::select! {
            term = input.next() => {
                match term {
                    Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                        for action in app.key(key) {
                            if rt.act(action, &mut app).await? {
                                return Ok(exit::OK);
                            }
                        }
                    }
                    Some(Ok(TermEvent::Paste(text))) => app.paste(&text),
                    Some(Ok(TermEvent::Resize(..))) => terminal.autoresize()?,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(exit::OK),
                }
                dirty = true;
            }
            Some(event) = events.recv() => {
                if let EventMsg::PlanReady { plan, .. } = &event.msg
                    && let Some(task) = &rt.plan_only_task
                {
                    app.plan_made(task.clone(), plan.clone());
                }
                app.event(&event.msg);
                // A load that failed is retried by the next request: once one succeeds, the bar says so.
                if matches!(app.model(), ModelState::Failed(_))
                    && let Some(secs) = rt.launcher.local().loaded_in()
                {
                    app.set_model(ModelState::Ready(secs));
                }
                dirty = true;
            }
            Some(note) = notes.recv() => {
                match note {
                    Note::ModelLoaded(Ok(secs)) => app.set_model(ModelState::Ready(secs)),
                    Note::ModelLoaded(Err(e)) => {
                        app.error(e.clone());
                        app.set_model(ModelState::Failed(e));
                    }
                    Note::SessionDone => {
                        rt.handle = None;
                        app.set_busy(false);
                        if let Some((task, plan_only, plan)) = rt.queue.pop_front() {
                            app.info(format!("next queued message: {}", crate::text::terminal_safe(&task)));
                            if let Err(e) = rt.start(task, plan_only, plan) {
                                app.error(format!("{e:#}"));
                            } else {
                                app.set_busy(true);
                            }
                        }
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                if app.tick() {
                    dirty = true;
                }
            }
            _ = sigterm.recv() => {
                if let Some(h) = &rt.handle {
                    h.send(Op::Interrupt);
                }
                return Ok(exit::INTERRUPTED);
            }
        }
    }
}

impl Runtime {
    /// Carries out an action; `true` means quit.
    async fn act(&mut self, action: Action, app: &mut App) -> anyhow::Result<bool> {
        match action {
            Action::Quit => {
                if let Some(h) = &self.handle {
                    h.send(Op::Interrupt);
                }
                return Ok(true);
            }
            Action::Op(op) => match &self.handle {
                Some(h) => h.send(op),
                None => app.info("no session is running"),
            },
            Action::Start {
                task,
                plan_only,
                plan,
            } => {
                let plan_only = plan_only || (self.plan_only && plan.is_none());
                if self.handle.is_some() {
                    self.queue.push_back((task, plan_only, plan));
                    app.info(format!(
                        "queued ({} waiting): it runs as the next turn when this one ends (Esc stops this one)",
                        self.queue.len()
                    ));
                } else if let Err(e) = self.start(task, plan_only, plan) {
                    app.error(format!("{e:#}"));
                } else {
                    app.set_busy(true);
                }
            }
            Action::Submit(message) => {
                return Box::pin(self.act(
                    Action::Start {
                        task: message.task(),
                        plan_only: false,
                        plan: None,
                    },
                    app,
                ))
                .await;
            }
            Action::NewConversation => {
                if self.handle.is_some() {
                    app.info("a task is running: /new applies when it ends (Esc stops it)");
                } else {
                    self.conversation = None;
                    self.router = None;
                    app.info("new conversation: the next message starts a new session");
                }
            }
            Action::Resume(None) => {
                let sessions = transcripts::list(self.launcher.workspace().root(), 20);
                if sessions.is_empty() {
                    app.info("no sessions in this workspace yet");
                } else {
                    self.listed = sessions.iter().map(|s| s.id.clone()).collect();
                    app.show(Overlay::Sessions(sessions_rows(&sessions)));
                }
            }
            Action::Resume(Some(which)) => {
                if self.handle.is_some() {
                    app.info("a task is running: /resume when it ends (Esc stops it)");
                } else {
                    let id = match which.parse::<usize>() {
                        Ok(n) if (1..=self.listed.len()).contains(&n) => self.listed[n - 1].clone(),
                        _ => which,
                    };
                    self.open(&id, app);
                }
            }
            Action::Compact => self.compact(app),
            Action::UndoLast => app.info(self.undo_last()),
            Action::Route(None) => {
                self.launcher.config_mut().values.planner.provider = self.original_planner.clone();
                app.info(format!(
                    "planner provider back to the config: {}",
                    self.original_planner
                ));
            }
            Action::Route(Some(p)) | Action::Model(RouteRole::Planner, p) => {
                match self.provider_ok(&p) {
                    Ok(()) => {
                        self.launcher.config_mut().values.planner.provider = p.clone();
                        app.info(format!("the next turns plan on {p}"));
                    }
                    Err(e) => app.error(e),
                }
            }
            Action::Model(RouteRole::Executor, p) => match self.provider_ok(&p) {
                Ok(()) => {
                    self.launcher.config_mut().values.executor.provider = p.clone();
                    app.info(format!("the next turns execute on {p}"));
                }
                Err(e) => app.error(e),
            },
            Action::Theme(name) => {
                let dir = self.launcher.config().dirs.config.join("themes");
                match Theme::load(&name, &dir) {
                    Ok(t) => {
                        app.set_theme(&t.name);
                        self.theme = t;
                    }
                    Err(e) => app.error(e),
                }
            }
            Action::Trust => match crate::trust_cmd::grant(self.launcher.config()) {
                Ok(()) => app.info(format!(
                    "trusted {} as it is now; restart tandem to apply its settings (a change to the file revokes the trust)",
                    self.launcher.config().trust.file.display()
                )),
                Err(e) => app.error(format!("{e:#}")),
            },
            Action::Cost => {
                let report = crate::spend::report::run(&self.launcher.config().dirs.data, false)
                    .unwrap_or_else(|e| format!("no spend ledger: {e}"));
                let (spent, saved) = app.spend();
                let text = format!(
                    "This session: ${spent:.4} spent, ${saved:.4} saved against an all-cloud run.\n\n{report}"
                );
                app.show(Overlay::Cost(text));
            }
        }
        Ok(false)
    }

    fn provider_ok(&self, p: &str) -> Result<(), String> {
        let providers = &self.launcher.config().values.providers;
        if matches!(p, "local" | "cloud" | "auto") || providers.contains_key(p) {
            Ok(())
        } else {
            let names: Vec<&str> = providers.keys().map(String::as_str).collect();
            Err(format!(
                "no provider `{p}`: local, cloud, auto or one of {}",
                names.join(", ")
            ))
        }
    }

    /// Makes `id` the conversation: its earlier events are shown, and an unfinished turn goes on at once.
    fn open(&mut self, id: &str, app: &mut App) {
        let root = self.launcher.workspace().root().to_path_buf();
        let events = match transcripts::load(&root, id) {
            Ok(events) => events,
            Err(e) => {
                app.error(e.to_string());
                return;
            }
        };
        app.clear_transcript();
        for event in &events {
            if let EventMsg::SessionStarted { task, .. } = &event.msg {
                app.user(task.clone());
            }
            app.event(&event.msg);
        }
        // What was pending when the transcript ends is not pending now.
        app.settle();
        self.conversation = Some(id.to_string());
        self.router = None;
        let state = transcripts::replay(&events);
        if state.outcome.is_none() {
            app.info(format!("session {id} was cut off: resuming its task"));
            if let Err(e) = self.start_resumed(id, state) {
                app.error(format!("{e:#}"));
            } else {
                app.set_busy(true);
            }
        } else {
            app.info(format!(
                "continuing session {id} ({} turn(s)): your next message is a follow-up",
                state.history.len() + 1
            ));
        }
    }

    /// `/compact`: the conversation's earlier turns become a summary, recorded in its transcript.
    fn compact(&mut self, app: &mut App) {
        if self.handle.is_some() {
            app.info("a task is running: /compact when it ends");
            return;
        }
        let Some(id) = self.conversation.clone() else {
            app.info("nothing to compact: this conversation has no earlier turns");
            return;
        };
        let root = self.launcher.workspace().root().to_path_buf();
        let result = transcripts::load(&root, &id)
            .map_err(anyhow::Error::from)
            .and_then(|events| {
                let state = transcripts::replay(&events);
                let Some((summary, turns)) = state.compaction() else {
                    return Ok(None);
                };
                let mut sink = crate::agent::events::EventSink::new(
                    Some(&transcripts::transcript_path(&root, &id)),
                    None,
                    state.last_seq,
                )?;
                sink.emit(EventMsg::Compacted {
                    summary: summary.clone(),
                    turns,
                });
                Ok(Some((summary, turns)))
            });
        match result {
            Ok(Some((summary, turns))) => app.info(format!(
                "compacted {turns} turn(s); the next turns are planned with this summary:\n{summary}"
            )),
            Ok(None) => app.info("nothing to compact yet"),
            Err(e) => app.error(format!("compaction failed: {e:#}")),
        }
    }

    /// The router for the conversation `id`: kept across its turns (a provider's breaker and reset with
    /// it), rebuilt when the providers changed.
    fn router_for(&mut self, id: &str) -> anyhow::Result<Arc<Router>> {
        let v = &self.launcher.config().values;
        let key = format!("{id}\n{}\n{}", v.planner.provider, v.executor.provider);
        if let Some((k, r)) = &self.router
            && *k == key
        {
            return Ok(r.clone());
        }
        let router = self.launcher.router(id)?;
        self.router = Some((key, router.clone()));
        Ok(router)
    }

    /// Starts the next turn: a follow-up in the current conversation, or a new session.
    fn start(
        &mut self,
        task: String,
        plan_only: bool,
        plan: Option<crate::protocol::Plan>,
    ) -> anyhow::Result<()> {
        let root = self.launcher.workspace().root().to_path_buf();
        let (id, resume) = match self.conversation.clone() {
            Some(id) => {
                let events = transcripts::load(&root, &id)?;
                let state = transcripts::replay(&events);
                // A turn cut off by a crash is history too: the person moved on to a new message.
                let state = match state.outcome {
                    Some(_) => {
                        continue_session(self.launcher.workspace(), &id, Some(task.clone()))?.0
                    }
                    None => state.follow_up(&task),
                };
                (id, Some(state))
            }
            None => (transcripts::new_id(), None),
        };
        self.spawn(
            SessionSpec {
                id,
                task: task.clone(),
                plan_only,
                resume,
                initial_plan: plan,
            },
            plan_only.then_some(task),
        )
    }

    /// Resumes an unfinished turn of `id` with its own task.
    fn start_resumed(&mut self, id: &str, state: transcripts::Resumed) -> anyhow::Result<()> {
        let task = state.task.clone();
        self.spawn(
            SessionSpec {
                id: id.to_string(),
                task,
                plan_only: false,
                resume: Some(state),
                initial_plan: None,
            },
            None,
        )
    }

    fn spawn(&mut self, spec: SessionSpec, plan_only_task: Option<String>) -> anyhow::Result<()> {
        let id = spec.id.clone();
        let router = self.router_for(&id)?;
        let (session, handle) =
            self.launcher
                .session(spec, router, Some(self.events_tx.clone()))?;
        self.handle = Some(handle);
        self.conversation = Some(id);
        self.plan_only_task = plan_only_task;
        let notes = self.notes_tx.clone();
        let mcp = self.launcher.mcp();
        tokio::spawn(async move {
            let _ = session.with_mcp(mcp.await).run().await;
            let _ = notes.send(Note::SessionDone);
        });
        Ok(())
    }

    fn undo_last(&self) -> String {
        let root = self.launcher.workspace().root();
        let Some(id) = self
            .conversation
            .clone()
            .or_else(|| transcripts::latest(root))
        else {
            return "no session to undo in this workspace".into();
        };
        let cps =
            crate::agent::checkpoint::Checkpoints::new(transcripts::checkpoints_dir(root, &id));
        match cps.undo(self.launcher.workspace()) {
            Ok(out) => {
                let mut text = match out.undone {
                    Some((c, files)) => format!("undid checkpoint {c}: {}", files.join(", ")),
                    None => format!("session {id} has nothing left to undo"),
                };
                for note in out.skipped {
                    text.push_str(&format!("; {note}"));
                }
                text
            }
            Err(e) => format!("undo failed: {e}"),
        }
    }
}

/// The `/resume` picker's rows: each session's id, and a line with its age, turns, how the latest turn ended
/// and its task.
fn sessions_rows(sessions: &[transcripts::SessionInfo]) -> Vec<(String, String)> {
    let now = std::time::SystemTime::now();
    sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let age = now.duration_since(s.modified).map_or(0, |d| d.as_secs());
            let age = match age {
                a if a < 120 => format!("{a}s ago"),
                a if a < 7_200 => format!("{}m ago", a / 60),
                a if a < 172_800 => format!("{}h ago", a / 3_600),
                a => format!("{}d ago", a / 86_400),
            };
            let ended = match s.outcome {
                Some(o) => format!("{o:?}").to_lowercase(),
                None => "unfinished".into(),
            };
            let task: String = s.task.split_whitespace().collect::<Vec<_>>().join(" ");
            let task: String = task.chars().take(60).collect();
            (
                s.id.clone(),
                format!(
                    "{:>2}. {}  {age:>8}  {} turn(s), {ended}  {task}",
                    i + 1,
                    s.id,
                    s.turns
                ),
            )
        })
        .collect()
}

/// The text of the trust question: the file, then each key it sets that would be honoured once trusted.
pub fn trust_question(config: &Config) -> String {
    let mut text = format!(
        "{} is not trusted ({}).\nTrusting it honours these keys, ignored now:\n\n",
        config.trust.file.display(),
        match config.trust.state {
            crate::config::TrustState::Revoked => "it changed since you trusted it",
            _ => "a repository's config may only narrow settings",
        }
    );
    for i in &config.trust.ignored {
        text.push_str(&format!("  line {}: {}\n", i.line, i.key));
    }
    text.push_str("\nTrust is recorded with the file's sha256 and applies when tandem starts again;\nany change to the file revokes it.");
    text
}

#[cfg(test)]
mod tests;
