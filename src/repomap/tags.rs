//! tree-sitter tags: the definitions (functions, types, classes, methods…) and references in a source file.

use std::path::Path;
use std::sync::OnceLock;

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

    fn sources(self) -> (tree_sitter::Language, String, &'static str) {
        let js = tree_sitter_javascript::TAGS_QUERY;
        let ts_query = format!("{}\n{}", tree_sitter_typescript::TAGS_QUERY, js);
        let (language, query, locals): (tree_sitter::Language, String, &str) = match self {
            Lang::Rust => (
                tree_sitter_rust::LANGUAGE.into(),
                tree_sitter_rust::TAGS_QUERY.into(),
                "",
            ),
            Lang::Python => (
                tree_sitter_python::LANGUAGE.into(),
                tree_sitter_python::TAGS_QUERY.into(),
                "",
            ),
            Lang::JavaScript => (
                tree_sitter_javascript::LANGUAGE.into(),
                js.into(),
                tree_sitter_javascript::LOCALS_QUERY,
            ),
            Lang::TypeScript => (
                tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
                ts_query,
                "",
            ),
            Lang::Tsx => (tree_sitter_typescript::LANGUAGE_TSX.into(), ts_query, ""),
            Lang::Go => (
                tree_sitter_go::LANGUAGE.into(),
                tree_sitter_go::TAGS_QUERY.into(),
                "",
            ),
        };
        (language, query, locals)
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

/// The tags of `source`, in order of position.
pub fn tags(lang: Lang, source: &str) -> Result<Vec<Tag>, String> {
    let config = configs()[lang.index()].as_ref().map_err(Clone::clone)?;
    let mut context = TagsContext::new();
    let bytes = source.as_bytes();
    let (iter, _) = context
        .generate_tags(config, bytes, None)
        .map_err(|e| e.to_string())?;
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for tag in iter {
        let tag = tag.map_err(|e| e.to_string())?;
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
    fn broken_source_still_tags_what_it_can() {
        let t = tags(Lang::Rust, "fn ok() {}\nfn broken( {\n").unwrap();
        assert!(t.iter().any(|t| t.name == "ok"));
    }
}
