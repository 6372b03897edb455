//! The planner's picture of the repository: a gitignore-aware file list with the contents of small files,
//! within a character budget. (A first version; the ranked tree-sitter map replaces it.)

use std::path::Path;

pub mod tags;

/// Files larger than this are listed but never inlined.
const MAX_INLINE_BYTES: u64 = 16 * 1024;

/// The overview text and the files whose content it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// The text for the planner.
    pub text: String,
    /// Workspace-relative paths whose content is in `text`.
    pub inlined: Vec<String>,
}

/// A text overview of `root`: every non-ignored file with its line count, then file contents, smallest
/// first, until `budget_chars` is used. Files for which `may_inline` is false (sensitive paths) are listed by
/// name only.
pub fn overview(root: &Path, budget_chars: usize, may_inline: &dyn Fn(&str) -> bool) -> Overview {
    let mut files: Vec<(String, u64, Option<String>)> = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".tandem" && e.file_name() != ".git")
        .build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let size = entry.metadata().map_or(0, |m| m.len());
        let text = (size <= MAX_INLINE_BYTES)
            .then(|| std::fs::read(entry.path()).ok())
            .flatten()
            .filter(|bytes| !bytes.contains(&0))
            .and_then(|bytes| String::from_utf8(bytes).ok());
        files.push((rel.to_string_lossy().replace('\\', "/"), size, text));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out = String::from("Files:\n");
    for (path, size, text) in &files {
        match text {
            Some(t) => {
                out.push_str(&format!("- {path} ({} lines)", t.lines().count()));
                let symbols = definitions(Path::new(path), t);
                if !symbols.is_empty() {
                    out.push_str(&format!(": {symbols}"));
                }
                out.push('\n');
            }
            None => out.push_str(&format!("- {path} ({size} bytes, not shown)\n")),
        }
    }
    let mut by_size: Vec<&(String, u64, Option<String>)> = files
        .iter()
        .filter(|f| f.2.is_some() && may_inline(&f.0))
        .collect();
    by_size.sort_by_key(|f| f.1);
    let mut inlined = Vec::new();
    for (path, _, text) in by_size {
        let Some(text) = text else { continue };
        let block = format!("\n=== {path} ===\n{}\n", text.trim_end());
        if out.len() + block.len() > budget_chars {
            continue;
        }
        out.push_str(&block);
        inlined.push(path.clone());
    }
    Overview { text: out, inlined }
}

/// Up to a dozen names a source file defines, as `name` or `name()`, comma-separated.
fn definitions(path: &Path, text: &str) -> String {
    let Some(lang) = tags::Lang::of(path) else {
        return String::new();
    };
    let Ok(found) = tags::tags(lang, text) else {
        return String::new();
    };
    let mut names: Vec<String> = Vec::new();
    for t in found.iter().filter(|t| t.is_definition) {
        let name = if matches!(t.kind.as_str(), "function" | "method") {
            format!("{}()", t.name)
        } else {
            t.name.clone()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let more = names.len().saturating_sub(12);
    names.truncate(12);
    let mut out = names.join(", ");
    if more > 0 {
        out.push_str(&format!(" (+{more} more)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_files_and_inlines_small_ones_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.py"), "print('a')\n").unwrap();
        std::fs::write(dir.path().join("big.txt"), "x".repeat(500)).unwrap();
        std::fs::write(dir.path().join("blob.bin"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "ignored.txt\n").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "secret").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----").unwrap();
        let o = overview(dir.path(), 200, &|p: &str| !p.ends_with(".pem"));
        let out = &o.text;
        assert!(out.contains("- src/a.py (1 lines)\n"), "{out}");
        assert!(out.contains("- blob.bin (3 bytes, not shown)"), "{out}");
        assert!(out.contains("=== src/a.py ===\nprint('a')"), "{out}");
        assert!(!out.contains("=== big.txt"), "over budget: {out}");
        assert!(!out.contains("ignored.txt"), "gitignored: {out}");
        assert!(
            out.contains("- key.pem") && !out.contains("BEGIN PRIVATE KEY"),
            "sensitive: {out}"
        );
        assert_eq!(o.inlined, vec!["src/a.py".to_string()]);
        std::fs::write(
            dir.path().join("src/lib.rs"),
            "pub struct Plan;\nimpl Plan { fn parse() {} }\nfn main() {}\n",
        )
        .unwrap();
        let out = overview(dir.path(), 200, &|_| true).text;
        assert!(
            out.contains("- src/lib.rs (3 lines): Plan, parse(), main()"),
            "{out}"
        );
    }
}
