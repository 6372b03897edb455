//! The definitions format: each changed file's path on a line of its own, then a fenced block with the
//! functions, methods or classes the reply changes or adds, each written whole; they are merged into the file
//! by name ([`crate::edit::defs`]) and what the reply leaves out stays as it is. For files too long for a small
//! model to write back whole without breaking lines it meant to keep.

use super::{EditFormat, FileEdit, Leads, Scope, fenced};
use crate::prompts::PromptName;

/// The definitions a reply changes, merged by name.
pub struct Definitions;

impl EditFormat for Definitions {
    fn name(&self) -> &'static str {
        "definitions"
    }

    fn prompt(&self) -> PromptName {
        PromptName::Definitions
    }

    fn instructions(&self, paths: &[String], example: Option<(&str, &str, &str)>) -> String {
        let mut out = format!(
            "Reply with what you change in each file ({}): its path on a line of its own, then a fenced block \
             with each function, method or class you change or add, written whole, and any import it needs. \
             What you leave out stays as it is.",
            paths.join(", ")
        );
        // A small model copies a file it is shown; one of the file's own definitions, named, shows it the shape
        // of a shorter reply.
        if let Some((path, name, signature)) = example {
            out.push_str(&format!(
                " For example, a reply that changes only `{name}` is {path} on a line, then a fenced block \
                 holding `{signature}` and the rest of that definition, and nothing else."
            ));
        }
        out
    }

    fn again(&self) -> &'static str {
        "Write each function, method or class you change again, whole: its file's path, then a fenced block \
         with the definitions."
    }

    fn unchanged(&self) -> &'static str {
        "That leaves each file as it already is, and the project's check still fails: write it differently."
    }

    fn revision(&self) -> &'static str {
        "each function, method or class you change, whole, under its file's path"
    }

    /// A block in a language tandem parses starts with a definition, and where the failing tests lead, with
    /// one of the definitions they call.
    fn grammar(&self, paths: &[String], leads: &Leads) -> Option<String> {
        Some(fenced::definitions_grammar_led(paths, leads))
    }

    fn parse(&self, reply: &str, paths: &[String]) -> Vec<FileEdit> {
        fenced::parse(reply, paths, Scope::Definitions)
    }
}
