//! The `[mcp.servers.NAME]` tables: MCP servers whose tools the models may call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// MCP servers, by name (the name is part of every tool's name: `mcp__NAME__tool`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// The servers.
    pub servers: BTreeMap<String, McpServerConfig>,
}

/// One MCP server: a program spoken to over stdio (started in the command sandbox), or a streamable HTTP URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Config, LoadOptions, trust};
    use crate::paths::Dirs;

    fn load(
        user: &str,
        project: Option<(&str, bool)>,
        env: &[(&str, &str)],
    ) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("ws/.tandem")).unwrap();
        std::fs::create_dir_all(root.join("cfg")).unwrap();
        std::fs::write(root.join("cfg/config.toml"), user).unwrap();
        let dirs = Dirs {
            config: root.join("cfg"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        };
        if let Some((text, trusted)) = project {
            std::fs::write(root.join("ws/.tandem/config.toml"), text).unwrap();
            if trusted {
                let hash = trust::content_hash(Some(text.as_bytes()));
                trust::grant(&dirs, &root.join("ws"), &hash).unwrap();
            }
        }
        Config::load(LoadOptions {
            workspace: root.join("ws"),
            dirs,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            flags: Vec::new(),
        })
        .map_err(|e| e.to_string())
        // The loaded config keeps no handle on the files, so the temp dir may go now.
    }

    #[test]
    fn a_server_needs_one_transport_and_a_plain_name() {
        let ok = load(
            "[mcp.servers.fs]\ncommand = \"mcp-fs\"\nargs = [\"--root\", \".\"]\nauto_approve = [\"read\"]\n[mcp.servers.web]\nurl = \"https://mcp.example.com/mcp\"\n",
            None,
            &[],
        )
        .unwrap();
        assert_eq!(ok.values.mcp.servers["fs"].args, ["--root", "."]);
        assert!(ok.values.mcp.servers["web"].enabled);
        assert!(ok.set_in_user_file("mcp.servers.fs.auto_approve"));
        let with_env = load(
            "[mcp.servers.gh]\ncommand = \"gh-mcp\"\nenv = { GITHUB_PAT = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\" }\n",
            None,
            &[],
        )
        .unwrap();
        let shown = with_env
            .entries()
            .into_iter()
            .find(|(k, _, _)| k == "mcp.servers.gh.env.GITHUB_PAT")
            .unwrap();
        assert!(!shown.1.contains("abcdefghijklmnop"), "{shown:?}");
        for (text, needle) in [
            ("[mcp.servers.x]\n", "mcp.servers.x.command"),
            (
                "[mcp.servers.x]\ncommand = \"a\"\nurl = \"http://h\"\n",
                "not both",
            ),
            (
                "[mcp.servers.x]\nurl = \"ftp://h\"\n",
                "must start with http",
            ),
            ("[mcp.servers.\"a__b\"]\ncommand = \"a\"\n", "without `__`"),
            (
                "[mcp.servers.\"a.b\"]\ncommand = \"a\"\n",
                "letters, digits",
            ),
            (
                "[mcp.servers.x]\ncommand = \"a\"\nshell = true\n",
                "unknown key",
            ),
        ] {
            let e = load(text, None, &[]).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn project_servers_need_trust_and_auto_approval_needs_the_user_file() {
        let project = "[mcp.servers.p]\ncommand = \"evil\"\nauto_approve = [\"*\"]\n";
        let untrusted = load("", Some((project, false)), &[]).unwrap();
        assert!(untrusted.values.mcp.servers.is_empty());
        let keys: Vec<&str> = untrusted
            .trust
            .ignored
            .iter()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(
            keys,
            ["mcp.servers.p.auto_approve", "mcp.servers.p.command"]
        );
        assert!(untrusted.trust.ignored[0].why.contains("MCP"));

        let trusted = load("", Some((project, true)), &[]).unwrap();
        assert_eq!(trusted.values.mcp.servers["p"].command, "evil");
        assert!(!trusted.set_in_user_file("mcp.servers.p.auto_approve"));

        let env = load(
            "[mcp.servers.u]\ncommand = \"mine\"\n",
            None,
            &[("TANDEM_MCP__SERVERS__U__AUTO_APPROVE", "[\"*\"]")],
        )
        .unwrap();
        assert_eq!(env.values.mcp.servers["u"].auto_approve, ["*"]);
        assert!(!env.set_in_user_file("mcp.servers.u.auto_approve"));
    }
}
