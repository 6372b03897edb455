//! What the MCP hub needs from the config: the enabled servers, whose auto-approvals count (the user's own
//! file only), and which variables a server never gets.

use std::ffi::OsString;

use crate::config::{Config, McpServerConfig, Source};
use crate::paths::Dirs;

/// One configured server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Its name (the middle of its tools' names).
    pub name: String,
    /// Its table.
    pub config: McpServerConfig,
    /// Tools that run without asking: `auto_approve` when the user's own file set it, else empty.
    pub auto_approve: Vec<String>,
    /// Where an `auto_approve` that is not honoured came from.
    pub ignored_auto_approve: Option<Source>,
    /// Where the server was configured.
    pub origin: Source,
}

/// The hub's settings.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// Every configured server, disabled ones too (`tandem mcp list` shows them).
    pub servers: Vec<ServerSettings>,
    /// User directories (the pin store).
    pub dirs: Dirs,
    /// Variables no server gets: the providers' API key variables.
    pub scrub: Vec<String>,
    /// The environment servers' settings are read from (bearer tokens, `pass_env`).
    pub env: Vec<(OsString, OsString)>,
}

impl McpSettings {
    /// The settings in `cfg`, with this process's environment.
    pub fn from_config(cfg: &Config) -> McpSettings {
        let servers = cfg
            .values
            .mcp
            .servers
            .iter()
            .map(|(name, s)| {
                let key = format!("mcp.servers.{name}.auto_approve");
                let honoured = cfg.set_in_user_file(&key);
                let origin = server_origin(cfg, name);
                ServerSettings {
                    name: name.clone(),
                    auto_approve: if honoured {
                        s.auto_approve.clone()
                    } else {
                        Vec::new()
                    },
                    ignored_auto_approve: (!honoured && !s.auto_approve.is_empty())
                        .then(|| cfg.origin(&key)),
                    config: s.clone(),
                    origin,
                }
            })
            .collect();
        let scrub = cfg.provider_key_vars();
        McpSettings {
            servers,
            dirs: cfg.dirs.clone(),
            scrub,
            env: std::env::vars_os().collect(),
        }
    }
}

/// Where `mcp.servers.NAME` was set: the origin of its `command` or `url`.
fn server_origin(cfg: &Config, name: &str) -> Source {
    for k in ["command", "url"] {
        let origin = cfg.origin(&format!("mcp.servers.{name}.{k}"));
        if origin != Source::Default {
            return origin;
        }
    }
    Source::Default
}
