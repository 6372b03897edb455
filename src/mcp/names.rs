//! The names models see for MCP tools: `mcp__SERVER__TOOL`, limited to what every provider accepts
//! (`[A-Za-z0-9_-]`, at most 64 characters).

use sha2::{Digest, Sha256};

/// The prefix of every MCP tool's name.
pub const PREFIX: &str = "mcp__";

/// The longest tool name providers accept (OpenAI's limit).
const MAX_LEN: usize = 64;

/// The name models call the tool `tool` of `server` by.
pub fn tool_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let full = format!("{PREFIX}{server}__{clean}");
    if full.len() <= MAX_LEN && clean == tool {
        return full;
    }
    // Changed or cut: a short hash of the real name keeps two tools that clean to the same text apart.
    let hash: String = Sha256::digest(tool.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let room = MAX_LEN - hash.len() - 1;
    let mut head = full;
    head.truncate(room);
    format!("{head}_{hash}")
}

/// Whether a tool name is an MCP tool's.
pub fn is_mcp(name: &str) -> bool {
    name.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_namespaced_and_valid_for_every_provider() {
        assert_eq!(tool_name("fs", "read_file"), "mcp__fs__read_file");
        let dotted = tool_name("gh", "issues.list");
        assert!(dotted.starts_with("mcp__gh__issues_list_"), "{dotted}");
        assert_ne!(dotted, tool_name("gh", "issues/list"));
        let long = tool_name("server", &"x".repeat(100));
        assert_eq!(long.len(), 64);
        for n in [dotted, long] {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            );
            assert!(is_mcp(&n));
        }
        assert!(!is_mcp("read_file"));
    }
}
