//! MCP (Model Context Protocol) tools: servers from `[mcp.servers.NAME]`, spoken to with the official SDK
//! (`rmcp`) over stdio (the server runs in the command sandbox) or streamable HTTP. Their tools are offered to
//! the planner and executor as `mcp__SERVER__TOOL` once the person has approved (pinned) the server's tool
//! list; every call is approved like a command, and a result holding a secret keeps the conversation local.

mod client;
mod hub;
pub mod names;
pub mod pins;
mod result;
mod settings;

pub use hub::{McpHub, McpTool, ServerReport, ServerStatus, TrustError};
pub use pins::PinState;
pub use result::CallOutcome;
pub use settings::{McpSettings, ServerSettings};
