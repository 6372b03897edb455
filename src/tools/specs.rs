//! The tools' names, descriptions and argument schemas, as models see them.

use serde_json::json;

use crate::model::ToolSpec;
use crate::protocol::Plan;

/// Which tools a role gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSet {
    /// Read-only tools and `submit_plan`.
    Planner,
    /// Reading, editing, running, and ending the step.
    Executor,
}

fn spec(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    }
}

fn path_only(what: &str) -> serde_json::Value {
    json!({"type": "object", "properties": {"path": {"type": "string", "description": what}}, "required": ["path"], "additionalProperties": false})
}

/// The tools of a set.
pub fn specs(set: ToolSet) -> Vec<ToolSpec> {
    let mut out = vec![
        spec(
            "read_file",
            "Read a text file, with line numbers. Optional 1-based start_line and end_line (at most 400 lines).",
            json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1}
            }, "required": ["path"], "additionalProperties": false}),
        ),
        spec(
            "list_dir",
            "List a directory's entries (directories end with /).",
            path_only("directory; \".\" is the root"),
        ),
        spec(
            "grep",
            "Search files for a regular expression; returns path:line: text for each match.",
            json!({"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string", "description": "file or directory to search; default the root"}
            }, "required": ["pattern"], "additionalProperties": false}),
        ),
        spec(
            "outline",
            "List the functions, types and classes defined in a source file, with line numbers.",
            path_only("source file"),
        ),
    ];
    match set {
        ToolSet::Planner => out.push(spec(
            "submit_plan",
            "Submit the finished plan. Call this once you know enough.",
            Plan::json_schema(),
        )),
        ToolSet::Executor => out.extend([
            spec(
                "edit",
                "Replace one exact, unique snippet of a file (search) with new text (replace). Copy search from the file.",
                json!({"type": "object", "properties": {
                    "path": {"type": "string"}, "search": {"type": "string"}, "replace": {"type": "string"}
                }, "required": ["path", "search", "replace"], "additionalProperties": false}),
            ),
            spec(
                "write_file",
                "Create a new file with this content. For an existing file, the content replaces the whole file, or the one definition (function, method, class) it starts with; other changes use edit.",
                json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                       "required": ["path", "content"], "additionalProperties": false}),
            ),
            spec(
                "run",
                "Run a shell command in the workspace (tests, builds); returns its exit code and output.",
                json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"], "additionalProperties": false}),
            ),
            spec(
                "step_done",
                "The step is complete; summarise what changed.",
                json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"], "additionalProperties": false}),
            ),
            spec(
                "step_failed",
                "The step cannot be completed; say why.",
                json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"], "additionalProperties": false}),
            ),
        ]),
    }
    out
}
