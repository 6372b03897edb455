//! The command policy's reading of a command line, on bash's own grammar (tree-sitter-bash): every simple
//! command wherever it sits (after `then`, `do`, `!`, in a pipeline, a function body, a subshell, a `$(…)` or
//! `<(…)`), its words with quotes and escapes removed as the shell removes them, and what makes the line
//! *complex* (output redirected to a file, assignments, substitutions, here-documents). A line the grammar
//! cannot read completely is *unreadable*, and the policy then treats it as unknowable. Nothing is expanded: a
//! word the shell would expand is kept as written (with its `$`, glob or brace), so the policy can see that its
//! value is only known at run time.

use std::cell::RefCell;

use tree_sitter::{Node, Parser};

/// A command line split into simple commands.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    /// Each simple command's words, quotes removed (assignments before the program are not words).
    pub commands: Vec<Vec<String>>,
    /// Output redirected to a file, assignments, substitutions, here-documents, subshells…
    pub complex: bool,
    /// Why the grammar could not read the whole line, if it could not.
    pub unreadable: Option<String>,
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

/// Splits `command` into simple commands on bash's grammar.
pub(super) fn split(command: &str) -> Parsed {
    let tree = PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            // Fails only when the grammar's ABI is newer than the linked tree-sitter: then nothing is read.
            if parser
                .set_language(&tree_sitter_bash::LANGUAGE.into())
                .is_ok()
            {
                *slot = Some(parser);
            }
        }
        slot.as_mut().and_then(|p| p.parse(command, None))
    });
    let mut parsed = Parsed::default();
    let Some(tree) = tree else {
        parsed.unreadable = Some("the shell grammar is not available".into());
        return parsed;
    };
    let root = tree.root_node();
    if root.has_error() {
        parsed.unreadable = Some(describe_error(root, command));
    }
    walk(root, command, &mut parsed);
    parsed
}

/// Where the grammar gave up, for the reason shown to a person.
fn describe_error(root: Node<'_>, src: &str) -> String {
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let at = src.get(node.start_byte()..).unwrap_or("");
            let at: String = at.chars().take(20).collect();
            return if node.is_missing() {
                format!("the line is incomplete (`{}` expected)", node.kind())
            } else {
                format!("bash cannot parse the line near `{}`", at.trim())
            };
        }
        for child in node.children(&mut cursor) {
            if child.has_error() || child.is_missing() || child.is_error() {
                stack.push(child);
            }
        }
    }
    "bash cannot parse the line".into()
}

fn walk(node: Node<'_>, src: &str, parsed: &mut Parsed) {
    match node.kind() {
        "command" => command(node, src, parsed),
        "variable_assignment"
        | "variable_assignments"
        | "declaration_command"
        | "unset_command" => {
            parsed.complex = true;
            children(node, src, parsed);
        }
        "file_redirect" => {
            redirect(node, src, parsed);
            children(node, src, parsed);
        }
        "heredoc_redirect"
        | "herestring_redirect"
        | "command_substitution"
        | "process_substitution"
        | "subshell"
        | "function_definition"
        | "ERROR" => {
            parsed.complex = true;
            children(node, src, parsed);
        }
        _ => children(node, src, parsed),
    }
}

fn children(node: Node<'_>, src: &str, parsed: &mut Parsed) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        walk(child, src, parsed);
    }
}

fn command(node: Node<'_>, src: &str, parsed: &mut Parsed) {
    let mut words = Vec::new();
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "command_name" => {
                if let Some(name) = child.named_child(0) {
                    words.push(word(name, src));
                }
            }
            "variable_assignment"
            | "file_redirect"
            | "herestring_redirect"
            | "heredoc_redirect" => {}
            _ => words.push(word(child, src)),
        }
        // Redirections and assignments count, and substitutions inside a word are commands of their own.
        walk(child, src, parsed);
    }
    if !words.is_empty() {
        parsed.commands.push(words);
    }
}

/// `>`, `>>`, `&>`, `>|`, `<>` write to a file unless it is `/dev/null`; `>&N` and `<&N` copy a descriptor.
fn redirect(node: Node<'_>, src: &str, parsed: &mut Parsed) {
    let mut cursor = node.walk();
    let op = node
        .children(&mut cursor)
        .find(|c| !c.is_named())
        .map(|c| c.kind().to_string())
        .unwrap_or_default();
    let destination = node
        .child_by_field_name("destination")
        .map(|d| word(d, src))
        .unwrap_or_default();
    if !op.contains('>') {
        return;
    }
    let duplicate = matches!(op.as_str(), ">&" | "<&" | ">&-" | "<&-")
        && destination.chars().all(|c| c.is_ascii_digit() || c == '-');
    if !duplicate && destination != "/dev/null" {
        parsed.complex = true;
    }
}

/// A word's value as the shell would pass it, where that is known without running anything; otherwise its
/// source text, which then keeps the `$`, backquote, glob or brace that makes it unknowable.
fn word(node: Node<'_>, src: &str) -> String {
    let text = node.utf8_text(src.as_bytes()).unwrap_or("");
    match node.kind() {
        "word" => unescape(text),
        "number" => text.to_string(),
        "raw_string" => text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or(text)
            .to_string(),
        "string" => {
            let mut cursor = node.walk();
            let literal = node
                .named_children(&mut cursor)
                .all(|c| c.kind() == "string_content");
            if literal {
                let inner = text
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .unwrap_or(text);
                unescape_double(inner)
            } else {
                text.to_string()
            }
        }
        "concatenation" => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .map(|c| word(c, src))
                .collect()
        }
        _ => text.to_string(),
    }
}

/// An unquoted word: a backslash quotes the next character; a backslash-newline disappears.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') | None => {}
                Some(n) => out.push(n),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Inside double quotes a backslash quotes only `$`, `` ` ``, `"`, `\` and a newline.
fn unescape_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `word` is `NAME=value`.
pub(super) fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// The last part of a path.
pub(super) fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(cmd: &str) -> Vec<Vec<String>> {
        split(cmd).commands
    }

    #[test]
    fn commands_are_found_wherever_the_grammar_puts_them() {
        let touch = vec!["touch".to_string(), "x".to_string()];
        for cmd in [
            "if true; then touch x; fi",
            "! touch x",
            "for a in b; do touch x; done",
            "while false; do touch x; done",
            "case a in a) touch x;; esac",
            "f() { touch x; }",
            "(touch x)",
            "{ touch x; }",
            "echo $(touch x)",
            "echo \"a`touch x`\"",
            "diff <(touch x) y",
            "[[ -f y ]] && touch x",
            "ls | touch x",
            "tou\\ch x",
            "\"tou\"ch x",
            "'touch' \"x\"",
            "a=$(touch x) ls",
        ] {
            assert!(words(cmd).contains(&touch), "{cmd}: {:?}", words(cmd));
        }
    }

    #[test]
    fn expansions_stay_as_written() {
        assert_eq!(words("$t x")[0][0], "$t");
        assert_eq!(words("echo {a,b}")[0][1], "{a,b}");
        assert_eq!(words("echo \"$HOME\"")[0][1], "\"$HOME\"");
        assert_eq!(words("echo $'\\x74'")[0][1], "$'\\x74'");
        assert_eq!(
            words("echo 'a b' \"c\\\"d\"")[0],
            vec!["echo", "a b", "c\"d"]
        );
    }

    #[test]
    fn what_the_grammar_cannot_read_is_reported() {
        for cmd in ["echo 'unterminated", "ls && ", "tou[c]h x", "if true; then"] {
            assert!(split(cmd).unreadable.is_some(), "{cmd}");
        }
        for cmd in ["ls -la", "cargo test 2>&1 | tail", "echo ok > /dev/null"] {
            assert_eq!(split(cmd).unreadable, None, "{cmd}");
        }
    }
}
