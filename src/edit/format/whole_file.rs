//! The whole-file format (aider's "whole"): each changed file's path on a line of its own, then a fenced block
//! with every line of its new content.

use super::{EditFormat, FileEdit, Leads, Scope, fenced};
use crate::prompts::PromptName;

/// Files written out whole.
pub struct WholeFile;

impl EditFormat for WholeFile {
    fn name(&self) -> &'static str {
        "whole-file"
    }

    fn prompt(&self) -> PromptName {
        PromptName::Writer
    }

    fn instructions(&self, paths: &[String], _example: Option<(&str, &str, &str)>) -> String {
        format!(
            "Reply with the complete new content of each file you change ({}): its path on a line of its own, \
             then a fenced block with every line of the file.",
            paths.join(", ")
        )
    }

    fn again(&self) -> &'static str {
        "Write each file you change again, whole: its path, then a fenced block with every line."
    }

    fn unchanged(&self) -> &'static str {
        "That is each file as it already is, and the project's check still fails: write it differently."
    }

    fn revision(&self) -> &'static str {
        "the complete new content of each file you change"
    }

    fn grammar(&self, paths: &[String], _leads: &Leads) -> Option<String> {
        Some(fenced::grammar(paths))
    }

    fn parse(&self, reply: &str, paths: &[String]) -> Vec<FileEdit> {
        fenced::parse(reply, paths, Scope::File)
    }
}
