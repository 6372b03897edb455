//! The config file's shape: serde structs that mirror the TOML, with the built-in defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole configuration, as one file or the merge of all layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// The local llama.cpp engine.
    pub local: LocalConfig,
    /// Which provider plans.
    pub planner: RoleConfig,
    /// Which provider executes steps.
    pub executor: RoleConfig,
    /// Named model providers; `planner.provider` and `executor.provider` refer to these names.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// What must not leave the machine.
    pub privacy: PrivacyConfig,
    /// Spending caps for cloud requests.
    pub budget: BudgetConfig,
    /// How spend and savings are reported.
    pub spend: SpendConfig,
    /// USD per million tokens, by model name; these override and extend the built-in table.
    pub prices: BTreeMap<String, PriceConfig>,
    /// How sessions run: approvals, verification, limits.
    pub agent: AgentConfig,
    /// How commands are confined and which run without asking.
    pub sandbox: SandboxConfig,
    /// The interactive UI.
    pub ui: UiConfig,
    /// MCP servers whose tools the models may call.
    pub mcp: super::mcp::McpConfig,
    /// The person's own commands run at fixed points of a session (`[hooks.NAME]`).
    pub hooks: super::hooks::HooksConfig,
    /// Model families' tactics (`[profiles.NAME]`), over the built-in ones.
    pub profiles: super::profile::ProfilesConfig,
}

/// The interactive UI's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Theme: `dark`, `light`, `high-contrast`, or a file in the config dir's `themes/`.
    pub theme: String,
    /// Edit approvals in the UI (the UI shows diffs before edits land): `per-hunk` by default.
    pub approval: ApprovalPolicy,
    /// Command approvals in the UI: `untrusted` by default.
    pub commands: CommandPolicy,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: "dark".into(),
            approval: ApprovalPolicy::PerHunk,
            commands: CommandPolicy::Untrusted,
        }
    }
}

/// How edits are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Apply every edit.
    Auto,
    /// Ask once per edited file.
    PerFile,
    /// Ask per hunk; accepting some hunks applies exactly those.
    PerHunk,
    /// Apply nothing (the edits are reported).
    Never,
}

/// How model-requested commands are approved (see [`crate::sandbox::commands`]).
pub use crate::sandbox::CommandPolicy;

/// The command sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// `auto` (confine as far as the kernel allows, warn otherwise), `required` (refuse commands that cannot
    /// be confined) or `off`.
    pub mode: crate::sandbox::SandboxMode,
    /// Whether commands may use the network.
    pub network: bool,
    /// More directories commands may write (absolute, or starting with `~/`).
    pub writable: Vec<String>,
    /// More paths under the home directory commands may read (relative to it).
    pub readable: Vec<String>,
    /// Commands that run without asking (words; `*` matches any characters).
    pub allow: Vec<String>,
    /// Commands that are always refused, checked before `allow`.
    pub deny: Vec<String>,
    /// Most processes a command may have at once; 0 means no limit.
    pub max_processes: u32,
    /// Most memory a command may use, in MiB (a memory cgroup, else an address-space rlimit); 0: no limit.
    pub max_memory_mb: u64,
    /// Largest file a command may write, in MiB (RLIMIT_FSIZE); 0: no limit.
    pub max_file_size_mb: u64,
    /// Environment variable names removed from commands' environment even if listed to pass.
    pub scrub_env: Vec<String>,
    /// More environment variables commands get (names, or prefixes ending in `*`); all others but a fixed
    /// list (PATH, HOME, locale, terminal, toolchain variables) are removed.
    pub pass_env: Vec<String>,
    /// More workspace-relative paths commands, the verify command and MCP servers may read but not change.
    pub protect: Vec<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            mode: crate::sandbox::SandboxMode::Auto,
            network: false,
            writable: Vec::new(),
            readable: Vec::new(),
            allow: Vec::new(),
            deny: Vec::new(),
            max_processes: 1024,
            max_memory_mb: 8192,
            max_file_size_mb: 4096,
            scrub_env: Vec::new(),
            pass_env: Vec::new(),
            protect: Vec::new(),
        }
    }
}

/// Session behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Edit approvals: `auto`, `per-file`, `per-hunk` or `never`.
    pub approval: ApprovalPolicy,
    /// Command approvals: `auto`, `untrusted` (read-only and test commands run, others ask), `on-request`
    /// (every command asks unless allowed) or `never` (nothing asks; what would is refused).
    pub commands: CommandPolicy,
    /// The verify command; empty means detect it (cargo test, pytest, npm test, go test…); `none` turns it off.
    pub verify: String,
    /// Plan → execute → verify rounds before giving up.
    pub max_rounds: u32,
    /// Executor attempts at a step before it is escalated to the planner's provider.
    pub max_step_attempts: u32,
    /// Model turns within one step attempt.
    pub max_step_turns: u32,
    /// Read-only tool turns the planner may take before it must submit its plan.
    pub max_planner_turns: u32,
    /// The model profile (`[profiles.NAME]`) whose tactics the executor follows; empty: the one whose
    /// `models` match the local model's file name, else `default`.
    pub profile: String,
    /// Seconds a model-requested command may run.
    pub command_timeout_secs: u64,
    /// Seconds the verify command may run.
    pub verify_timeout_secs: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            approval: ApprovalPolicy::Auto,
            commands: CommandPolicy::Auto,
            verify: String::new(),
            max_rounds: 3,
            max_step_attempts: 2,
            max_step_turns: 16,
            max_planner_turns: 8,
            profile: String::new(),
            command_timeout_secs: 120,
            verify_timeout_secs: 600,
        }
    }
}

/// What to do with a request that holds sensitive data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SensitivePolicy {
    /// Run it on the local model.
    Local,
    /// Send it with placeholders such as `[SECRET_1]`, mapped back in the reply.
    Redact,
}

/// Sensitive-data detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// `local` or `redact`.
    pub policy: SensitivePolicy,
    /// Detect personal data (emails, phone numbers, card numbers, IBANs, US SSNs) as well as secrets.
    pub detect_pii: bool,
    /// Extra regular expressions whose matches are sensitive.
    pub patterns: Vec<String>,
    /// Globs of workspace files whose content is sensitive.
    pub paths: Vec<String>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        let d = crate::router::sensitive::ScannerConfig::default();
        PrivacyConfig {
            policy: SensitivePolicy::Local,
            detect_pii: d.detect_pii,
            patterns: d.patterns,
            paths: d.paths,
        }
    }
}

/// Caps on cloud spending; past a cap, cloud requests run locally.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// USD per session; 0 means no cap.
    pub session_usd: f64,
    /// USD per calendar day (UTC), across sessions; 0 means no cap.
    pub daily_usd: f64,
}

/// Spend reporting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpendConfig {
    /// The cloud model local tokens are priced at to report savings; empty means the planner's cloud model.
    pub reference_model: String,
}

/// A model's price in USD per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PriceConfig {
    /// Uncached input.
    pub input: f64,
    /// Input read from the prompt cache (default: the input price).
    pub cached_input: Option<f64>,
    /// Input written to the prompt cache (default: the input price).
    pub cache_write: Option<f64>,
    /// Output.
    pub output: f64,
}

/// The local engine: model file, context, threads, GPU offload, sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// Path to a GGUF file; empty means the demo model (SmolLM2-135M-Instruct) in the cache dir.
    pub model: String,
    /// Context window in tokens; 0 means the model's training context.
    pub context_size: u32,
    /// Threads for decoding; 0 means the number of physical cores.
    pub threads: u32,
    /// Tokens per prefill batch.
    pub batch_size: u32,
    /// Layers to offload to the GPU (needs a `cuda` build); 0 keeps everything on the CPU.
    pub gpu_layers: u32,
    /// `auto` (the GGUF's template, applied by llama.cpp or as Jinja), `chatml`, or a path to a Jinja file.
    pub chat_template: String,
    /// Most tokens one reply may generate.
    pub max_tokens: u32,
    /// Most tokens guessed ahead from the context (prompt lookup) and checked in one batch; 0 disables.
    pub draft_tokens: u32,
    /// The sampler chain.
    pub sampling: SamplingConfig,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            model: String::new(),
            context_size: 8192,
            threads: 0,
            batch_size: 512,
            gpu_layers: 0,
            chat_template: "auto".into(),
            max_tokens: 1024,
            draft_tokens: 16,
            sampling: SamplingConfig::default(),
        }
    }
}

/// Sampler settings; temperature 0 means greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 picks the most likely token.
    pub temperature: f64,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: i32,
    /// Nucleus sampling mass; 1 disables.
    pub top_p: f64,
    /// Drop tokens below this fraction of the top token's probability; 0 disables.
    pub min_p: f64,
    /// Penalty for repeating recent tokens; 1 disables.
    pub repeat_penalty: f64,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: i32,
    /// Random seed; unset means a fresh seed per request.
    pub seed: Option<u32>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 0.2,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.05,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

/// A role's binding to a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RoleConfig {
    /// `auto` (planner: a cloud provider with a key, else local), `local`, or a name from `[providers]`.
    pub provider: String,
    /// Providers tried after `provider`, in order, before the local model (which is always the last resort).
    pub fallback: Vec<String>,
    /// Most tokens one reply of this role may generate; 0 means `local.max_tokens`.
    pub max_tokens: u32,
}

/// The planner's default output cap: a whole plan, or a reasoning model's thinking and then the plan.
pub const PLANNER_MAX_TOKENS: u32 = 8192;

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            provider: "auto".into(),
            fallback: Vec::new(),
            max_tokens: 0,
        }
    }
}

/// Whether a provider's servers are inside the trust boundary.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// A third party's cloud: sensitive requests never go there; its tokens are spend.
    #[default]
    Cloud,
    /// The team's own servers (on-prem vLLM, SGLang, llama-server): sensitive requests may go there and its
    /// tokens count as local in "saved".
    Inside,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions (OpenAI, OpenRouter, vLLM, llama-server, Ollama, LM Studio).
    Openai,
    /// Anthropic's native Messages API.
    Anthropic,
}

/// One cloud (or remote) model endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// The wire protocol; inferred from the name for `openai` and `anthropic`.
    pub kind: Option<ProviderKind>,
    /// The API's base URL.
    pub base_url: String,
    /// The model name sent to the API.
    pub model: String,
    /// The environment variable holding the API key.
    pub api_key_env: String,
    /// The API key itself (prefer `api_key_env`; never put keys in a project file).
    pub api_key: Option<String>,
    /// Seconds without a byte from the server before a request counts as timed out; 0 means the default (120).
    pub timeout_secs: u64,
    /// `cloud` (default) or `inside`: the provider's servers are the team's own, inside the trust boundary.
    pub boundary: Boundary,
    /// More base URLs of the same model (replicas); sessions are spread over `base_url` and these, each
    /// session sticking to one.
    pub replicas: Vec<String>,
}

impl Default for ConfigFile {
    fn default() -> Self {
        let mut providers = BTreeMap::new();
        providers.insert(
            "openai".to_string(),
            ProviderConfig {
                kind: Some(ProviderKind::Openai),
                base_url: "https://api.openai.com/v1".into(),
                model: "gpt-5.1".into(),
                api_key_env: "OPENAI_API_KEY".into(),
                api_key: None,
                timeout_secs: 0,
                boundary: Boundary::Cloud,
                replicas: Vec::new(),
            },
        );
        providers.insert(
            "anthropic".to_string(),
            ProviderConfig {
                kind: Some(ProviderKind::Anthropic),
                base_url: "https://api.anthropic.com".into(),
                model: "claude-sonnet-4-5".into(),
                api_key_env: "ANTHROPIC_API_KEY".into(),
                api_key: None,
                timeout_secs: 0,
                boundary: Boundary::Cloud,
                replicas: Vec::new(),
            },
        );
        ConfigFile {
            local: LocalConfig::default(),
            planner: RoleConfig {
                max_tokens: PLANNER_MAX_TOKENS,
                ..RoleConfig::default()
            },
            executor: RoleConfig {
                provider: "local".into(),
                ..RoleConfig::default()
            },
            providers,
            privacy: PrivacyConfig::default(),
            budget: BudgetConfig::default(),
            spend: SpendConfig::default(),
            prices: BTreeMap::new(),
            agent: AgentConfig::default(),
            sandbox: SandboxConfig::default(),
            ui: UiConfig::default(),
            mcp: super::mcp::McpConfig::default(),
            hooks: BTreeMap::new(),
            profiles: super::profile::builtin(),
        }
    }
}
