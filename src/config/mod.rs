//! Configuration: TOML layers with provenance, resolved into one typed `Config`.

mod error;
mod hooks;
mod load;
mod mcp;
mod narrow;
pub mod profile;
mod schema;
mod source;
pub mod trust;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use hooks::{HookConfig, HookEvent, HooksConfig};
pub use load::{ConfigFileStatus, ENV_ALIASES, FlagOverride, env_key};
pub use mcp::{McpConfig, McpServerConfig};
pub use narrow::IgnoredKey;
pub use schema::{
    AgentConfig, ApprovalPolicy, Boundary, BudgetConfig, CommandPolicy, ConfigFile, LocalConfig,
    PLANNER_MAX_TOKENS, PriceConfig, PrivacyConfig, ProviderConfig, ProviderKind, RoleConfig,
    SamplingConfig, SandboxConfig, SensitivePolicy, SpendConfig, UiConfig,
};
pub use source::Source;
pub use trust::TrustState;

use crate::paths::{self, Dirs};
use crate::sandbox::PathError;
use crate::secret::{self, Secret};

/// The file name of the demo model in the models cache.
pub const DEMO_MODEL_FILE: &str = crate::model::catalog::DEMO.file;

/// What to load config from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The workspace root; its `.tandem/config.toml` is the project layer.
    pub workspace: PathBuf,
    /// User directories; `dirs.config/config.toml` is the user layer.
    pub dirs: Dirs,
    /// The environment (a snapshot, so tests can pass their own).
    pub env: BTreeMap<String, String>,
    /// Values from command-line flags.
    pub flags: Vec<FlagOverride>,
}

impl LoadOptions {
    /// Options from this process's environment for `workspace`.
    pub fn from_process(workspace: PathBuf, flags: Vec<FlagOverride>) -> Self {
        LoadOptions {
            workspace,
            dirs: Dirs::from_env(),
            env: std::env::vars().collect(),
            flags,
        }
    }
}

/// An API key and where it came from.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The key.
    pub secret: Secret,
    /// `env OPENAI_API_KEY`, or the config file that holds it.
    pub source: Source,
}

/// The effective configuration, with the source of every value.
#[derive(Debug, Clone)]
pub struct Config {
    /// The typed values.
    pub values: ConfigFile,
    /// The workspace root.
    pub workspace: PathBuf,
    /// User directories.
    pub dirs: Dirs,
    /// The config files looked for.
    pub files: Vec<ConfigFileStatus>,
    /// Whether the project config is trusted, and what of it was ignored.
    pub trust: TrustReport,
    origins: BTreeMap<String, Source>,
    table: toml::Table,
    api_keys: BTreeMap<String, ApiKey>,
}

/// The local model to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    /// The demo model in the cache dir (no model configured).
    Demo(PathBuf),
    /// A model the user chose by its short name (`--model qwen2.5-coder-1.5b`), in the cache dir.
    Named(&'static crate::model::catalog::KnownModel, PathBuf),
    /// A model file the user configured.
    Configured(PathBuf),
}

impl ModelLocation {
    /// The file's path.
    pub fn path(&self) -> &Path {
        match self {
            ModelLocation::Demo(p) | ModelLocation::Named(_, p) | ModelLocation::Configured(p) => p,
        }
    }

    /// The known model at this location, if it is one (the demo model, or one chosen or stored by name).
    pub fn known(&self) -> Option<&'static crate::model::catalog::KnownModel> {
        match self {
            ModelLocation::Demo(_) => Some(&crate::model::catalog::DEMO),
            ModelLocation::Named(m, _) => Some(m),
            ModelLocation::Configured(p) => p
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(crate::model::catalog::by_file),
        }
    }
}

impl Config {
    /// Loads and checks all layers.
    pub fn load(opts: LoadOptions) -> Result<Config, ConfigError> {
        let user_path = opts.dirs.user_config_file();
        let user = match std::fs::read_to_string(&user_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: user_path,
                    source,
                });
            }
        };
        let project = read_project_file(&opts.workspace, &opts.dirs)?;
        let files = [
            load::LayerFile {
                layer: "user",
                path: user_path,
                text: user,
                narrow: false,
            },
            load::LayerFile {
                layer: "project",
                path: project.file.clone(),
                text: project.text,
                narrow: !project.report.state.is_trusted(),
            },
        ];
        let merged = load::merge_layers(&files, &opts.env, &opts.flags)?;
        let mut trust = project.report;
        trust.ignored = merged.ignored.clone();
        let mut values = load::typed(&merged.table)?;
        validate::infer_provider_kinds(&mut values);
        validate::check(&values).map_err(|(key, message)| {
            let origin = origin_near(&merged.origins, &key)
                .map_or_else(|| "config".to_string(), ToString::to_string);
            ConfigError::Invalid {
                origin,
                key,
                message,
            }
        })?;
        let api_keys = values
            .providers
            .iter()
            .filter_map(|(name, p)| {
                let key = match &p.api_key {
                    Some(k) if !k.is_empty() => ApiKey {
                        secret: Secret::new(k.clone()),
                        source: merged
                            .origins
                            .get(&format!("providers.{name}.api_key"))
                            .cloned()
                            .unwrap_or(Source::Default),
                    },
                    _ => {
                        let value = opts.env.get(&p.api_key_env).filter(|v| !v.is_empty())?;
                        ApiKey {
                            secret: Secret::new(value.clone()),
                            source: Source::Env(p.api_key_env.clone()),
                        }
                    }
                };
                Some((name.clone(), key))
            })
            .collect();
        Ok(Config {
            values,
            workspace: opts.workspace,
            dirs: opts.dirs,
            files: merged.files,
            trust,
            origins: merged.origins,
            table: merged.table,
            api_keys,
        })
    }

    /// Whether the value at a dotted key was set in the user's own config file (not a project file, the
    /// environment or a flag): what settings that approve actions without asking require.
    pub fn set_in_user_file(&self, key: &str) -> bool {
        matches!(self.origin(key), Source::File { path, .. } if path == self.dirs.user_config_file())
    }

    /// Where the value at a dotted key came from (`Default` for keys never set).
    pub fn origin(&self, key: &str) -> Source {
        self.origins.get(key).cloned().unwrap_or(Source::Default)
    }

    /// The environment variables that hold the configured providers' API keys (never passed to a child process).
    pub fn provider_key_vars(&self) -> Vec<String> {
        self.values
            .providers
            .values()
            .map(|p| p.api_key_env.clone())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The API key for a provider, if one is configured.
    pub fn api_key(&self, provider: &str) -> Option<&ApiKey> {
        self.api_keys.get(provider)
    }

    /// Every effective value as (dotted key, display value with secrets masked, source), sorted by key.
    pub fn entries(&self) -> Vec<(String, String, Source)> {
        let mut out = Vec::new();
        load::record_leaves(&self.table, "", &mut |key| {
            let value = lookup(&self.table, &key).map_or_else(String::new, |v| {
                if is_secret_key(&key) {
                    v.as_str().map_or_else(|| "****".into(), secret::mask)
                } else {
                    v.to_string()
                }
            });
            let source = self.origin(&key);
            out.push((key, value, source));
        });
        for (name, key) in &self.api_keys {
            let k = format!("providers.{name}.api_key");
            if !out.iter().any(|(existing, _, _)| existing == &k) {
                out.push((k, key.secret.masked(), key.source.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The local model file: a known model by its short name, the configured file (relative paths resolved
    /// against the layer that set them), else the demo model.
    pub fn model_location(&self) -> ModelLocation {
        let raw = self.values.local.model.trim();
        if raw.is_empty() {
            return ModelLocation::Demo(self.dirs.models().join(DEMO_MODEL_FILE));
        }
        if let Some(known) = crate::model::catalog::by_name(raw) {
            return ModelLocation::Named(known, self.dirs.models().join(known.file));
        }
        ModelLocation::Configured(self.resolve_path("local.model", raw))
    }

    /// The model profile the executor follows, with its name: `agent.profile` when set, else the one whose
    /// `models` match the local model's file name, else `default` (validation keeps a forced name known).
    pub fn profile(&self) -> (String, profile::Profile) {
        let location = self.model_location();
        let file = location
            .path()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        profile::choose(&self.values.profiles, &file, &self.values.agent.profile).map_or_else(
            || {
                (
                    profile::DEFAULT_PROFILE.to_string(),
                    profile::Profile::default(),
                )
            },
            |(name, p)| (name.to_string(), p.clone()),
        )
    }

    /// Resolves a path-valued setting: `~` is the home dir; a relative path is relative to the workspace
    /// when set in the project file, to the config dir when set in the user file, else to the current dir.
    pub fn resolve_path(&self, key: &str, raw: &str) -> PathBuf {
        let expanded = match raw.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from(raw), |h| PathBuf::from(h).join(rest)),
            None => PathBuf::from(raw),
        };
        if expanded.is_absolute() {
            return expanded;
        }
        let base = match self.origin(key) {
            Source::File { path, .. } if path == paths::project_config_file(&self.workspace) => {
                self.workspace.clone()
            }
            Source::File { path, .. } => path.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => std::env::current_dir().unwrap_or_default(),
        };
        base.join(expanded)
    }
}

/// Whether the workspace's project config is trusted, and what of it was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// The trust state.
    pub state: TrustState,
    /// The project config file.
    pub file: PathBuf,
    /// The sha256 of its bytes (`none` when there is none): what `tandem trust` records.
    pub hash: String,
    /// Its keys that were not applied because the workspace is not trusted.
    pub ignored: Vec<IgnoredKey>,
}

impl TrustReport {
    /// Lines for a person: the state when it matters, then each ignored key with its file and line.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        let matters = !self.ignored.is_empty()
            || matches!(self.state, TrustState::Revoked | TrustState::Refused(_));
        if matters {
            out.push(format!(
                "{}: {}",
                self.file.display(),
                self.state.describe()
            ));
        }
        for i in &self.ignored {
            out.push(format!(
                "{}:{}: `{}` ignored: {}",
                self.file.display(),
                i.line,
                i.key,
                i.why
            ));
        }
        out
    }
}

/// The largest project config file read.
const PROJECT_FILE_CAP: u64 = 1 << 20;

struct ProjectFile {
    file: PathBuf,
    text: Option<String>,
    report: TrustReport,
}

/// Reads the project file without following links and decides whether it is trusted (by its exact bytes).
fn read_project_file(workspace: &Path, dirs: &Dirs) -> Result<ProjectFile, ConfigError> {
    let file = paths::project_config_file(workspace);
    let report = |state, hash: &str| TrustReport {
        state,
        file: file.clone(),
        hash: hash.to_string(),
        ignored: Vec::new(),
    };
    let bytes = match crate::sandbox::state::read(&file, PROJECT_FILE_CAP) {
        Ok(bytes) => bytes,
        // A link anywhere on the way: ignored whole, with a notice (never followed).
        Err(e @ (PathError::Raced(_) | PathError::Protected { .. })) => {
            let r = report(
                TrustState::Refused(e.to_string()),
                &trust::content_hash(None),
            );
            return Ok(ProjectFile {
                text: None,
                report: r,
                file,
            });
        }
        Err(e) => {
            return Err(ConfigError::Read {
                path: file,
                source: std::io::Error::other(e.to_string()),
            });
        }
    };
    let hash = trust::content_hash(bytes.as_deref());
    let state = trust::state(dirs, workspace, &hash);
    let text = match bytes {
        None => None,
        Some(b) => Some(String::from_utf8(b).map_err(|e| ConfigError::Read {
            path: file.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?),
    };
    Ok(ProjectFile {
        report: report(state, &hash),
        text,
        file: file.clone(),
    })
}

/// The origin of `key`, or for a key that is missing, of the nearest table around it that was set.
fn origin_near<'a>(origins: &'a BTreeMap<String, Source>, key: &str) -> Option<&'a Source> {
    if let Some(s) = origins.get(key) {
        return Some(s);
    }
    let mut prefix = key;
    while let Some((parent, _)) = prefix.rsplit_once('.') {
        let inside = format!("{parent}.");
        if let Some((_, s)) = origins.iter().find(|(k, _)| k.starts_with(&inside)) {
            return Some(s);
        }
        prefix = parent;
    }
    None
}

/// Whether a dotted key holds a secret that must be masked when shown.
pub fn is_secret_key(key: &str) -> bool {
    // An MCP server's `env` values are often its tokens, whatever their names.
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() == 5 && parts[0] == "mcp" && parts[1] == "servers" && parts[3] == "env" {
        return true;
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    matches!(last, "api_key" | "token" | "secret" | "password")
}

fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests;
