//! Tools the models call: specs, argument parsing and dispatch. Read-only tools answer at once; edits, new files
//! and commands come back as actions for the session, which asks for approval first.

mod fs;
mod specs;

use serde::Deserialize;

pub use fs::{MAX_FILE_BYTES, read_text, text_of};
pub use specs::{ToolSet, specs};

use crate::protocol::{Plan, StepStatus};
use crate::sandbox::Workspace;

/// What a tool call asks the session to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The tool's result, for the model.
    Output(String),
    /// The call failed; this explains why, for the model.
    Failed(String),
    /// Change a file (after approval): `old` is `None` for a new file.
    Propose {
        /// Workspace-relative path.
        path: String,
        /// Current content.
        old: Option<String>,
        /// Proposed content.
        new: String,
    },
    /// Run a shell command (after approval).
    Run(String),
    /// End the step.
    Finish {
        /// How.
        status: StepStatus,
        /// Summary or reason.
        summary: String,
    },
    /// The planner's plan.
    SubmitPlan(Plan),
}

// The arguments of each tool, as read from a model's call. The schemas models see are derived from these
// (`protocol::schema::for_model`): a field's doc comment is its description there, and an optional field is
// marked `skip_serializing_if` so that it is not required.

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadArgs {
    path: String,
    #[schemars(range(min = 1))]
    #[serde(skip_serializing_if = "Option::is_none")]
    start_line: Option<usize>,
    #[schemars(range(min = 1))]
    #[serde(skip_serializing_if = "Option::is_none")]
    end_line: Option<usize>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirArgs {
    /// directory; "." is the root
    path: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutlineArgs {
    /// source file
    path: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrepArgs {
    pattern: String,
    /// file or directory to search; default the root
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

pub(crate) use crate::edit::format::search_replace::EditArgs;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunArgs {
    command: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DoneArgs {
    summary: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailedArgs {
    reason: String,
}

fn parse<T: for<'de> Deserialize<'de>>(tool: &str, arguments: &str) -> Result<T, Action> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments)
        .map_err(|e| Action::Failed(format!("bad arguments for {tool}: {e}")))
}

fn answer(result: Result<String, String>) -> Action {
    match result {
        Ok(text) => Action::Output(text),
        Err(text) => Action::Failed(text),
    }
}

/// The text of a file a tool is about to change, if it is small enough and text.
fn editable_text(bytes: Vec<u8>, path: &str) -> Result<String, Action> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Action::Failed(format!(
            "{path} is {} bytes; tools edit files up to {MAX_FILE_BYTES} bytes",
            bytes.len()
        )));
    }
    text_of(bytes, path).map_err(Action::Failed)
}

/// The proposal of `old` becoming `new` at `abs`; refused with `unchanged`'s text when they are the same.
fn changed(
    ws: &Workspace,
    abs: &std::path::Path,
    old: String,
    new: String,
    unchanged: impl FnOnce() -> String,
) -> Result<Action, Action> {
    if new == old {
        return Err(Action::Failed(unchanged()));
    }
    Ok(Action::Propose {
        path: ws.relative(abs),
        old: Some(old),
        new,
    })
}

/// A `run` of one of the looking tools by name (`read_file x.py`, a small model's common slip): that tool's
/// answer, said to be a tool; `None` for any real command.
fn tool_as_command(ws: &Workspace, set: ToolSet, command: &str) -> Option<Action> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (&tool, rest) = words.split_first()?;
    if !["read_file", "list_dir", "outline"].contains(&tool) || rest.len() > 1 {
        return None;
    }
    let path = rest.first().map_or(".", |p| p.trim_matches(['\'', '"']));
    let args = serde_json::json!({ "path": path }).to_string();
    Some(match dispatch(ws, set, tool, &args) {
        Action::Output(text) => Action::Output(format!(
            "`{tool}` is one of your tools, not a shell command; call it as a tool. It gives:\n{text}"
        )),
        Action::Failed(text) => Action::Failed(format!(
            "`{tool}` is one of your tools, not a shell command; as a tool it gives: {text}"
        )),
        other => other,
    })
}

/// The proposal a whole-file reply makes for `path` (see [`crate::edit::format`]), through the same path policy as
/// `write_file`: an existing file becomes what the reply's `content` makes of it (read as `scope` says), a missing
/// one is created. `Output` when the reply leaves the file as it is.
pub fn whole_file(ws: &Workspace, edit: &crate::edit::format::FileEdit) -> Action {
    let (path, content) = (edit.path.as_str(), edit.content.as_str());
    let result = (|| -> Result<Action, Action> {
        let (abs, existing) = file_to_write(ws, path)?;
        let Some(old) = existing else {
            return Ok(Action::Propose {
                path: ws.relative(&abs),
                old: None,
                new: content.to_string(),
            });
        };
        let new = crate::edit::format::apply(&old, edit)
            .map_err(|e| Action::Failed(format!("{path} not written: {e}")))?;
        Ok(if new == old {
            Action::Output(format!("{path} is unchanged"))
        } else {
            Action::Propose {
                path: ws.relative(&abs),
                old: Some(old),
                new,
            }
        })
    })();
    result.unwrap_or_else(|failed| failed)
}

/// Where a tool that writes `path` would write (through the path policy), and the file's text if it exists.
fn file_to_write(
    ws: &Workspace,
    path: &str,
) -> Result<(std::path::PathBuf, Option<String>), Action> {
    let abs = ws
        .resolve_write(path)
        .map_err(|e| Action::Failed(e.to_string()))?;
    let existing = ws
        .read_for_write(path)
        .map_err(|e| Action::Failed(e.to_string()))?;
    let text = match existing {
        Some((bytes, _)) => Some(editable_text(bytes, path)?),
        None => None,
    };
    Ok((abs, text))
}

/// Carries out (or prepares) one tool call. Unknown tools and malformed arguments are `Failed`, never panics.
pub fn dispatch(ws: &Workspace, set: ToolSet, name: &str, arguments: &str) -> Action {
    let allowed = specs(set).iter().any(|s| s.name == name);
    if !allowed {
        let names: Vec<String> = specs(set).into_iter().map(|s| s.name).collect();
        return Action::Failed(format!(
            "there is no tool `{name}` here; the tools are: {}",
            names.join(", ")
        ));
    }
    let result = (|| -> Result<Action, Action> {
        Ok(match name {
            "read_file" => {
                let a: ReadArgs = parse(name, arguments)?;
                answer(fs::read_file(ws, &a.path, a.start_line, a.end_line))
            }
            "list_dir" => answer(fs::list_dir(ws, &parse::<DirArgs>(name, arguments)?.path)),
            "grep" => {
                let a: GrepArgs = parse(name, arguments)?;
                answer(fs::grep(ws, &a.pattern, a.path.as_deref()))
            }
            "outline" => answer(fs::outline(
                ws,
                &parse::<OutlineArgs>(name, arguments)?.path,
            )),
            "edit" => {
                let a: EditArgs = parse(name, arguments)?;
                if a.search == a.replace {
                    // Said before looking for the text: matched or not, such an edit changes nothing.
                    return Err(Action::Failed(format!(
                        "edit of {}: `search` and `replace` are the same text, so nothing would change; put the new code in `replace` (read_file shows the current text)",
                        a.path
                    )));
                }
                let abs = ws
                    .resolve_write(&a.path)
                    .map_err(|e| Action::Failed(e.to_string()))?;
                let Some((bytes, _)) = ws
                    .read_for_write(&a.path)
                    .map_err(|e| Action::Failed(e.to_string()))?
                else {
                    return Err(Action::Failed(format!(
                        "{} does not exist; create it with write_file",
                        a.path
                    )));
                };
                let old = editable_text(bytes, &a.path)?;
                let edit = crate::edit::format::FileEdit {
                    path: a.path.clone(),
                    content: a.replace,
                    scope: crate::edit::format::Scope::Replace { search: a.search },
                };
                let new = crate::edit::format::apply(&old, &edit)
                    .map_err(|e| Action::Failed(format!("edit of {} not applied: {e}", a.path)))?;
                changed(ws, &abs, old, new, || {
                    format!(
                        "edit of {}: the replacement is the same as the text",
                        a.path
                    )
                })?
            }
            "write_file" => {
                let a: WriteArgs = parse(name, arguments)?;
                let (abs, existing) = file_to_write(ws, &a.path)?;
                match existing {
                    None => Action::Propose {
                        path: ws.relative(&abs),
                        old: None,
                        new: a.content,
                    },
                    // An existing file: the content replaces it whole, or the one definition it starts with
                    // (small models often write back just the function they changed).
                    Some(old) => {
                        let Some((new, _)) = crate::edit::matching::rewrite(&old, &a.content)
                        else {
                            return Err(Action::Failed(format!(
                                "{} already exists and this content is neither the whole file (its first and last lines) nor one whole definition in it (starting with that definition's first line); change it with edit",
                                a.path
                            )));
                        };
                        changed(ws, &abs, old, new, || {
                            format!(
                                "write_file of {}: that is what the file already says",
                                a.path
                            )
                        })?
                    }
                }
            }
            "run" => {
                let command = parse::<RunArgs>(name, arguments)?.command;
                tool_as_command(ws, set, &command).unwrap_or(Action::Run(command))
            }
            "step_done" => Action::Finish {
                status: StepStatus::Done,
                summary: parse::<DoneArgs>(name, arguments)?.summary,
            },
            "step_failed" => Action::Finish {
                status: StepStatus::Failed,
                summary: parse::<FailedArgs>(name, arguments)?.reason,
            },
            "submit_plan" => Action::SubmitPlan(
                Plan::parse(arguments).map_err(|e| Action::Failed(e.to_string()))?,
            ),
            _ => Action::Failed(format!("tool `{name}` is not implemented")),
        })
    })();
    result.unwrap_or_else(|failed| failed)
}

#[cfg(test)]
mod tests;
