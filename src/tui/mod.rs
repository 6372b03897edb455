//! The interactive UI (`tandem` with no subcommand): ratatui over crossterm. It reads only protocol Events and
//! sends Ops: sessions run in tasks, the local model loads in the background, and the screen is redrawn from
//! [`app::App`] whenever something changed (and at a slow tick while something is running), never blocked.

pub mod app;
pub mod theme;
pub mod view;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::agent::session::{Session, SessionConfig, SessionHandle};
use crate::cli::{GlobalArgs, exit};
use crate::config::Config;
use crate::exec::{open_ledger, project_instructions};
use crate::model::ChatModel;
use crate::model::local::{EngineConfig, SamplingParams};
use crate::model::local_provider::LocalProvider;
use crate::prompts::{self, PromptName};
use crate::protocol::{EventMsg, Op, RouteRole};
use crate::router::Router;
use crate::sandbox::Workspace;
use app::{Action, App, ModelState, Overlay};
use theme::Theme;

/// Puts the terminal back (raw mode off, main screen, paste off, cursor shown); safe to call twice.
pub fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
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

struct Runtime {
    config: Config,
    original_planner: String,
    offline: bool,
    ws: Workspace,
    local: Arc<LocalProvider>,
    theme: Theme,
    handle: Option<SessionHandle>,
    last_session: Option<String>,
    events_tx: tokio::sync::mpsc::UnboundedSender<crate::protocol::Event>,
    notes_tx: tokio::sync::mpsc::UnboundedSender<Note>,
    plan_only_task: Option<String>,
}

/// Runs the UI until the user quits; the terminal is restored on every way out (return, error, panic,
/// SIGTERM).
pub async fn run(
    config: Config,
    global: &GlobalArgs,
    theme_flag: Option<&str>,
) -> anyhow::Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!("tandem: not a terminal; run `tandem exec \"<task>\"` for a headless session");
        return Ok(exit::USAGE);
    }
    let theme_name = theme_flag.map_or_else(|| config.values.ui.theme.clone(), str::to_string);
    let theme =
        Theme::load(&theme_name, &config.dirs.config.join("themes")).map_err(anyhow::Error::msg)?;
    let ws = Workspace::new(&config.workspace)?;
    let engine_config = EngineConfig::from_config(&config)?;
    let sampling = SamplingParams::from(&config.values.local.sampling);
    let local = Arc::new(LocalProvider::lazy(engine_config, sampling));

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
    let result = event_loop(config, global, ws, local, theme).await;
    restore_terminal();
    result
}

async fn event_loop(
    config: Config,
    global: &GlobalArgs,
    ws: Workspace,
    local: Arc<LocalProvider>,
    theme: Theme,
) -> anyhow::Result<u8> {
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let budget =
        (config.values.budget.session_usd > 0.0).then_some(config.values.budget.session_usd);
    let mut app = App::new(
        &ws.root().display().to_string(),
        &theme.name,
        u64::from(config.values.local.context_size),
        budget,
    );
    for line in config.trust.notices() {
        app.error(line);
    }
    if !config.trust.ignored.is_empty() {
        app.overlay = Some(Overlay::Trust(trust_question(&config)));
        app.info(
            "Type /trust (or run `tandem trust`, or start with --trust) to honour this workspace's config in full.",
        );
    }
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    // The local model loads in the background; the UI is usable at once.
    {
        app.model = ModelState::Loading(Instant::now());
        let local = local.clone();
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
        original_planner: config.values.planner.provider.clone(),
        config,
        offline: global.offline,
        ws,
        local,
        theme,
        handle: None,
        last_session: None,
        events_tx,
        notes_tx,
        plan_only_task: None,
    };
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
                    app.last_plan = Some((task.clone(), plan.clone()));
                    app.info("plan ready: /run executes it");
                }
                app.event(&event.msg);
                dirty = true;
            }
            Some(note) = notes.recv() => {
                match note {
                    Note::ModelLoaded(Ok(secs)) => app.model = ModelState::Ready(secs),
                    Note::ModelLoaded(Err(e)) => {
                        app.error(format!("the local model is unavailable: {e}"));
                        app.model = ModelState::Failed(e);
                    }
                    Note::SessionDone => {
                        rt.handle = None;
                        app.busy = false;
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                if app.busy || matches!(app.model, ModelState::Loading(_)) {
                    app.frame = app.frame.wrapping_add(1);
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
                if let Err(e) = self.start(task, plan_only, plan) {
                    app.error(format!("{e:#}"));
                } else {
                    app.busy = true;
                }
            }
            Action::UndoLast => app.info(self.undo_last()),
            Action::Route(None) => {
                self.config.values.planner.provider = self.original_planner.clone();
                app.info(format!(
                    "planner provider back to the config: {}",
                    self.original_planner
                ));
            }
            Action::Route(Some(p)) | Action::Model(RouteRole::Planner, p) => {
                match self.provider_ok(&p) {
                    Ok(()) => {
                        self.config.values.planner.provider = p.clone();
                        app.info(format!("the next sessions plan on {p}"));
                    }
                    Err(e) => app.error(e),
                }
            }
            Action::Model(RouteRole::Executor, p) => match self.provider_ok(&p) {
                Ok(()) => {
                    self.config.values.executor.provider = p.clone();
                    app.info(format!("the next sessions execute on {p}"));
                }
                Err(e) => app.error(e),
            },
            Action::Theme(name) => {
                match Theme::load(&name, &self.config.dirs.config.join("themes")) {
                    Ok(t) => {
                        app.theme = t.name.clone();
                        self.theme = t;
                    }
                    Err(e) => app.error(e),
                }
            }
            Action::Trust => match crate::trust_cmd::grant(&self.config) {
                Ok(()) => app.info(format!(
                    "trusted {} as it is now; restart tandem to apply its settings (a change to the file revokes the trust)",
                    self.config.trust.file.display()
                )),
                Err(e) => app.error(format!("{e:#}")),
            },
            Action::Cost => {
                let report = crate::spend::report::run(&self.config.dirs.data, false)
                    .unwrap_or_else(|e| format!("no spend ledger: {e}"));
                let text = format!(
                    "This session: ${:.4} spent, ${:.4} saved against an all-cloud run.\n\n{report}",
                    app.spent, app.saved
                );
                app.overlay = Some(Overlay::Cost(text));
            }
        }
        Ok(false)
    }

    fn provider_ok(&self, p: &str) -> Result<(), String> {
        if matches!(p, "local" | "cloud" | "auto") || self.config.values.providers.contains_key(p) {
            Ok(())
        } else {
            let names: Vec<&str> = self
                .config
                .values
                .providers
                .keys()
                .map(String::as_str)
                .collect();
            Err(format!(
                "no provider `{p}`: local, cloud, auto or one of {}",
                names.join(", ")
            ))
        }
    }

    fn start(
        &mut self,
        task: String,
        plan_only: bool,
        plan: Option<crate::protocol::Plan>,
    ) -> anyhow::Result<()> {
        let id = crate::router::new_session_id();
        let mut config = self.config.clone();
        // The UI shows diffs before edits land and asks about commands: its own defaults apply.
        config.values.agent.approval = config.values.ui.approval;
        config.values.agent.commands = config.values.ui.commands;
        let local: Arc<dyn ChatModel> = self.local.clone();
        let router = Router::from_config(
            &config,
            Some(local),
            self.offline,
            id.clone(),
            open_ledger(&config),
        )?;
        let session_config = SessionConfig {
            id: id.clone(),
            task: task.clone(),
            agent: config.values.agent.clone(),
            sandbox: config.values.sandbox.clone(),
            plan_only,
            planner_prompt: prompts::load(PromptName::Planner, &config.dirs.config),
            executor_prompt: prompts::load(PromptName::Executor, &config.dirs.config),
            instructions: project_instructions(self.ws.root()),
            max_tokens: config.values.local.max_tokens,
            resume: None,
            initial_plan: plan,
            transcript: true,
        };
        let (session, handle) = Session::new(
            session_config,
            self.ws.clone(),
            Arc::new(router),
            Some(self.events_tx.clone()),
        )?;
        self.handle = Some(handle);
        self.last_session = Some(id);
        self.plan_only_task = plan_only.then_some(task);
        let notes = self.notes_tx.clone();
        tokio::spawn(async move {
            let mcp = std::sync::Arc::new(crate::agent::session::mcp_hub(&config).await);
            let _ = session.with_mcp(mcp).run().await;
            let _ = notes.send(Note::SessionDone);
        });
        Ok(())
    }

    fn undo_last(&self) -> String {
        let root = self.ws.root();
        let Some(id) = self
            .last_session
            .clone()
            .or_else(|| crate::agent::transcript::latest(root))
        else {
            return "no session to undo in this workspace".into();
        };
        let cps = crate::agent::checkpoint::Checkpoints::new(
            crate::agent::transcript::checkpoints_dir(root, &id),
        );
        match cps.undo(&self.ws) {
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
