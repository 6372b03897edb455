//! The `[mcp.servers.NAME]` tables: MCP servers whose tools the models may call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// MCP servers, by name (the name is part of every tool's name: `mcp__NAME__tool`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// The servers.
    pub servers: BTreeMap<String, McpServerConfig>,
}

/// One MCP server: a program spoken to over stdio (started in the command sandbox), or a streamable HTTP URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpServerConfig {
    /// The program of a stdio server (looked up on `PATH`); set this or `url`.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// More environment variables for a stdio server (its environment is otherwise the sandbox's allow-list).
    pub env: BTreeMap<String, String>,
    /// Variables of tandem's environment passed to a stdio server as they are (names, or prefixes ending in `*`),
    /// for tokens it needs; API keys of tandem's own providers are never passed.
    pub pass_env: Vec<String>,
    /// The endpoint of a streamable HTTP server; set this or `command`.
    pub url: String,
    /// The environment variable holding a bearer token sent to an HTTP server.
    pub bearer_token_env: String,
    /// Whether a stdio server's sandbox lets it use the network.
    pub network: bool,
    /// Whether the server is used at all.
    pub enabled: bool,
    /// Tools that run without asking (names as the server gives them; `*` is every tool). Honoured only from
    /// the user config file.
    pub auto_approve: Vec<String>,
    /// Seconds to start and list tools, and for each call; 0 means the default (60).
    pub timeout_secs: u64,
}

impl Default for McpServerConfig {
    fn default() -> Self {
        McpServerConfig {
            command: String::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            pass_env: Vec::new(),
            url: String::new(),
            bearer_token_env: String::new(),
            network: false,
            enabled: true,
            auto_approve: Vec::new(),
            timeout_secs: 0,
        }
    }
}

/// Checks the servers' tables; returns the first invalid key and why.
pub(super) fn check(cfg: &McpConfig) -> Result<(), (String, String)> {
    for (name, s) in &cfg.servers {
        let key = |k: &str| format!("mcp.servers.{name}.{k}");
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !name.contains("__");
        if !valid {
            return Err((
                format!("mcp.servers.{name}"),
                "a server name is 1 to 32 letters, digits, `-` or `_`, without `__`".into(),
            ));
        }
        match (s.command.trim().is_empty(), s.url.trim().is_empty()) {
            (true, true) => {
                return Err((
                    key("command"),
                    "set `command` (a stdio server) or `url` (a streamable HTTP server)".into(),
                ));
            }
            (false, false) => {
                return Err((key("url"), "set `command` or `url`, not both".into()));
            }
            (true, false) => {
                let url = s.url.trim();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err((
                        key("url"),
                        format!("must start with http:// or https://, got `{url}`"),
                    ));
                }
            }
            (false, true) => {}
        }
    }
    Ok(())
}
