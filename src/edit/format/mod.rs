//! Edit formats: how a model's reply says what it changes. Each format is one module holding everything about
//! it (what the model is told, the grammar that holds a local model to it, how a reply is parsed and applied),
//! as aider's `coders/` keeps its edit formats. A reply is parsed once into [`FileEdit`]s, and each is applied
//! once, by [`apply`].
//!
//! - [`whole_file`]: the path, then a fenced block with the file's complete new content (aider's "whole").
//! - [`definitions`]: the path, then a fenced block with the functions, methods or classes the reply changes
//!   or adds, merged into the file by name (for files too long to write whole).
//! - [`search_replace`]: the `edit` tool's search text and its replacement.

pub mod definitions;
pub mod fenced;
pub mod search_replace;
pub mod whole_file;

use super::defs::{Merge, merge};
use super::guards::without_self_imports;
use super::matching::{Rewrite, is_elision, rewrite};
use crate::prompts::PromptName;
use crate::repomap::tags::Lang;

/// One file's change as a reply gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The path, one of those the reply was allowed to write.
    pub path: String,
    /// Its new content: complete, or the definitions it changes (newline-terminated lines).
    pub content: String,
    /// What the content stands for.
    pub scope: Scope,
}

/// What an edit's content stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole file, as the model was asked for it (a much shorter reply, or one with a marker for left-out
    /// lines, is merged by definition where it can be).
    File,
    /// The definitions the reply changes or adds (see [`super::defs`]).
    Definitions,
    /// The file's exact text, written as it is (a file put back).
    Exact,
    /// The replacement of `search`, a text found once in the file ([`search_replace`]).
    Replace {
        /// The text replaced.
        search: String,
    },
}

/// A failing check's pointer into a file the reply may write: the definitions a failing test calls, by the
/// line each starts with (`def render`), which a definitions reply is led to start at.
pub type Leads = [(String, Vec<String>)];

/// A way for a model's reply to say what it changes.
pub trait EditFormat: Sync {
    /// The format's name, for logs and events.
    fn name(&self) -> &'static str;
    /// The system prompt a request in this format is sent with.
    fn prompt(&self) -> PromptName;
    /// What the reply must look like, for the request's last lines: `paths` are the files it may write, and
    /// `example` a definition of theirs as (path, name, first line) to show the shape with.
    fn instructions(&self, paths: &[String], example: Option<(&str, &str, &str)>) -> String;
    /// What the model is asked for after a reply whose every file was refused.
    fn again(&self) -> &'static str;
    /// What the model is told of a reply that left every file as it was while the check fails.
    fn unchanged(&self) -> &'static str;
    /// What a revision after a failing check is asked to be, in a few words.
    fn revision(&self) -> &'static str;
    /// The grammar a local engine holds the reply to (`None`: the format has none).
    fn grammar(&self, paths: &[String], leads: &Leads) -> Option<String>;
    /// The files a reply changes, in order; what is not one of `paths`, or is cut off, is left out.
    fn parse(&self, reply: &str, paths: &[String]) -> Vec<FileEdit>;
}

/// The fenced format for a step writing `files` (path, text; `None` for a file to create): definitions when
/// some file it may write is longer than `definitions_lines` and in a language whose definitions merge by
/// name, else whole files.
pub fn fenced_for(
    files: &[&(String, Option<String>)],
    definitions_lines: usize,
) -> &'static dyn EditFormat {
    let long = files.iter().any(|(path, text)| {
        text.as_ref()
            .is_some_and(|t| t.lines().count() > definitions_lines)
            && Lang::of(std::path::Path::new(path)).is_some()
    });
    if long {
        &definitions::Definitions
    } else {
        &whole_file::WholeFile
    }
}

/// The file `old` becomes with `edit`, applied once for every format; `Err` says why the edit cannot stand.
/// A replacement replaces its search text; an exact text is the file. In a language tandem parses, a reply of some of the file's definitions (functions, classes,
/// methods, imports) replaces those and adds the new ones, leaving the rest as it is ([`super::defs`]).
/// Otherwise the text replaces the file whole, unless it is much shorter than the file and is one whole
/// definition of it (a small model often writes back only the function it changed), which then replaces just
/// that definition. Text that stands for lines it leaves out (`...`, `// ... rest unchanged`) is refused: the
/// file would lose them.
pub fn apply(old: &str, edit: &FileEdit) -> Result<String, String> {
    let (path, text) = (edit.path.as_str(), edit.content.as_str());
    let new = match &edit.scope {
        Scope::Exact => return Ok(text.to_string()),
        Scope::Replace { search } => search_replace::replace(old, search, text)?,
        Scope::File => apply_reply(path, old, text, false)?,
        Scope::Definitions => apply_reply(path, old, text, true)?,
    };
    Ok(without_self_imports(path, old, &new))
}

/// The file `old` at `path` becomes with the fenced block `text`, asked for as `definitions` or as the whole
/// file.
fn apply_reply(path: &str, old: &str, text: &str, definitions: bool) -> Result<String, String> {
    // A reply asked for the whole file is taken whole (a removal, a rename) unless it is evidently not.
    let partial = definitions
        || text.lines().count() * 2 < old.lines().count()
        || text.lines().any(is_elision);
    if partial
        && let Some(lang) = Lang::of(std::path::Path::new(path))
        && !old.trim().is_empty()
    {
        match merge(old, text, lang) {
            Ok(Some(Merge::Merged(new))) => return Ok(new),
            Ok(_) => {}
            // Code that is no definition of the file's language on its own (a JavaScript method written
            // outside its class) may still be one whole definition of the file, found by its lines.
            Err(e) => {
                return match rewrite(old, text) {
                    Some((new, Rewrite::Block { .. })) if !text.lines().any(is_elision) => Ok(new),
                    _ => Err(e),
                };
            }
        }
    }
    let old_lines = old.lines().count();
    let new_lines = text.lines().count();
    if let Some(marker) = text
        .lines()
        .find(|l| is_elision(l) && !old.lines().any(|o| o.trim() == l.trim()))
    {
        return Err(format!(
            "the reply stands for lines it leaves out (`{}`); write every line of the file",
            marker.trim()
        ));
    }
    if text.trim().is_empty() && !old.trim().is_empty() {
        return Err("the reply's block is empty; write every line of the file".into());
    }
    let fragment = new_lines * 2 < old_lines;
    let mut whole = match rewrite(old, text) {
        Some((new, Rewrite::Block { .. })) if fragment => return Ok(new),
        Some((new, Rewrite::Whole)) => new,
        _ if fragment => {
            return Err(format!(
                "the reply has {new_lines} lines for a file of {old_lines}, and it is neither the whole file nor one whole definition in it; write every line of the file"
            ));
        }
        _ => text.to_string(),
    };
    if !old.ends_with('\n') && whole.ends_with('\n') && !old.is_empty() {
        whole.pop();
    }
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str, text: &str, scope: Scope) -> FileEdit {
        FileEdit {
            path: path.into(),
            content: text.into(),
            scope,
        }
    }

    #[test]
    fn a_file_never_gains_an_import_of_itself() {
        let old =
            "'use strict';\n\nfunction wrap(t) {\n  return [t];\n}\n\nmodule.exports = { wrap };\n";
        let new = "const assert = require('assert');\nconst { wrap } = require('./text');\n\nfunction wrap(t) {\n  return [t, t];\n}\n\nmodule.exports = { wrap };\n";
        assert_eq!(
            crate::edit::guards::without_self_imports("text.js", old, new),
            "const assert = require('assert');\n\nfunction wrap(t) {\n  return [t, t];\n}\n\nmodule.exports = { wrap };\n"
        );
        // Another module's import stays, and so does one the file already had.
        let keep = "const { pad } = require('./pad');\nimport x from \"./text.js\";\n";
        assert_eq!(
            crate::edit::guards::without_self_imports(
                "lib/text.js",
                "import x from \"./text.js\";\n",
                keep
            ),
            keep
        );
        // Python: by its name or its dotted path; an indented or multi-line import is left alone.
        let new = "import todo\nfrom todo import add, load\nfrom pkg.todo import render\nimport json\n\ndef f():\n    import todo\n    from todo import (\n        x,\n    )\n";
        assert_eq!(
            crate::edit::guards::without_self_imports("pkg/todo.py", "import json\n", new),
            "import json\n\ndef f():\n    import todo\n    from todo import (\n        x,\n    )\n"
        );
        assert_eq!(
            crate::edit::guards::without_self_imports("todo.py", "", "import todos\n"),
            "import todos\n"
        );
        // Through apply, whatever the scope but an exact put-back.
        let reply = "from todo import load\n\ndef load():\n    return [1]\n";
        let old = "def load():\n    return []\n";
        assert_eq!(
            apply(old, &at("todo.py", reply, Scope::File)).unwrap(),
            "def load():\n    return [1]\n"
        );
        assert_eq!(
            apply(old, &at("todo.py", reply, Scope::Exact)).unwrap(),
            reply
        );
    }

    #[test]
    fn a_whole_reply_replaces_the_file_even_when_its_first_line_changed() {
        let old = "import sys\n\ndef f():\n    raise NotImplementedError\n";
        let text = "import os\nimport sys\n\ndef f():\n    return os.sep\n";
        assert_eq!(apply(old, &at("f.txt", text, Scope::File)).unwrap(), text);
    }

    #[test]
    fn a_short_reply_that_is_one_definition_replaces_only_it() {
        let old = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n\n\ndef d():\n    return 4\n";
        let text = "def b():\n    return 20\n";
        let new = apply(old, &at("f.txt", text, Scope::File)).unwrap();
        assert_eq!(new, old.replace("return 2\n", "return 20\n"));
    }

    #[test]
    fn a_reply_that_leaves_lines_out_is_refused() {
        let old = "def a():\n    return 1\n\ndef b():\n    return 2\n";
        let text = "def a():\n    return 10\n\n# ... rest unchanged\n";
        let err = apply(old, &at("f.txt", text, Scope::File)).unwrap_err();
        assert!(err.contains("leaves out"), "{err}");
        // `...` that the file already had is code, not a marker.
        let stub = "class P:\n    ...\n\ndef f():\n    pass\n";
        let text = "class P:\n    ...\n\ndef f():\n    return 1\n";
        assert_eq!(apply(stub, &at("f.txt", text, Scope::File)).unwrap(), text);
    }

    #[test]
    fn a_short_fragment_that_is_no_definition_is_refused() {
        let old: String = (0..20).map(|i| format!("x{i} = {i}\n")).collect();
        let err = apply(&old, &at("f.txt", "y = 1\n", Scope::File)).unwrap_err();
        assert!(err.contains("whole file"), "{err}");
        assert!(apply("a = 1\n", &at("f.txt", "", Scope::File)).is_err());
    }

    #[test]
    fn a_file_without_a_final_newline_keeps_that() {
        assert_eq!(
            apply("a = 1", &at("f.txt", "a = 2\n", Scope::File)).unwrap(),
            "a = 2"
        );
    }

    #[test]
    fn in_a_parsed_language_the_definitions_of_a_reply_are_merged_by_name() {
        let old = "def a():\n    return 1\n\n\ndef b():\n    return 2\n";
        // Two of three definitions: b changed and c added; a stays.
        let reply = "def b():\n    return 20\n\n\ndef c():\n    return 3\n";
        let new = apply(old, &at("m.py", reply, Scope::Definitions)).unwrap();
        assert_eq!(
            new,
            "def a():\n    return 1\n\n\ndef b():\n    return 20\n\n\ndef c():\n    return 3\n"
        );
        // Asked for the whole file, the same reply is the file: `a` was removed.
        assert_eq!(apply(old, &at("m.py", reply, Scope::File)).unwrap(), reply);
        // A reply asked for whole that marks what it leaves out keeps what it marks.
        let marked = "def b():\n    return 20\n\n\n# ... the rest as it was\n";
        assert_eq!(
            apply(old, &at("m.py", marked, Scope::File)).unwrap(),
            old.replace("return 2", "return 20")
        );
        // Exact content is written as it is.
        assert_eq!(apply(old, &at("m.py", "x\n", Scope::Exact)).unwrap(), "x\n");
        // A JavaScript method written outside its class parses as no definition, but is one of the file.
        let js = "class A {\n  f() {\n    return 1;\n  }\n\n  g() {\n    return 2;\n  }\n}\n\nfunction h() {}\n\nfunction i() {}\n";
        let new = apply(
            js,
            &at("a.js", "  f() {\n    return 10;\n  }\n", Scope::File),
        )
        .unwrap();
        assert_eq!(new, js.replace("return 1;", "return 10;"));
    }
}
