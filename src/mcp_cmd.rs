//! `tandem mcp list` and `tandem mcp trust NAME`: the configured MCP servers, their tools, and the person's
//! approval of each server's tool list.

use serde_json::json;

use crate::agent::session::mcp_hub;
use crate::cli::{McpArgs, McpCommand, exit};
use crate::config::Config;
use crate::mcp::{PinState, ServerReport, ServerStatus};
use crate::text::terminal_safe;

/// Runs `tandem mcp …`.
pub async fn run(config: &Config, args: &McpArgs) -> anyhow::Result<u8> {
    match &args.command {
        McpCommand::List { json } => list(config, *json).await,
        McpCommand::Trust { name, revoke } => trust(config, name, *revoke).await,
    }
}

async fn list(config: &Config, as_json: bool) -> anyhow::Result<u8> {
    let hub = mcp_hub(config).await;
    if hub.is_empty() {
        if as_json {
            crate::outln!("[]");
        } else {
            crate::outln!(
                "no MCP servers configured (add [mcp.servers.NAME] to {})",
                config.dirs.user_config_file().display()
            );
        }
        return Ok(exit::OK);
    }
    let reports = hub.reports();
    if as_json {
        let doc: Vec<serde_json::Value> = reports.iter().map(report_json).collect();
        let text = serde_json::to_string_pretty(&doc)?;
        crate::outln!("{}", crate::text::json_terminal_safe(&text));
    } else {
        for r in &reports {
            crate::out!("{}", terminal_safe(&report_text(r)));
        }
        for line in hub.notices() {
            crate::errln!("tandem: {}", terminal_safe(&line));
        }
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.status, ServerStatus::Failed(_)));
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn status_word(r: &ServerReport) -> String {
    match &r.status {
        ServerStatus::Disabled => "disabled".into(),
        ServerStatus::Failed(why) => format!("failed: {why}"),
        ServerStatus::Ready => "connected".into(),
    }
}

fn report_text(r: &ServerReport) -> String {
    let mut out = format!("{}  ({})\n", r.name, r.transport);
    out.push_str(&format!("  configured: {}\n", r.origin));
    out.push_str(&format!("  status:     {}\n", status_word(r)));
    if let Some(pin) = &r.pin {
        let offered = if *pin == PinState::Pinned {
            "its tools are offered to the models"
        } else {
            "its tools are NOT offered until you run `tandem mcp trust NAME`"
        };
        out.push_str(
            &format!("  tool list:  {}; {offered}\n", pin.describe()).replace("NAME", &r.name),
        );
    }
    if !r.auto_approve.is_empty() {
        out.push_str(&format!("  auto-approved: {}\n", r.auto_approve.join(", ")));
    }
    for t in &r.tools {
        let description = t.spec.description.lines().next().unwrap_or("");
        let description = description
            .strip_prefix(&format!("[MCP server {}] ", r.name))
            .unwrap_or(description);
        out.push_str(&format!("  - {}  {}\n", t.spec.name, description));
    }
    out
}

fn report_json(r: &ServerReport) -> serde_json::Value {
    let (status, error) = match &r.status {
        ServerStatus::Disabled => ("disabled", None),
        ServerStatus::Failed(why) => ("failed", Some(why.clone())),
        ServerStatus::Ready => ("connected", None),
    };
    let pin = r.pin.as_ref().map(|p| match p {
        PinState::New => json!({"state": "new"}),
        PinState::Pinned => json!({"state": "pinned"}),
        PinState::Changed { added, removed } => {
            json!({"state": "changed", "added": added, "removed": removed})
        }
    });
    json!({
        "name": r.name,
        "transport": r.transport,
        "configured": r.origin,
        "status": status,
        "error": error,
        "pin": pin,
        "auto_approve": r.auto_approve,
        "tools": r.tools.iter().map(|t| json!({
            "name": t.spec.name,
            "tool": t.tool,
            "description": t.spec.description,
            "input_schema": t.spec.parameters,
        })).collect::<Vec<_>>(),
    })
}

async fn trust(config: &Config, name: &str, revoke: bool) -> anyhow::Result<u8> {
    if !config.values.mcp.servers.contains_key(name) {
        crate::errln!(
            "tandem: no MCP server `{}` is configured (see `tandem mcp list`)",
            terminal_safe(name)
        );
        return Ok(exit::USAGE);
    }
    if revoke {
        let was = crate::mcp::pins::revoke(&config.dirs, name)?;
        crate::outln!(
            "tandem: {}",
            if was {
                format!(
                    "forgot the approved tool list of `{name}`; its tools are not offered until you approve them again"
                )
            } else {
                format!("`{name}` had no approved tool list")
            }
        );
        return Ok(exit::OK);
    }
    let hub = mcp_hub(config).await;
    match hub.pin(name) {
        Ok(n) => {
            if let Some(r) = hub.reports().into_iter().find(|r| r.name == name) {
                crate::out!("{}", terminal_safe(&report_text(&r)));
            }
            crate::outln!(
                "tandem: approved the {n} tool(s) of `{name}` as listed above; a change to the list asks again"
            );
            Ok(exit::OK)
        }
        Err(e) => {
            crate::errln!("tandem: `{name}`: {}", terminal_safe(&e.to_string()));
            Ok(exit::FAILED)
        }
    }
}
