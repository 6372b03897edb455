//! The tools' names, descriptions and argument schemas, as models see them.

use super::{
    DirArgs, DoneArgs, EditArgs, FailedArgs, GrepArgs, OutlineArgs, ReadArgs, RunArgs, WriteArgs,
};
use crate::model::ToolSpec;
use crate::protocol::Plan;
use crate::protocol::schema::for_model;

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

/// The tools of a set.
pub fn specs(set: ToolSet) -> Vec<ToolSpec> {
    let mut out = vec![
        spec(
            "read_file",
            "Read a text file, with line numbers. Optional 1-based start_line and end_line (at most 400 lines).",
            for_model::<ReadArgs>(),
        ),
        spec(
            "list_dir",
            "List a directory's entries (directories end with /).",
            for_model::<DirArgs>(),
        ),
        spec(
            "grep",
            "Search files for a regular expression; returns path:line: text for each match.",
            for_model::<GrepArgs>(),
        ),
        spec(
            "outline",
            "List the functions, types and classes defined in a source file, with line numbers.",
            for_model::<OutlineArgs>(),
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
                for_model::<EditArgs>(),
            ),
            spec(
                "write_file",
                "Create a new file with this content. For an existing file, the content replaces the whole file, or the one definition (function, method, class) it starts with; other changes use edit.",
                for_model::<WriteArgs>(),
            ),
            spec(
                "run",
                "Run a shell command in the workspace (tests, builds); returns its exit code and output.",
                for_model::<RunArgs>(),
            ),
            spec(
                "step_done",
                "The step is complete; summarise what changed.",
                for_model::<DoneArgs>(),
            ),
            spec(
                "step_failed",
                "The step cannot be completed; say why.",
                for_model::<FailedArgs>(),
            ),
        ]),
    }
    out
}
