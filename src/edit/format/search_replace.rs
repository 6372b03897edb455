//! The search/replace format, the `edit` tool's: a path, a search text found once in the file (exactly, or by
//! the tolerant matching of [`crate::edit::matching`]), and its replacement. The tool loop's format: a cloud
//! model or a local one with tools quotes what it changes instead of writing the file out.

use super::{EditFormat, FileEdit, Leads, Scope};
use crate::prompts::PromptName;

/// A search text and its replacement, as the `edit` tool's arguments.
pub struct SearchReplace;

/// The `edit` tool's arguments: the file, a text found once in it, and what replaces that (the tool's
/// description says so to the model; the fields carry none, so the schema stays as models have seen it).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditArgs {
    pub(crate) path: String,
    pub(crate) search: String,
    pub(crate) replace: String,
}

impl EditFormat for SearchReplace {
    fn name(&self) -> &'static str {
        "search/replace"
    }

    fn prompt(&self) -> PromptName {
        PromptName::Executor
    }

    fn instructions(&self, _paths: &[String], _example: Option<(&str, &str, &str)>) -> String {
        "Change a file with the edit tool: its path, a search text that occurs once in it (copied from \
         read_file), and the replacement."
            .to_string()
    }

    fn again(&self) -> &'static str {
        "Call edit again with a search text copied exactly from the file as read_file shows it."
    }

    fn unchanged(&self) -> &'static str {
        "That edit changes nothing, and the project's check still fails: change the code it reports."
    }

    fn revision(&self) -> &'static str {
        "an edit of the code the report points at"
    }

    /// The tool call's JSON schema is the grammar (the engine holds a tool call to its schema).
    fn grammar(&self, _paths: &[String], _leads: &Leads) -> Option<String> {
        None
    }

    /// The edit one `edit` call's arguments (`reply`) make, when they are well formed and name one of `paths`
    /// (any path, when `paths` is empty: the path policy decides).
    fn parse(&self, reply: &str, paths: &[String]) -> Vec<FileEdit> {
        let Ok(args) = serde_json::from_str::<EditArgs>(reply) else {
            return Vec::new();
        };
        if !paths.is_empty() && !paths.contains(&args.path) {
            return Vec::new();
        }
        vec![FileEdit {
            path: args.path,
            content: args.replace,
            scope: Scope::Replace {
                search: args.search,
            },
        }]
    }
}

/// `old` with `search` replaced by `replace`: a whole block first (a search text that is one definition, or the
/// whole file, with its lines changed), else one tolerant match; `Err` says why it does not apply.
pub fn replace(old: &str, search: &str, replace: &str) -> Result<String, String> {
    if let Some(new) = crate::edit::matching::whole_block_edit(old, search, replace) {
        return Ok(new);
    }
    crate::edit::matching::search_replace(old, search, replace)
        .map(|(new, _)| new)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_call_parses_to_one_replacement_that_applies_once() {
        let args = r#"{"path":"a.py","search":"x = 1","replace":"x = 2"}"#;
        let edits = SearchReplace.parse(args, &[]);
        assert_eq!(edits.len(), 1);
        let new = crate::edit::format::apply("x = 1\ny = 1\n", &edits[0]).unwrap();
        assert_eq!(new, "x = 2\ny = 1\n");
        // Another path than the allowed, unknown fields and bad JSON are no edit.
        assert!(SearchReplace.parse(args, &["b.py".to_string()]).is_empty());
        assert!(
            SearchReplace
                .parse(r#"{"path":"a.py","search":"x","replace":"y","z":1}"#, &[])
                .is_empty()
        );
        assert!(SearchReplace.parse("not json", &[]).is_empty());
        // A search text that is not there says so.
        assert!(replace("a = 1\n", "b = 1", "c").is_err());
    }
}
