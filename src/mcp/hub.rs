//! The MCP servers of one session (or of `tandem mcp list`): connected once, their pinned tools offered to the
//! models under namespaced names, and each call approved like a command before it reaches the server.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::{self, Connection};
use super::names;
use super::pins::{self, PinError, PinState};
use super::result::{self, CallOutcome};
use super::settings::{McpSettings, ServerSettings};
use crate::model::ToolSpec;
use crate::paths::Dirs;
use crate::protocol::CommandVerdict as Verdict;
use crate::sandbox::{CommandPolicy, Decision, Sandbox};

/// Seconds to connect, list and call when a server sets no timeout.
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The most tools one server may offer (the rest are left out, with a warning): each costs context on every
/// request.
const MAX_TOOLS: usize = 64;

/// The longest tool description models get (a server's text is untrusted and costs context).
const MAX_DESCRIPTION: usize = 1_024;

/// One tool a model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Its server.
    pub server: String,
    /// Its name on the server.
    pub tool: String,
    /// What models get: the namespaced name, the description, the input schema.
    pub spec: ToolSpec,
}

/// How a server is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// `enabled = false`.
    Disabled,
    /// It could not be started, reached or listed.
    Failed(String),
    /// Connected and listed.
    Ready,
}

/// One server as `tandem mcp list` shows it.
#[derive(Debug, Clone)]
pub struct ServerReport {
    /// Its name.
    pub name: String,
    /// stdio (and its sandbox) or HTTP (and its URL).
    pub transport: String,
    /// Where it was configured.
    pub origin: String,
    /// How it is doing.
    pub status: ServerStatus,
    /// Whether its tool list is the approved one (`None` when it was not listed).
    pub pin: Option<PinState>,
    /// Its tools: namespaced name, name on the server, and description.
    pub tools: Vec<McpTool>,
    /// The tools that run without asking.
    pub auto_approve: Vec<String>,
}

struct Server {
    settings: ServerSettings,
    status: ServerStatus,
    transport: String,
    tools: Vec<McpTool>,
    hash: String,
    /// Tools past [`MAX_TOOLS`] that were left out.
    left_out: usize,
    // Behind a lock so a person's approval during a session takes effect for the session's shared hub.
    pin: Mutex<Option<PinState>>,
    conn: Option<Connection>,
}

impl Server {
    fn pin_state(&self) -> Option<PinState> {
        self.pin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn offered(&self) -> bool {
        self.status == ServerStatus::Ready && self.pin_state() == Some(PinState::Pinned)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(match self.settings.config.timeout_secs {
            0 => DEFAULT_TIMEOUT_SECS,
            n => n,
        })
    }
}

/// The connected servers.
pub struct McpHub {
    servers: Vec<Server>,
    dirs: Option<Dirs>,
    // Owns the servers' sandbox (and its private temp dir) for as long as they run.
    _sandbox: Option<Sandbox>,
}

impl McpHub {
    /// No servers.
    pub fn empty() -> McpHub {
        McpHub {
            servers: Vec::new(),
            dirs: None,
            _sandbox: None,
        }
    }

    /// Starts or reaches every enabled server (all at once) and lists its tools; a server that fails is
    /// reported, never fatal. Stdio servers run in `sandbox`.
    pub async fn connect(settings: McpSettings, sandbox: Sandbox) -> McpHub {
        let McpSettings {
            servers,
            dirs,
            scrub,
            env,
        } = settings;
        let connects = servers.into_iter().map(|s| {
            let (sandbox, env, scrub, dirs) = (&sandbox, &env, &scrub, &dirs);
            async move { open(s, sandbox, env, scrub, dirs).await }
        });
        let servers = futures::future::join_all(connects).await;
        McpHub {
            servers,
            dirs: Some(dirs),
            _sandbox: Some(sandbox),
        }
    }

    /// Whether no server is configured.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The tools models are offered: those of connected servers whose tool list is pinned.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.servers
            .iter()
            .filter(|s| s.offered())
            .flat_map(|s| s.tools.iter().map(|t| t.spec.clone()))
            .collect()
    }

    /// The offered tool a model calls by `name`.
    pub fn find(&self, name: &str) -> Option<&McpTool> {
        if !names::is_mcp(name) {
            return None;
        }
        self.servers
            .iter()
            .filter(|s| s.offered())
            .flat_map(|s| &s.tools)
            .find(|t| t.spec.name == name)
    }

    /// Whether a call of `tool` runs, asks or is refused under `policy`: the server's `auto_approve` (from
    /// the user's own config) runs it; otherwise it goes as a command that is not read-only would.
    pub fn decide(&self, tool: &McpTool, policy: CommandPolicy) -> Decision {
        let auto = self
            .servers
            .iter()
            .find(|s| s.settings.name == tool.server)
            .is_some_and(|s| {
                s.settings
                    .auto_approve
                    .iter()
                    .any(|a| a == "*" || *a == tool.tool)
            });
        decide(policy, auto, tool)
    }

    /// Calls an offered tool with the model's JSON arguments; never fails: what went wrong is the text.
    pub async fn call(&self, name: &str, arguments: &str) -> CallOutcome {
        let Some(server) = self
            .servers
            .iter()
            .find(|s| s.offered() && s.tools.iter().any(|t| t.spec.name == name))
        else {
            return CallOutcome::failed(format!("there is no MCP tool `{name}` here"));
        };
        let Some(tool) = server.tools.iter().find(|t| t.spec.name == name) else {
            return CallOutcome::failed(format!("there is no MCP tool `{name}` here"));
        };
        let arguments = match parse_arguments(arguments) {
            Ok(a) => a,
            Err(e) => return CallOutcome::failed(format!("bad arguments for {name}: {e}")),
        };
        let Some(conn) = &server.conn else {
            return CallOutcome::failed(format!("MCP server `{}` is not connected", tool.server));
        };
        match conn.call(&tool.tool, arguments, server.timeout()).await {
            Ok(v) => result::outcome(&v),
            Err(e) => CallOutcome::failed(format!(
                "MCP server `{}`, tool `{}`: {e}",
                tool.server, tool.tool
            )),
        }
    }

    /// Every server with its status, pin state and tools.
    pub fn reports(&self) -> Vec<ServerReport> {
        self.servers
            .iter()
            .map(|s| ServerReport {
                name: s.settings.name.clone(),
                transport: s.transport.clone(),
                origin: s.settings.origin.to_string(),
                status: s.status.clone(),
                pin: s.pin_state(),
                tools: s.tools.clone(),
                auto_approve: s.settings.auto_approve.clone(),
            })
            .collect()
    }

    /// Lines for a person about servers that are not available, and settings that were not honoured.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.servers {
            let name = &s.settings.name;
            if let Some(origin) = &s.settings.ignored_auto_approve {
                out.push(format!(
                    "{origin}: `mcp.servers.{name}.auto_approve` ignored: only your own config file (not a project file, the environment or a flag) may approve MCP tools in advance"
                ));
            }
            if let ServerStatus::Failed(why) = &s.status {
                // The reason may quote the server's stderr.
                let why = crate::text::terminal_safe(why);
                out.push(format!("MCP server `{name}` is not available: {why}"));
            }
            if s.left_out > 0 {
                out.push(format!(
                    "MCP server `{name}` offers more than {MAX_TOOLS} tools; {} of them are left out",
                    s.left_out
                ));
            }
        }
        out
    }

    /// Servers whose tool list waits for the person's approval (new, or changed since it was approved), each
    /// with what to tell the person: the change and the tools.
    pub fn awaiting_approval(&self) -> Vec<(String, String)> {
        self.servers
            .iter()
            .filter(|s| s.status == ServerStatus::Ready)
            .filter_map(|s| {
                let pin = s.pin_state()?;
                if pin == PinState::Pinned {
                    return None;
                }
                let tools: Vec<String> = s
                    .tools
                    .iter()
                    .map(|t| {
                        let d = t.spec.description.lines().next().unwrap_or("");
                        let d = d.split_once("] ").map_or(d, |(_, rest)| rest);
                        format!("{}: {}", t.tool, clip(d, 120))
                    })
                    .collect();
                let name = &s.settings.name;
                // Names and descriptions are the server's text: shown escaped, never run by a terminal.
                Some((
                    name.clone(),
                    crate::text::terminal_safe(&format!(
                        "MCP server `{name}` ({}): its tool list is {}; its tools are not offered until you approve it (`tandem mcp trust {name}`). Tools: {}",
                        s.transport,
                        pin.describe(),
                        tools.join("; ")
                    ))
                    .into_owned(),
                ))
            })
            .collect()
    }

    /// Approves `server`'s tool list as it is now (pins its hash); returns how many tools it has.
    pub fn pin(&self, server: &str) -> Result<usize, TrustError> {
        let dirs = self.dirs.clone().ok_or(TrustError::Unknown)?;
        let s = self
            .servers
            .iter()
            .find(|s| s.settings.name == server)
            .ok_or(TrustError::Unknown)?;
        if s.status != ServerStatus::Ready {
            return Err(TrustError::NotReady(match &s.status {
                ServerStatus::Failed(why) => why.clone(),
                _ => "it is disabled".into(),
            }));
        }
        let names: Vec<String> = s.tools.iter().map(|t| t.tool.clone()).collect();
        pins::grant(&dirs, server, &s.hash, &names).map_err(TrustError::Store)?;
        *s.pin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(PinState::Pinned);
        Ok(s.tools.len())
    }
}

/// Why a server's tool list could not be approved.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No server of that name is configured.
    #[error("no MCP server of that name is configured")]
    Unknown,
    /// It is not connected, so its list is unknown.
    #[error("its tool list is unknown: {0}")]
    NotReady(String),
    /// The pin store could not be written.
    #[error(transparent)]
    Store(PinError),
}

/// The verdict for a call: auto-approved tools run; else `auto` runs it, `untrusted` and `on-request` ask,
/// `never` refuses.
fn decide(policy: CommandPolicy, auto_approved: bool, tool: &McpTool) -> Decision {
    let what = format!("MCP tool `{}` of server `{}`", tool.tool, tool.server);
    let (verdict, reason) = if auto_approved {
        (
            Verdict::Run,
            format!("{what}: auto-approved in your config"),
        )
    } else {
        match policy {
            CommandPolicy::Auto => (Verdict::Run, format!("{what}: commands policy auto")),
            CommandPolicy::Untrusted | CommandPolicy::OnRequest => (
                Verdict::Ask,
                format!("{what}: MCP calls need approval unless auto-approved"),
            ),
            CommandPolicy::Never => (
                Verdict::Refuse,
                format!("{what}: commands policy never, and the tool is not auto-approved"),
            ),
        }
    };
    Decision { verdict, reason }
}

fn parse_arguments(arguments: &str) -> Result<serde_json::Map<String, Value>, String> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    match serde_json::from_str::<Value>(text).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map),
        other => Err(format!("expected a JSON object, got {other}")),
    }
}

async fn open(
    settings: ServerSettings,
    sandbox: &Sandbox,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    scrub: &[String],
    dirs: &Dirs,
) -> Server {
    let mut server = Server {
        transport: if settings.config.url.trim().is_empty() {
            format!("stdio, `{}`", settings.config.command.trim())
        } else {
            format!("streamable HTTP, {}", settings.config.url.trim())
        },
        settings,
        status: ServerStatus::Disabled,
        tools: Vec::new(),
        hash: String::new(),
        left_out: 0,
        pin: Mutex::new(None),
        conn: None,
    };
    if !server.settings.config.enabled {
        return server;
    }
    let timeout = server.timeout();
    let conn = match client::connect(&server.settings.config, sandbox, env, scrub, timeout).await {
        Ok(c) => c,
        Err(e) => {
            server.status = ServerStatus::Failed(e);
            return server;
        }
    };
    server.transport = conn.transport.clone();
    let raw = match conn.list_tools(timeout).await {
        Ok(r) => r,
        Err(e) => {
            server.status = ServerStatus::Failed(e);
            return server;
        }
    };
    let name = server.settings.name.clone();
    let mut tools: Vec<McpTool> = Vec::new();
    for t in raw.iter().filter_map(|t| tool(&name, t)) {
        // A server that lists a name twice gets its first entry; the hash still covers the whole list.
        if !tools.iter().any(|k| k.spec.name == t.spec.name) {
            tools.push(t);
        }
    }
    if tools.len() > MAX_TOOLS {
        server.left_out = tools.len() - MAX_TOOLS;
        tools.truncate(MAX_TOOLS);
    }
    server.tools = tools;
    server.hash = pins::list_hash(&raw);
    let tool_names: Vec<String> = server.tools.iter().map(|t| t.tool.clone()).collect();
    server.pin = Mutex::new(Some(pins::state(dirs, &name, &server.hash, &tool_names)));
    server.conn = Some(conn);
    server.status = ServerStatus::Ready;
    server
}

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The tool a server's JSON describes, as models get it.
fn tool(server: &str, raw: &Value) -> Option<McpTool> {
    let name = raw.get("name")?.as_str()?.to_string();
    let description = clip(
        raw.get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim(),
        MAX_DESCRIPTION,
    );
    let schema = input_schema(raw.get("inputSchema"));
    Some(McpTool {
        server: server.to_string(),
        spec: ToolSpec {
            name: names::tool_name(server, &name),
            description: format!("[MCP server {server}] {description}"),
            parameters: schema,
        },
        tool: name,
    })
}

/// A tool's input schema as models get it: an object schema, without `$schema`, and one the local model's
/// grammar can be built from (else a plain object, so one odd schema cannot break every local request).
fn input_schema(raw: Option<&Value>) -> Value {
    let mut schema = match raw {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => json!({"type": "object"}),
    };
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.entry("type").or_insert_with(|| json!("object"));
        if map.get("type") != Some(&json!("object")) {
            return json!({"type": "object"});
        }
    }
    let constraint = crate::model::local::Constraint::JsonSchema(schema.clone());
    match crate::model::local::grammar_text(&constraint) {
        Ok(_) => schema,
        Err(e) => {
            tracing::warn!(
                "an MCP tool's input schema cannot be a grammar ({e}); offered as a plain object"
            );
            json!({"type": "object"})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> McpTool {
        McpTool {
            server: "fs".into(),
            tool: "write".into(),
            spec: ToolSpec {
                name: "mcp__fs__write".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            },
        }
    }

    #[test]
    fn calls_are_approved_like_commands_that_are_not_read_only() {
        let t = tool();
        let v = |p, auto| decide(p, auto, &t).verdict;
        assert_eq!(v(CommandPolicy::Auto, false), Verdict::Run);
        assert_eq!(v(CommandPolicy::Untrusted, false), Verdict::Ask);
        assert_eq!(v(CommandPolicy::OnRequest, false), Verdict::Ask);
        assert_eq!(v(CommandPolicy::Never, false), Verdict::Refuse);
        for p in [
            CommandPolicy::Untrusted,
            CommandPolicy::OnRequest,
            CommandPolicy::Never,
        ] {
            assert_eq!(v(p, true), Verdict::Run);
        }
    }

    #[test]
    fn a_hostile_tool_entry_is_cleaned_or_skipped() {
        assert_eq!(super::tool("s", &json!({"description": "no name"})), None);
        assert_eq!(super::tool("s", &json!({"name": 7})), None);
        let t = super::tool(
            "s",
            &json!({"name": "a\u{1b}[31m", "description": "x".repeat(5000), "inputSchema": 5}),
        )
        .unwrap();
        assert_eq!(t.tool, "a\u{1b}[31m");
        assert!(
            t.spec.name.starts_with("mcp__s__a__31m_"),
            "{}",
            t.spec.name
        );
        assert!(t.spec.description.len() < 1_100);
        assert_eq!(t.spec.parameters, json!({"type": "object"}));
    }

    #[test]
    fn schemas_are_objects_the_local_grammar_accepts() {
        let s = input_schema(Some(
            &json!({"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
        ));
        assert_eq!(
            s,
            json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
        );
        assert_eq!(
            input_schema(Some(&json!({"type": "string"}))),
            json!({"type": "object"})
        );
        assert_eq!(input_schema(None), json!({"type": "object"}));
        assert_eq!(parse_arguments(" ").unwrap().len(), 0);
        assert!(parse_arguments("[1]").is_err());
    }
}
