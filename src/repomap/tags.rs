//! tree-sitter tags: the definitions (functions, types, classes, methods…) and references in a source file.

use std::borrow::Cow;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tree_sitter_tags::{TagsConfiguration, TagsContext};

/// A language tandem parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Rust.
    Rust,
    /// Python.
    Python,
    /// JavaScript (and JSX).
    JavaScript,
    /// TypeScript.
    TypeScript,
    /// TSX.
    Tsx,
    /// Go.
    Go,
}

impl Lang {
    /// The language of a file, by extension.
    pub fn of(path: &Path) -> Option<Lang> {
        match path.extension()?.to_str()? {
            "rs" => Some(Lang::Rust),
            "py" | "pyi" => Some(Lang::Python),
            "js" | "jsx" | "mjs" | "cjs" => Some(Lang::JavaScript),
            "ts" | "mts" | "cts" => Some(Lang::TypeScript),
            "tsx" => Some(Lang::Tsx),
            "go" => Some(Lang::Go),
            _ => None,
        }
    }

    /// Every language, in a fixed order.
    pub const ALL: [Lang; 6] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
    ];

    fn index(self) -> usize {
        Lang::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }

    /// The tree-sitter grammar that parses it.
    pub fn language(self) -> tree_sitter::Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }

    fn sources(self) -> (tree_sitter::Language, String, &'static str) {
        let js = tree_sitter_javascript::TAGS_QUERY;
        let ts_query = || format!("{}\n{}", tree_sitter_typescript::TAGS_QUERY, js);
        let (query, locals): (String, &str) = match self {
            Lang::Rust => (tree_sitter_rust::TAGS_QUERY.into(), ""),
            Lang::Python => (tree_sitter_python::TAGS_QUERY.into(), ""),
            Lang::JavaScript => (js.into(), tree_sitter_javascript::LOCALS_QUERY),
            Lang::TypeScript | Lang::Tsx => (ts_query(), ""),
            Lang::Go => (tree_sitter_go::TAGS_QUERY.into(), ""),
        };
        (self.language(), query, locals)
    }

    fn config(self) -> Result<TagsConfiguration, String> {
        let (language, query, locals) = self.sources();
        TagsConfiguration::new(language, &query, locals)
            .map_err(|e| format!("{self:?} tags query: {e}"))
    }

    /// Identifies the grammar and tag queries a file's tags came from; a cache entry made with another is
    /// stale. Cheap: no query is compiled.
    pub fn grammar_id(self) -> String {
        let ids = GRAMMAR_IDS.get_or_init(|| {
            Lang::ALL
                .iter()
                .map(|l| {
                    let (language, query, locals) = l.sources();
                    format!(
                        "{l:?}:abi{}:{:016x}",
                        language.abi_version(),
                        fnv1a(format!("{query}\n{locals}").as_bytes())
                    )
                })
                .collect()
        });
        ids[self.index()].clone()
    }
}

static GRAMMAR_IDS: OnceLock<Vec<String>> = OnceLock::new();

/// FNV-1a: a hash that is the same in every build (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One definition or reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The symbol's name.
    pub name: String,
    /// `function`, `method`, `class`, `interface`, `module`, `call`, …
    pub kind: String,
    /// A definition (else a reference).
    pub is_definition: bool,
    /// 1-based first line.
    pub line: usize,
    /// 1-based last line.
    pub end_line: usize,
    /// The definition's first line, trimmed (its signature, near enough).
    pub signature: String,
}

fn configs() -> &'static [Result<TagsConfiguration, String>] {
    static CONFIGS: OnceLock<Vec<Result<TagsConfiguration, String>>> = OnceLock::new();
    CONFIGS.get_or_init(|| Lang::ALL.iter().map(|l| l.config()).collect())
}

/// How long one file may take to parse and tag before it is given up (listed without symbols): no single
/// pathological file may hold up the map in front of the first model request.
pub const PARSE_BUDGET: Duration = Duration::from_secs(2);

/// Why a file yielded no tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    /// The language's tag query did not compile.
    #[error("{0}")]
    Query(String),
    /// Parsing or tagging took longer than its budget.
    #[error("gave up after {0:?}")]
    OverBudget(Duration),
    /// tree-sitter refused the input.
    #[error("{0}")]
    Parse(String),
}

/// The tags of `source`, in order of position, within [`PARSE_BUDGET`].
pub fn tags(lang: Lang, source: &str) -> Result<Vec<Tag>, TagsError> {
    tags_within(lang, source, PARSE_BUDGET)
}

/// The tags of `source`, in order of position, giving up after `budget`.
pub fn tags_within(lang: Lang, source: &str, budget: Duration) -> Result<Vec<Tag>, TagsError> {
    let config = configs()[lang.index()]
        .as_ref()
        .map_err(|e| TagsError::Query(e.clone()))?;
    let view = parse_view(lang, source);
    let bytes = view.as_bytes();
    let cancel = super::watchdog::arm(budget);
    let mut context = TagsContext::new();
    let over = |e: String| {
        if cancel.fired() {
            TagsError::OverBudget(budget)
        } else {
            TagsError::Parse(e)
        }
    };
    let (iter, _) = context
        .generate_tags(config, bytes, Some(cancel.flag()))
        .map_err(|e| over(e.to_string()))?;
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for tag in iter {
        let tag = tag.map_err(|e| over(e.to_string()))?;
        let name = String::from_utf8_lossy(&bytes[tag.name_range.clone()]).into_owned();
        let line = tag.span.start.row + 1;
        let signature: String = lines
            .get(tag.span.start.row)
            .map_or("", |l| l.trim())
            .chars()
            .take(160)
            .collect();
        out.push(Tag {
            name,
            kind: config.syntax_type_name(tag.syntax_type_id).to_string(),
            is_definition: tag.is_definition,
            line,
            end_line: tag.span.end.row + 1,
            signature,
        });
    }
    out.sort_by_key(|t| (t.line, !t.is_definition));
    Ok(out)
}

/// The text handed to the parser: byte for byte as long as `source`, with every position the same, minus what
/// makes a grammar slow without carrying a symbol.
///
/// tree-sitter-python's external scanner looks ahead over every following comment line whenever a comment opens
/// a line inside an indented block, to find the next line's indentation: a block of n comment lines costs n²
/// (4,000 lines took 3 s, 9,000 over a minute). Full-line comments carry no definitions or references, so they
/// are overwritten with spaces; blank lines cost the scanner nothing.
fn parse_view(lang: Lang, source: &str) -> Cow<'_, str> {
    if lang != Lang::Python || !source.contains('#') {
        return Cow::Borrowed(source);
    }
    let mut bytes = source.as_bytes().to_vec();
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let line = &mut bytes[start..end];
        if let Some(hash) = line
            .iter()
            .position(|&b| b != b' ' && b != b'\t' && b != b'\x0c')
            && line[hash] == b'#'
        {
            // Keep a trailing \r so line ends stay what the file had.
            let stop = if line.last() == Some(&b'\r') {
                line.len() - 1
            } else {
                line.len()
            };
            line[hash..stop].fill(b' ');
        }
        start = end + 1;
    }
    // Every byte replaced was part of a comment that ran to the end of its line, so only whole characters were
    // overwritten, with ASCII: the buffer is still UTF-8. Fall back to the original if that ever fails.
    match String::from_utf8(bytes) {
        Ok(text) => Cow::Owned(text),
        Err(_) => Cow::Borrowed(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(lang: Lang, src: &str) -> Vec<(String, String, usize)> {
        tags(lang, src)
            .unwrap()
            .into_iter()
            .filter(|t| t.is_definition)
            .map(|t| (t.name, t.kind, t.line))
            .collect()
    }

    #[test]
    fn every_language_finds_its_definitions() {
        assert_eq!(
            defs(
                Lang::Rust,
                "struct Plan { x: u8 }\nimpl Plan {\n    fn parse() {}\n}\nfn main() { Plan::parse(); }\n"
            ),
            vec![
                ("Plan".into(), "class".into(), 1),
                ("parse".into(), "method".into(), 3),
                ("main".into(), "function".into(), 5)
            ]
        );
        let py = defs(
            Lang::Python,
            "class Todo:\n    def add(self):\n        pass\n\ndef main():\n    Todo().add()\n",
        );
        assert_eq!(
            py,
            vec![
                ("Todo".into(), "class".into(), 1),
                ("add".into(), "function".into(), 2),
                ("main".into(), "function".into(), 5)
            ]
        );
        let js = defs(
            Lang::JavaScript,
            "class Cart {\n  total() { return 1 }\n}\nfunction checkout() {}\n",
        );
        assert!(
            js.contains(&("Cart".into(), "class".into(), 1))
                && js.contains(&("checkout".into(), "function".into(), 4)),
            "{js:?}"
        );
        let ts = defs(
            Lang::TypeScript,
            "interface Item { id: number }\nexport function load(): Item[] { return [] }\n",
        );
        assert!(
            ts.iter().any(|d| d.0 == "Item") && ts.iter().any(|d| d.0 == "load"),
            "{ts:?}"
        );
        let tsx = defs(Lang::Tsx, "export function App() { return <div/> }\n");
        assert!(tsx.iter().any(|d| d.0 == "App"), "{tsx:?}");
        let go = defs(
            Lang::Go,
            "package main\ntype Server struct{}\nfunc (s *Server) Run() {}\nfunc main() {}\n",
        );
        assert!(
            go.iter().any(|d| d.0 == "Server")
                && go.iter().any(|d| d.0 == "Run")
                && go.iter().any(|d| d.0 == "main"),
            "{go:?}"
        );
    }

    #[test]
    fn references_and_signatures() {
        let t = tags(
            Lang::Python,
            "def helper(x: int) -> int:\n    return x\n\nhelper(1)\n",
        )
        .unwrap();
        let def = t.iter().find(|t| t.is_definition).unwrap();
        assert_eq!(def.signature, "def helper(x: int) -> int:");
        assert!(
            t.iter()
                .any(|t| !t.is_definition && t.name == "helper" && t.line == 4),
            "{t:?}"
        );
    }

    #[test]
    fn python_comment_blocks_keep_positions_and_tags() {
        let src = "def f():\n    # one\n\t# two \u{e9}\r\n    x = 1  # trailing\n    return g(x)\n";
        let view = parse_view(Lang::Python, src);
        assert_eq!(view.len(), src.len());
        assert_eq!(view.lines().count(), src.lines().count());
        assert!(!view.contains("one") && !view.contains("two"), "{view:?}");
        assert!(view.contains("x = 1  # trailing"), "{view:?}");
        assert!(view.contains("\r\n"));
        let t = tags(Lang::Python, src).unwrap();
        assert!(
            t.iter()
                .any(|t| t.name == "f" && t.is_definition && t.line == 1)
        );
        assert!(
            t.iter()
                .any(|t| t.name == "g" && !t.is_definition && t.line == 5)
        );
    }

    #[test]
    fn a_long_comment_block_in_a_function_parses_in_linear_time() {
        // 20,000 comment lines in a block: quadratic scanning took minutes; now it is one pass.
        let mut src = String::from("class A:\n    def f(self):\n");
        for i in 0..20_000 {
            src.push_str(&format!("        # note {i}\n"));
        }
        src.push_str("        return helper()\n");
        let t = tags_within(Lang::Python, &src, Duration::from_secs(30)).unwrap();
        assert!(t.iter().any(|t| t.name == "f" && t.is_definition));
        assert!(t.iter().any(|t| t.name == "helper" && t.line == 20_003));
    }

    #[test]
    fn a_parse_over_its_budget_gives_up() {
        let mut src = String::from("def f():\n");
        for i in 0..200_000 {
            src.push_str(&format!("    x{i} = y{i}(z)\n"));
        }
        assert_eq!(
            tags_within(Lang::Python, &src, Duration::from_millis(1)),
            Err(TagsError::OverBudget(Duration::from_millis(1)))
        );
    }

    #[test]
    fn broken_source_still_tags_what_it_can() {
        let t = tags(Lang::Rust, "fn ok() {}\nfn broken( {\n").unwrap();
        assert!(t.iter().any(|t| t.name == "ok"));
    }
}
