//! The command line: clap definitions and the flags that override config.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::FlagOverride;

/// Exit codes, the same for every command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The work failed (no usable plan; a check failed).
    pub const FAILED: u8 = 1;
    /// Bad flags or config.
    pub const USAGE: u8 = 2;
    /// The local model is missing or unusable.
    pub const MODEL: u8 = 3;
    /// The command is not built yet.
    pub const NOT_BUILT: u8 = 4;
    /// The work ran but the verify command still fails.
    pub const VERIFY_FAILED: u8 = 5;
    /// The steps ran, but nothing changed and no check shows the task was already done.
    pub const UNVERIFIED: u8 = 6;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: u8 = 130;
}

/// What `tandem --version` says: the version, the commit, the enabled features and what llama.cpp is built for.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit:    ",
    env!("TANDEM_BUILD_COMMIT_ID"),
    "\nfeatures:  ",
    env!("TANDEM_BUILD_FEATURES"),
    "\nllama.cpp: ",
    env!("TANDEM_BUILD_CPU"),
);

/// tandem: plans with a frontier cloud model, executes on a local llama.cpp model.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, long_version = LONG_VERSION, about, long_about = None)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// A task to open the UI with (`tandem "fix the failing test"`).
    #[arg(value_name = "TASK")]
    pub task: Option<String>,
    /// Open the UI on the workspace's latest session (the next message is a follow-up).
    #[arg(short = 'c', long = "continue")]
    pub continue_last: bool,
    /// Open the UI on this session (`/resume` lists them).
    #[arg(long, value_name = "ID", conflicts_with = "continue_last")]
    pub resume: Option<String>,
    /// What to do; none opens the interactive UI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes; the ones that are config values override every config layer.
#[derive(Debug, Default, Args)]
pub struct GlobalArgs {
    /// Workspace root [default: the current directory].
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Local GGUF model file [config: local.model].
    #[arg(long, global = true, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Planner provider: local, cloud, auto or a provider name [config: planner.provider].
    #[arg(long, global = true, value_name = "PROVIDER")]
    pub planner: Option<String>,
    /// Executor provider [config: executor.provider].
    #[arg(long, global = true, value_name = "PROVIDER")]
    pub executor: Option<String>,
    /// Threads for the local model; 0 = physical cores [config: local.threads].
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<u32>,
    /// Local context window in tokens [config: local.context_size].
    #[arg(long, global = true, value_name = "TOKENS")]
    pub ctx_size: Option<u32>,
    /// Layers to offload to the GPU [config: local.gpu_layers].
    #[arg(long, global = true, value_name = "N")]
    pub gpu_layers: Option<u32>,
    /// Sampling temperature for the local model; 0 = greedy [config: local.sampling.temperature].
    #[arg(long, global = true, value_name = "T")]
    pub temperature: Option<f32>,
    /// Sampling seed for the local model [config: local.sampling.seed].
    #[arg(long, global = true, value_name = "N")]
    pub seed: Option<u32>,
    /// Cap on this session's cloud spending in USD [config: budget.session_usd].
    #[arg(long, global = true, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// No network at all: every role runs on the local model.
    #[arg(long, global = true)]
    pub offline: bool,
    /// UI theme: dark, light, high-contrast, or a themes/NAME.toml in the config dir [config: ui.theme].
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// Make the plan, save it, change nothing.
    #[arg(long, global = true)]
    pub plan_only: bool,
    /// Trust the workspace's .tandem/config.toml as it is now and honour it in full (recorded like
    /// `tandem trust`; revoked when the file changes).
    #[arg(long, global = true)]
    pub trust: bool,
}

impl GlobalArgs {
    /// The flags that set config values, as overrides for the top layer.
    pub fn overrides(&self) -> Vec<FlagOverride> {
        // Destructured in full so that a new flag cannot be forgotten here.
        let GlobalArgs {
            workspace: _,
            model,
            planner,
            executor,
            threads,
            ctx_size,
            gpu_layers,
            temperature,
            seed,
            budget_usd,
            offline: _,
            plan_only: _,
            trust: _,
            theme,
        } = self;
        let mut out = Vec::new();
        let mut set = |key, flag, value: Option<toml::Value>| {
            if let Some(value) = value {
                out.push(FlagOverride { key, flag, value });
            }
        };
        set(
            "local.model",
            "--model",
            model
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned().into()),
        );
        set("ui.theme", "--theme", theme.clone().map(Into::into));
        set(
            "planner.provider",
            "--planner",
            planner.clone().map(Into::into),
        );
        set(
            "executor.provider",
            "--executor",
            executor.clone().map(Into::into),
        );
        set(
            "local.threads",
            "--threads",
            threads.map(|v| i64::from(v).into()),
        );
        set(
            "local.context_size",
            "--ctx-size",
            ctx_size.map(|v| i64::from(v).into()),
        );
        set(
            "local.gpu_layers",
            "--gpu-layers",
            gpu_layers.map(|v| i64::from(v).into()),
        );
        set(
            "local.sampling.temperature",
            "--temperature",
            temperature.map(|v| f64::from(v).into()),
        );
        set(
            "local.sampling.seed",
            "--seed",
            seed.map(|v| i64::from(v).into()),
        );
        set(
            "budget.session_usd",
            "--budget-usd",
            budget_usd.map(Into::into),
        );
        out
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a task without the UI (with --plan-only: plan it and stop).
    Exec(ExecArgs),
    /// Feed the same prompt file to the agent again and again (a ralph loop).
    Loop(LoopArgs),
    /// Show what sessions cost and saved.
    Spend(SpendArgs),
    /// Show the effective config and where each value came from; check the model and endpoints.
    Doctor(DoctorArgs),
    /// Undo the last applied batch of edits (restores the exact prior bytes).
    Undo(UndoArgs),
    /// Run a command in the sandbox model-requested commands get, and say what the policy would decide.
    Sandbox(SandboxArgs),
    /// Print the repository map the planner sees (ranked definitions within a token budget).
    Map(MapArgs),
    /// Trust a workspace's .tandem/config.toml (as it is now), or revoke that trust.
    Trust(TrustArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, e.g. `tandem man > ~/.local/share/man/man1/tandem.1`.
    Man,
    /// MCP servers: list them with their tools, approve a server's tool list.
    Mcp(McpArgs),
    /// Serve the Agent Client Protocol on stdin/stdout, for an editor's agent panel (Zed, JetBrains, Neovim,
    /// Emacs): each prompt is a turn of a tandem session in this workspace.
    Acp,
    /// The config file: `tandem config schema` prints its JSON Schema for editors.
    Config(ConfigArgs),
}

/// `tandem config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `tandem config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of config.toml, derived from the types tandem reads it into (for taplo / Even
    /// Better TOML: `#:schema ./tandem.schema.json` at the top of the file, or the editor's schema setting).
    Schema,
}

/// The JSON Schema of the config file, pretty-printed.
pub fn config_schema() -> String {
    let schema = schemars::schema_for!(crate::config::ConfigFile);
    // A derived schema is plain JSON values: serialising it cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// `tandem mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: McpCommand,
}

/// `tandem mcp` subcommands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Start or reach every configured server and show its status, whether its tool list is the one you
    /// approved, and its tools.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a server's tool list as it is now (pinned by its sha256): its tools are offered to the models.
    Trust {
        /// The server's name (`[mcp.servers.NAME]`).
        name: String,
        /// Forget the approval instead.
        #[arg(long)]
        revoke: bool,
    },
}

/// `tandem completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "tandem", out);
}

/// Writes the man page (roff) to `out`.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

/// `tandem trust`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The workspace [default: the current one].
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Forget the trust instead of granting it.
    #[arg(long)]
    pub revoke: bool,
}

/// `tandem exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The task; read from --file or stdin when absent.
    pub task: Option<String>,
    /// Read the task from a file.
    #[arg(short = 'f', long, value_name = "FILE", conflicts_with = "task")]
    pub file: Option<PathBuf>,
    /// Print every event as one JSON line (with --plan-only: the plan as JSON).
    #[arg(long)]
    pub json: bool,
    /// Continue the session with this id (after an interrupt, or with a follow-up task).
    #[arg(long, value_name = "ID", conflicts_with = "continue_last")]
    pub resume: Option<String>,
    /// Continue the workspace's latest session.
    #[arg(long = "continue")]
    pub continue_last: bool,
    /// Execute a plan saved by --plan-only (in .tandem/plans/) instead of planning now.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "continue_last"])]
    pub plan: Option<PathBuf>,
    /// Headless approvals for edits and commands: auto (apply and run) or never (refuse).
    #[arg(long, value_name = "POLICY", default_value = "auto", value_parser = ["auto", "never"])]
    pub approve: String,
}

/// `tandem map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// Tokens of map (about 4 characters each).
    #[arg(long, default_value_t = 1024)]
    pub budget: usize,
    /// Text to personalise the ranking towards (a task, file names, identifiers).
    #[arg(long, default_value = "")]
    pub focus: String,
    /// Do not read or write the tag cache (.tandem/cache/repomap.sqlite).
    #[arg(long)]
    pub no_cache: bool,
}

/// `tandem sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The command, as a model would ask for it (run with bash -c).
    pub command: String,
    /// Seconds before it is killed.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// `tandem undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The session whose last checkpoint to undo [default: the latest session].
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

/// `tandem loop`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// The prompt file fed to every iteration (re-read each time, so it can be edited while the loop runs).
    #[arg(default_value = "PROMPT.md")]
    pub prompt: PathBuf,
    /// Stop after this many iterations.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_iterations: u32,
    /// Stop when the planner says this text (ask for it in the prompt, e.g. "ALL TESTS PASS").
    #[arg(long, value_name = "TEXT")]
    pub until: Option<String>,
    /// Stop when this file exists.
    #[arg(long, value_name = "PATH")]
    pub until_file: Option<PathBuf>,
    /// Stop after this many iterations in a row that change no file (0: never).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_idle: u32,
    /// The progress file each iteration appends to and the next one reads.
    #[arg(long, value_name = "FILE", default_value = ".tandem/progress.md")]
    pub progress: PathBuf,
    /// Commit each iteration's changes to git.
    #[arg(long)]
    pub commit: bool,
    /// Seconds to wait between iterations.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub pause: u64,
    /// Headless approvals for edits and commands: auto (apply and run) or never (refuse).
    #[arg(long, value_name = "POLICY", default_value = "auto", value_parser = ["auto", "never"])]
    pub approve: String,
    /// Print every event as one JSON line (the per-iteration lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// `tandem spend`.
#[derive(Debug, Args)]
pub struct SpendArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tandem doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Skip loading the model (only check the file's header).
    #[arg(long)]
    pub no_load: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bare_task_opens_the_ui_and_subcommands_still_parse() {
        let cli = Cli::parse_from(["tandem", "fix the bug"]);
        assert_eq!(cli.task.as_deref(), Some("fix the bug"));
        assert!(cli.command.is_none());
        let cli = Cli::parse_from(["tandem", "exec", "do it"]);
        assert!(cli.task.is_none());
        assert!(matches!(cli.command, Some(Command::Exec(_))));
        let cli = Cli::parse_from(["tandem", "--resume", "20261201-120000-abcd"]);
        assert_eq!(cli.resume.as_deref(), Some("20261201-120000-abcd"));
        let cli = Cli::parse_from(["tandem", "-c", "--offline"]);
        assert!(cli.continue_last && cli.global.offline);
        assert!(Cli::try_parse_from(["tandem", "-c", "--resume", "x"]).is_err());
        let cli = Cli::parse_from(["tandem", "-C", "/tmp", "exec", "--approve", "never", "x"]);
        assert!(
            matches!(cli.command, Some(Command::Exec(ExecArgs { task: Some(ref t), .. })) if t == "x")
        );
    }

    #[test]
    fn completions_and_the_man_page_come_from_the_clap_definitions() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Bash, &mut out);
        let bash = String::from_utf8(out).unwrap();
        assert!(bash.contains("_tandem()"), "{bash}");
        assert!(bash.contains("--plan-only") && bash.contains("completions"));
        let mut out = Vec::new();
        man_page(&mut out).unwrap();
        let man = String::from_utf8(out).unwrap();
        assert!(
            man.starts_with(".ie") || man.contains(".TH tandem"),
            "{man}"
        );
        assert!(
            man.contains("plan\\-only") || man.contains("plan-only"),
            "{man}"
        );
    }

    #[test]
    fn flags_become_overrides_with_their_names() {
        let cli = Cli::parse_from([
            "tandem",
            "--model",
            "m.gguf",
            "--threads",
            "3",
            "exec",
            "--plan-only",
            "do it",
        ]);
        let o = cli.global.overrides();
        let pairs: Vec<(&str, &str, String)> = o
            .iter()
            .map(|f| (f.key, f.flag, f.value.to_string()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("local.model", "--model", "\"m.gguf\"".to_string()),
                ("local.threads", "--threads", "3".to_string())
            ]
        );
        assert!(cli.global.plan_only);
        assert!(
            matches!(cli.command, Some(Command::Exec(ExecArgs { task: Some(ref t), .. })) if t == "do it")
        );
    }
}
