//! tandem: a terminal coding agent that plans with a frontier cloud model and executes on a local
//! llama.cpp model.

pub mod acp;
pub mod agent;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod edit;
pub mod exec;
pub mod hooks;
pub mod launch;
pub mod logging;
pub mod mcp;
pub mod mcp_cmd;
pub mod model;
pub mod paths;
pub mod prompts;
pub mod protocol;
pub mod repomap;
pub mod router;
pub mod sandbox;
pub mod secret;
pub mod spend;
pub mod text;
pub mod tools;
pub mod trust_cmd;
pub mod tui;
