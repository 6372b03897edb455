//! The syntax the fenced formats share (whole file, definitions): a path on a line of its own, then a fenced
//! block. Small models write a file out whole far more reliably than they quote a search text or escape code
//! into JSON, and a local engine can hold them to the syntax with a grammar.

use super::{FileEdit, Scope};
use crate::repomap::tags::Lang;

/// The fence that opens and closes a file's block.
const FENCE: &str = "```";

/// Whether `content` can be carried in the format: no line of it may start with a fence.
pub fn representable(content: &str) -> bool {
    !content.lines().any(|l| l.trim_start().starts_with(FENCE))
}

/// `path` and `content` as the format writes them (`lang` names the fence, e.g. `python`).
pub fn render(path: &str, lang: &str, content: &str) -> String {
    let mut out = format!("{path}\n{FENCE}{lang}\n{content}");
    if !content.is_empty() && !content.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(FENCE);
    out.push('\n');
    out
}

/// The GBNF grammar of a reply that writes one or more of `paths` whole (and nothing else): each path at most
/// once, in the order given. A small model that may name a path again writes the same block over and over until
/// the token budget runs out.
pub fn grammar(paths: &[String]) -> String {
    grammar_of(paths, false, &[])
}

/// The GBNF grammar of a reply that writes the definitions it changes in one or more of `paths`: as
/// [`grammar`], but in a language tandem parses a block starts with a definition (`def`, `fn`, `class`, …), not
/// with the file's first lines: a small model shown a file copies it from the top whatever it is asked.
pub fn definitions_grammar(paths: &[String]) -> String {
    grammar_of(paths, true, &[])
}

/// [`definitions_grammar`], where the block of a path in `leads` starts with one of its given line starts
/// (`def render`, `class Inventory:`): the definitions a failing test calls, which a small model otherwise
/// passes over to copy the file from its top.
pub fn definitions_grammar_led(paths: &[String], leads: &[(String, Vec<String>)]) -> String {
    grammar_of(paths, true, leads)
}

fn grammar_of(paths: &[String], definitions: bool, leads: &[(String, Vec<String>)]) -> String {
    let n = paths.len();
    let mut out = String::from("root ::= ");
    out.push_str(
        &(0..n)
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push('\n');
    let mut starts: Vec<(Lang, String)> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        // r{i}: path i's block, then optionally a later path's.
        let rest = if i + 1 < n {
            format!(" t{}", i + 1)
        } else {
            String::new()
        };
        let lang = Lang::of(std::path::Path::new(path)).filter(|_| definitions);
        let led = leads
            .iter()
            .find(|(p, starts)| p == path && !starts.is_empty())
            .filter(|_| lang.is_some());
        let body = match (lang, led) {
            (Some(lang), Some((_, lead_starts))) => {
                let alternatives: Vec<String> =
                    lead_starts.iter().map(|s| gbnf_literal(s)).collect();
                let mut rule =
                    format!("lead{i} ::= ({}) [^\\n]* \"\\n\"", alternatives.join(" | "));
                if lang == Lang::Python {
                    rule.push_str(" | \"@\" [^\\n]* \"\\n\"");
                }
                out.push_str(&rule);
                out.push('\n');
                format!("lead{i} line*")
            }
            (Some(lang), None) => {
                let name = format!("first{}", starts.len());
                if let Some((_, known)) = starts.iter().find(|(l, _)| *l == lang) {
                    format!("{known} line*")
                } else {
                    starts.push((lang, name.clone()));
                    format!("{name} line*")
                }
            }
            (None, _) => "line*".to_string(),
        };
        out.push_str(&format!(
            "r{i} ::= {} \"\\n```\" tag \"\\n\" {body} \"```\\n\"{rest}\n",
            gbnf_literal(path)
        ));
        if i > 0 {
            let later: Vec<String> = (i..n).map(|j| format!("r{j}")).collect();
            out.push_str(&format!("t{i} ::= (\"\\n\" ({}))?\n", later.join(" | ")));
        }
    }
    for (lang, name) in &starts {
        let words: Vec<String> = definition_starts(*lang)
            .iter()
            .map(|w| gbnf_literal(w))
            .collect();
        if *lang == Lang::Python {
            // A Python `def` or `class` line is followed by its body, indented: a small model sampling hot
            // otherwise writes the heading alone and closes the block, a reply that says nothing.
            let (headed, decorated): (Vec<&String>, Vec<&String>) =
                words.iter().partition(|w| !w.starts_with("\"@"));
            out.push_str(&format!(
                "{name} ::= ({}) [^\\n]* \"\\n\" [ \\t]+ [^ \\t\\n] [^\\n]* \"\\n\" | ({}) [^\\n]* \"\\n\"\n",
                headed.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" | "),
                decorated.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" | ")
            ));
            continue;
        }
        out.push_str(&format!(
            "{name} ::= ({}) [^\\n]* \"\\n\"\n",
            words.join(" | ")
        ));
    }
    out.push_str(
        "tag ::= [a-zA-Z0-9_+.-]*\n\
         line ::= \"\\n\" | [^`\\n] [^\\n]* \"\\n\" | \"`\" [^`\\n] [^\\n]* \"\\n\" | \"``\" [^`\\n] [^\\n]* \"\\n\"\n",
    );
    out
}

/// How a definition's first line starts in `lang`; a file's header (docstring, comments, imports) does not.
fn definition_starts(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Python => &["def ", "async def ", "class ", "@"],
        Lang::Rust => &[
            "fn ",
            "pub ",
            "impl",
            "struct ",
            "enum ",
            "trait ",
            "mod ",
            "#[",
            "const ",
            "static ",
            "type ",
            "async fn ",
            "unsafe ",
            "macro_rules!",
        ],
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => &[
            "function ",
            "async function ",
            "class ",
            "export ",
            "const ",
            "let ",
            "var ",
            "module.exports",
            "interface ",
            "type ",
        ],
        Lang::Go => &["func ", "type ", "var ", "const "],
    }
}

/// A GBNF string literal for `text`.
fn gbnf_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The files a reply writes (each with `scope`), in order (a path written twice keeps its last block); a block whose path is not one
/// of `paths`, or that is cut off before its closing fence, is left out. A reply with one fenced block and no
/// path line is taken as the only allowed path when there is just one (what a remote model without the grammar
/// often sends).
pub fn parse(reply: &str, paths: &[String], scope: Scope) -> Vec<FileEdit> {
    let lines: Vec<&str> = reply.split_inclusive('\n').collect();
    let mut out: Vec<FileEdit> = Vec::new();
    let mut i = 0;
    let mut pending: Option<Named> = None;
    let mut unnamed_blocks = 0;
    let mut unnamed: Option<String> = None;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with(FENCE) {
            // A block: its content runs to the next line that starts with a fence.
            let Some(close) =
                (i + 1..lines.len()).find(|&j| lines[j].trim_start().starts_with(FENCE))
            else {
                break;
            };
            let content: String = lines[i + 1..close].concat();
            match pending.take() {
                Some(Named::Allowed(path)) => {
                    out.retain(|f| f.path != path);
                    out.push(FileEdit {
                        path,
                        content,
                        scope: scope.clone(),
                    });
                }
                // A block under another file's name is that file's, not an unnamed one.
                Some(Named::Other) => {}
                None => {
                    unnamed_blocks += 1;
                    unnamed = Some(content);
                }
            }
            i = close + 1;
            continue;
        }
        if !line.is_empty() {
            pending = named_path(line, paths).map(Named::Allowed).or_else(|| {
                (!line.contains(char::is_whitespace) && line.contains(['.', '/']))
                    .then_some(Named::Other)
            });
        }
        i += 1;
    }
    if out.is_empty()
        && unnamed_blocks == 1
        && let ([path], Some(content)) = (paths, unnamed)
    {
        out.push(FileEdit {
            path: path.clone(),
            content,
            scope,
        });
    }
    out
}

/// What the line before a block names.
enum Named {
    /// One of the allowed paths.
    Allowed(String),
    /// Something that looks like another path.
    Other,
}

/// The allowed path a line names: the line is the path, maybe decorated (`**a.py**`, `` `a.py` ``, `a.py:`,
/// `# a.py`, `File: a.py`).
fn named_path(line: &str, paths: &[String]) -> Option<String> {
    let mut t = line.trim();
    for prefix in ["#", "//", "File:", "file:", "Path:", "path:"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim();
        }
    }
    let t = t
        .trim_matches(|c| c == '*' || c == '`' || c == '"' || c == '\'')
        .trim_end_matches(':')
        .trim_start_matches("./");
    paths.iter().find(|p| p.as_str() == t).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(ps: &[&str]) -> Vec<String> {
        ps.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_reply_names_its_files_and_each_block_is_its_content() {
        let reply = "src/a.py\n```python\ndef f():\n    return 1\n```\n\nb.py\n```\nx = 2\n```\n";
        let files = parse(reply, &paths(&["src/a.py", "b.py"]), Scope::File);
        assert_eq!(
            files,
            vec![
                FileEdit {
                    path: "src/a.py".into(),
                    content: "def f():\n    return 1\n".into(),
                    scope: Scope::File,
                },
                FileEdit {
                    path: "b.py".into(),
                    content: "x = 2\n".into(),
                    scope: Scope::File,
                },
            ]
        );
    }

    #[test]
    fn decorated_path_lines_are_understood_and_unknown_paths_are_ignored() {
        let reply =
            "**a.py**\n```\nA\n```\n`/etc/passwd`\n```\nroot\n```\n# ./b.py:\n```js\nB\n```\n";
        let files = parse(reply, &paths(&["a.py", "b.py"]), Scope::File);
        let got: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_str()))
            .collect();
        assert_eq!(got, vec![("a.py", "A\n"), ("b.py", "B\n")]);
    }

    #[test]
    fn a_block_cut_off_before_its_fence_is_not_a_file() {
        let reply = "a.py\n```\ndef f():\n    return";
        assert!(parse(reply, &paths(&["a.py"]), Scope::File).is_empty());
        // A two-file reply cut off in its second block still parses its first: the caller, told that the
        // reply did not end, writes neither.
        let two = "a.py\n```\nx = 1\n```\nb.py\n```\ny =";
        assert_eq!(parse(two, &paths(&["a.py", "b.py"]), Scope::File).len(), 1);
    }

    #[test]
    fn a_single_unnamed_block_is_the_single_allowed_file_only() {
        let reply = "Here it is:\n```python\nx = 1\n```\n";
        assert_eq!(parse(reply, &paths(&["a.py"]), Scope::File).len(), 1);
        assert!(parse(reply, &paths(&["a.py", "b.py"]), Scope::File).is_empty());
        let two = "```\nx\n```\n```\ny\n```\n";
        assert!(parse(two, &paths(&["a.py"]), Scope::File).is_empty());
        // A block under another path's name is not taken for the allowed file.
        let other = "../outside.py\n```\nprint('x')\n```\n";
        assert!(parse(other, &paths(&["a.py"]), Scope::File).is_empty());
    }

    #[test]
    fn a_path_written_twice_keeps_its_last_block() {
        let reply = "a.py\n```\nfirst\n```\na.py\n```\nsecond\n```\n";
        let files = parse(reply, &paths(&["a.py"]), Scope::File);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].content, "second\n");
    }

    #[test]
    fn rendered_files_parse_back() {
        let content = "fn main() {\n    println!(\"`hi`\");\n}";
        let reply = render("src/main.rs", "rust", content);
        let files = parse(&reply, &paths(&["src/main.rs"]), Scope::File);
        assert_eq!(files[0].content, format!("{content}\n"));
        assert!(representable(content));
        assert!(!representable("# Title\n```sh\nls\n```\n"));
    }

    #[test]
    fn the_grammar_lists_exactly_the_allowed_paths_escaped() {
        let g = grammar(&paths(&["a.py", "we\"ird\\name.js", "c.rs"]));
        // Each path once, in the order given: any path may come first, only later ones after it.
        assert!(g.starts_with("root ::= r0 | r1 | r2\n"), "{g}");
        assert!(g.contains("r0 ::= \"a.py\" \"\\n```\""), "{g}");
        assert!(
            g.contains("r1 ::= \"we\\\"ird\\\\name.js\" \"\\n```\""),
            "{g}"
        );
        assert!(g.contains("t1 ::= (\"\\n\" (r1 | r2))?"), "{g}");
        assert!(g.contains("t2 ::= (\"\\n\" (r2))?"), "{g}");
        assert!(
            g.contains("\"```\\n\" t1\n") && g.contains("\"```\\n\"\n"),
            "{g}"
        );
    }

    #[test]
    fn a_led_block_starts_with_one_of_its_leads_and_an_unled_one_as_before() {
        let leads = vec![(
            "a.py".to_string(),
            vec!["def total".to_string(), "class Cart:".to_string()],
        )];
        let g = definitions_grammar_led(&paths(&["a.py", "b.py", "c.txt"]), &leads);
        assert!(
            g.contains("lead0 ::= (\"def total\" | \"class Cart:\") [^\\n]* \"\\n\" | \"@\" [^\\n]* \"\\n\"\n"),
            "{g}"
        );
        assert!(
            g.contains("r0 ::= \"a.py\" \"\\n```\" tag \"\\n\" lead0 line*"),
            "{g}"
        );
        assert!(
            g.contains("r1 ::= \"b.py\" \"\\n```\" tag \"\\n\" first0 line*"),
            "{g}"
        );
        assert!(
            g.contains("r2 ::= \"c.txt\" \"\\n```\" tag \"\\n\" line*"),
            "{g}"
        );
        // No leads: the plain definitions grammar.
        assert_eq!(
            definitions_grammar_led(&paths(&["a.py"]), &[]),
            definitions_grammar(&paths(&["a.py"]))
        );
    }

    #[test]
    fn the_definitions_grammar_starts_a_parsed_file_s_block_with_a_definition() {
        let g = definitions_grammar(&paths(&["a.py", "b.py", "notes.txt", "c.rs"]));
        assert!(
            g.contains("r0 ::= \"a.py\" \"\\n```\" tag \"\\n\" first0 line* \"```\\n\" t1"),
            "{g}"
        );
        assert!(
            g.contains("r1 ::= \"b.py\" \"\\n```\" tag \"\\n\" first0 line*"),
            "{g}"
        );
        assert!(
            g.contains("r2 ::= \"notes.txt\" \"\\n```\" tag \"\\n\" line*"),
            "{g}"
        );
        assert!(
            g.contains("r3 ::= \"c.rs\" \"\\n```\" tag \"\\n\" first1 line*"),
            "{g}"
        );
        assert!(
            g.contains(
                "first0 ::= (\"def \" | \"async def \" | \"class \") [^\\n]* \"\\n\" [ \\t]+ [^ \\t\\n] [^\\n]* \"\\n\" | (\"@\") [^\\n]* \"\\n\"\n"
            ),
            "{g}"
        );
        assert!(g.contains("first1 ::= (\"fn \" | \"pub \""), "{g}");
        assert_eq!(grammar(&paths(&["a.py"])).matches("first").count(), 0);
    }
}
