//! One connection to an MCP server with the official SDK (`rmcp`): a stdio server started in the command
//! sandbox (its pipes are the transport), or a streamable HTTP endpoint.

use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

use crate::config::McpServerConfig;
use crate::sandbox::Sandbox;
use crate::sandbox::server::{ServerCommand, ServerProcess};

/// A live session with one server.
pub(super) struct Connection {
    service: RunningService<RoleClient, ()>,
    process: Option<ServerProcess>,
    /// How the server runs, for `tandem mcp list`: its sandbox, or its URL.
    pub transport: String,
}

/// Connects to the server `cfg` describes, within `timeout`. `env`: the process environment (for the bearer
/// token and `pass_env`); `scrub`: variables a stdio server never gets.
pub(super) async fn connect(
    cfg: &McpServerConfig,
    sandbox: &Sandbox,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    scrub: &[String],
    timeout: Duration,
) -> Result<Connection, String> {
    if cfg.url.trim().is_empty() {
        let home = env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| std::path::PathBuf::from(v));
        connect_stdio(cfg, home, sandbox, scrub, timeout).await
    } else {
        connect_http(cfg, env, timeout).await
    }
}

async fn connect_stdio(
    cfg: &McpServerConfig,
    home: Option<std::path::PathBuf>,
    sandbox: &Sandbox,
    scrub: &[String],
    timeout: Duration,
) -> Result<Connection, String> {
    let program = cfg.command.trim();
    let program = match (program.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest).display().to_string(),
        _ => program.to_string(),
    };
    let server = ServerCommand {
        program,
        args: cfg.args.clone(),
        env: cfg.env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        pass_env: cfg.pass_env.clone(),
        scrub: scrub.to_vec(),
        network: cfg.network,
    };
    let mut process = sandbox
        .start_server(&server)
        .map_err(|e| format!("`{}` {e}", server.program))?;
    let (stdout, stdin) = process
        .take_pipes()
        .ok_or_else(|| "the server's pipes are missing".to_string())?;
    let transport = format!("stdio, sandbox: {}", process.confinement);
    match tokio::time::timeout(timeout, ().serve((stdout, stdin))).await {
        Ok(Ok(service)) => Ok(Connection {
            service,
            process: Some(process),
            transport,
        }),
        Ok(Err(e)) => Err(with_stderr(
            &mut process,
            format!("did not initialize: {e}"),
        )),
        Err(_) => Err(with_stderr(
            &mut process,
            format!("did not initialize within {} s", timeout.as_secs()),
        )),
    }
}

/// `message`, with how the server ended and the end of its stderr when it has.
fn with_stderr(process: &mut ServerProcess, message: String) -> String {
    let mut out = message;
    if let Some(status) = process.exited() {
        out.push_str(&format!(" (it exited: {status})"));
    }
    let tail = process.stderr_tail();
    let tail = tail.trim();
    if !tail.is_empty() {
        out.push_str(&format!("; its stderr ends:\n{tail}"));
    }
    out
}

async fn connect_http(
    cfg: &McpServerConfig,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    timeout: Duration,
) -> Result<Connection, String> {
    let url = cfg.url.trim().to_string();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
    let var = cfg.bearer_token_env.trim();
    if !var.is_empty() {
        let token = env
            .iter()
            .find(|(k, _)| k.to_str() == Some(var))
            .and_then(|(_, v)| v.to_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("bearer_token_env: `{var}` is not set"))?;
        config = config.auth_header(token.to_string());
    }
    // No redirects: a token is never sent to a host the config does not name.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let transport = StreamableHttpClientTransport::with_client(client, config);
    match tokio::time::timeout(timeout, ().serve(transport)).await {
        Ok(Ok(service)) => Ok(Connection {
            service,
            process: None,
            transport: format!("streamable HTTP, {url}"),
        }),
        Ok(Err(e)) => Err(format!("did not initialize: {e}")),
        Err(_) => Err(format!("did not initialize within {} s", timeout.as_secs())),
    }
}

impl Connection {
    /// Every tool the server offers, as the JSON it sent (camelCase keys, as in the protocol).
    pub(super) async fn list_tools(&self, timeout: Duration) -> Result<Vec<Value>, String> {
        let tools = tokio::time::timeout(timeout, self.service.list_all_tools())
            .await
            .map_err(|_| format!("tools/list took more than {} s", timeout.as_secs()))?
            .map_err(|e| self.explain(format!("tools/list failed: {e}")))?;
        tools
            .into_iter()
            .map(|t| serde_json::to_value(&t).map_err(|e| e.to_string()))
            .collect()
    }

    /// Calls `tool` with `arguments`; the result as the JSON the server sent.
    pub(super) async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, Value>,
        timeout: Duration,
    ) -> Result<Value, String> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = Some(arguments);
        let result = tokio::time::timeout(timeout, self.service.call_tool(params))
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
            .map_err(|e| self.explain(format!("the call failed: {e}")))?;
        serde_json::to_value(&result).map_err(|e| e.to_string())
    }

    fn explain(&self, message: String) -> String {
        match &self.process {
            Some(p) => {
                let tail = p.stderr_tail();
                let tail = tail.trim();
                if tail.is_empty() {
                    message
                } else {
                    format!("{message}; the server's stderr ends:\n{tail}")
                }
            }
            None => message,
        }
    }
}
