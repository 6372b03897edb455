//! One way to start a session: the resolved config and a mode (the UI, a headless run, a loop) become the
//! effective session settings, a router and a running session, so a new session option touches one place.

use std::sync::Arc;

use anyhow::{Context, bail};

use crate::agent::session::{Session, SessionConfig, SessionHandle};
use crate::agent::transcript::{self, Resumed};
use crate::config::{ApprovalPolicy, CommandPolicy, Config};
use crate::mcp::McpHub;
use crate::model::ChatModel;
use crate::model::local::{EngineConfig, SamplingParams};
use crate::model::local_provider::LocalProvider;
use crate::prompts::{self, PromptName};
use crate::protocol::{Event, Plan};
use crate::router::Router;
use crate::sandbox::Workspace;
use crate::spend::Ledger;

/// Who answers a session's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The interactive UI: diffs are shown before edits land and commands are asked about (`ui.*` policies).
    Ui,
    /// Nobody: `--approve auto` applies and runs, `--approve never` refuses; what would ask is refused.
    Headless {
        /// `--approve never`.
        never: bool,
    },
}

impl Mode {
    /// The headless mode for an `--approve` value (`auto` or `never`).
    pub fn headless(approve: &str) -> Mode {
        Mode::Headless {
            never: approve == "never",
        }
    }
}

/// What one session (or one turn of a conversation) is asked to do.
#[derive(Debug, Clone, Default)]
pub struct SessionSpec {
    /// Its id (from [`transcript::new_id`] for a new one).
    pub id: String,
    /// The task.
    pub task: String,
    /// Stop after the plan.
    pub plan_only: bool,
    /// Where an earlier run of this session got to (a resume or a follow-up).
    pub resume: Option<Resumed>,
    /// A plan made earlier, executed without planning again.
    pub initial_plan: Option<Plan>,
}

/// Builds sessions and their routers from one effective config.
pub struct Launcher {
    config: Config,
    ws: Workspace,
    offline: bool,
    local: Arc<LocalProvider>,
    ledger: Option<Arc<Ledger>>,
    mcp: Arc<tokio::sync::OnceCell<Arc<McpHub>>>,
    headless: bool,
}

impl Launcher {
    /// A launcher for `mode` over the config's workspace; `offline` keeps every role local.
    pub fn new(mut config: Config, mode: Mode, offline: bool) -> anyhow::Result<Launcher> {
        let ws = Workspace::new(&config.workspace)
            .with_context(|| format!("workspace {}", config.workspace.display()))?;
        let headless = matches!(mode, Mode::Headless { .. });
        apply_mode(&mut config, mode);
        let engine = EngineConfig::from_config(&config)?;
        let sampling = SamplingParams::from(&config.values.local.sampling);
        let local = Arc::new(LocalProvider::lazy(engine, sampling));
        let ledger = open_ledger(&config);
        Ok(Launcher {
            config,
            ws,
            offline,
            local,
            ledger,
            mcp: Arc::default(),
            headless,
        })
    }

    /// The effective config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The effective config, to change what the next sessions use (the UI's `/route` and `/model`).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    /// The local model (loaded on first use).
    pub fn local(&self) -> &Arc<LocalProvider> {
        &self.local
    }

    /// Whether every role is kept local.
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// The MCP servers' hub, started on first use and shared by every session of this launcher (a stdio
    /// server keeps its state across turns and iterations).
    pub fn mcp(&self) -> impl std::future::Future<Output = Arc<McpHub>> + Send + 'static {
        let cell = self.mcp.clone();
        let config = self.config.clone();
        async move {
            cell.get_or_init(|| async { Arc::new(crate::agent::session::mcp_hub(&config).await) })
                .await
                .clone()
        }
    }

    /// A router for `session` (the ledger's session id) over the configured providers and the local model.
    pub fn router(&self, session: &str) -> anyhow::Result<Arc<Router>> {
        let local: Arc<dyn ChatModel> = self.local.clone();
        Ok(Arc::new(Router::from_config(
            &self.config,
            Some(local),
            self.offline,
            session.to_string(),
            self.ledger.clone(),
        )?))
    }

    /// The session settings for `spec` under the effective config; `sensitive` says which workspace paths
    /// are sensitive (an instruction file leading to one is not read).
    pub fn session_config(
        &self,
        spec: SessionSpec,
        sensitive: &dyn Fn(&str) -> bool,
    ) -> SessionConfig {
        let c = &self.config;
        SessionConfig {
            id: spec.id,
            task: spec.task,
            agent: c.values.agent.clone(),
            profile: c.profile().1,
            sandbox: c.values.sandbox.clone(),
            plan_only: spec.plan_only,
            planner_prompt: prompts::load(PromptName::Planner, &c.dirs.config),
            executor_prompt: prompts::load(PromptName::Executor, &c.dirs.config),
            writer_prompt: prompts::load(PromptName::Writer, &c.dirs.config),
            definitions_prompt: prompts::load(PromptName::Definitions, &c.dirs.config),
            instructions: crate::agent::instructions::load(
                self.ws.root(),
                &c.dirs.config,
                sensitive,
            ),
            resume: spec.resume,
            initial_plan: spec.initial_plan,
            transcript: true,
            headless: self.headless,
        }
    }

    /// A session for `spec` on `router`, its events also sent to `events`; run it with [`Session::run`].
    pub fn session(
        &self,
        spec: SessionSpec,
        router: Arc<Router>,
        events: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
    ) -> anyhow::Result<(Session, SessionHandle)> {
        let hooks = crate::hooks::Hooks::from_config(&self.config).map_err(anyhow::Error::msg)?;
        let cfg = self.session_config(spec, &|p| router.is_sensitive_path(p));
        let (session, handle) = Session::new(cfg, self.ws.clone(), router, events)?;
        Ok((session.with_hooks(Arc::new(hooks)), handle))
    }
}

/// Applies the mode's approval policies to the config.
fn apply_mode(config: &mut Config, mode: Mode) {
    let never = match mode {
        Mode::Ui => {
            config.values.agent.approval = config.values.ui.approval;
            config.values.agent.commands = config.values.ui.commands;
            return;
        }
        Mode::Headless { never } => never,
    };
    if matches!(
        config.values.agent.approval,
        ApprovalPolicy::PerFile | ApprovalPolicy::PerHunk
    ) {
        crate::errln!(
            "tandem: headless run: edits follow --approve {} (agent.approval = per-file/per-hunk needs the UI)",
            if never { "never" } else { "auto" }
        );
    }
    config.values.agent.approval = if never {
        ApprovalPolicy::Never
    } else {
        ApprovalPolicy::Auto
    };
    // Nobody can answer a question here: what would ask is refused instead.
    let commands = &mut config.values.agent.commands;
    if never
        || matches!(
            *commands,
            CommandPolicy::Untrusted | CommandPolicy::OnRequest
        )
    {
        *commands = CommandPolicy::Never;
    }
}

/// Opens the spend ledger, or says why spend will not be recorded.
pub fn open_ledger(config: &Config) -> Option<Arc<Ledger>> {
    match Ledger::open(&Ledger::default_path(&config.dirs.data)) {
        Ok(l) => Some(Arc::new(l)),
        Err(e) => {
            crate::errln!("tandem: warning: spend will not be recorded: {e}");
            None
        }
    }
}

/// How an earlier session goes on: its state and task. An unfinished one resumes its own task (a new task is
/// refused until it is finished); a finished one needs a follow-up task, which becomes its next turn.
pub fn continue_session(
    ws: &Workspace,
    id: &str,
    follow_up: Option<String>,
) -> anyhow::Result<(Resumed, String)> {
    let events = transcript::load(ws.root(), id)?;
    let state = transcript::replay(&events);
    match (state.outcome, follow_up) {
        (None, None) => {
            let task = state.task.clone();
            Ok((state, task))
        }
        (None, Some(_)) => {
            bail!("session {id} is unfinished: resume it without a new task first")
        }
        (Some(outcome), None) => bail!(
            "session {id} already finished ({outcome:?}); give a follow-up task to continue it"
        ),
        (Some(_), Some(task)) => Ok((state.follow_up(&task), task)),
    }
}
