//! The read-only tools: read_file, list_dir, grep, outline.

use std::path::Path;

use crate::repomap::tags::Lang;
use crate::sandbox::Workspace;

/// Files larger than this are not read by tools.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most lines one read returns.
pub const MAX_READ_LINES: usize = 400;
/// Most grep matches returned.
pub const MAX_MATCHES: usize = 100;

/// Reads a text file for a tool through the workspace's path policy: the size cap, and binary files refused
/// (a NUL in the first 8 KiB) so they are never fed to a model.
pub fn read_text(ws: &Workspace, raw: &str) -> Result<(std::path::PathBuf, String), String> {
    let (abs, bytes) = ws.read(raw, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    Ok((abs, text_of(bytes, raw)?))
}

/// Text from bytes, or why they are not text.
pub fn text_of(bytes: Vec<u8>, shown: &str) -> Result<String, String> {
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(format!("{shown} is a binary file"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))
}

/// `read_file`.
pub fn read_file(
    ws: &Workspace,
    path: &str,
    start: Option<usize>,
    end: Option<usize>,
) -> Result<String, String> {
    let (_, text) = read_text(ws, path)?;
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let from = start.unwrap_or(1).max(1);
    if total == 0 {
        return Ok(format!("{path} is empty"));
    }
    if from > total {
        return Err(format!(
            "{path} has {total} lines; start_line {from} is past the end"
        ));
    }
    let to = end
        .unwrap_or(total)
        .min(total)
        .min(from + MAX_READ_LINES - 1)
        .max(from);
    let mut out = format!("{path} (lines {from}-{to} of {total})\n");
    for (i, line) in lines[from - 1..to].iter().enumerate() {
        out.push_str(&format!("{:>5}| {line}\n", from + i));
    }
    if to < total {
        out.push_str(&format!(
            "… {} more lines; read on with start_line {}\n",
            total - to,
            to + 1
        ));
    }
    Ok(out)
}

/// `list_dir`.
pub fn list_dir(ws: &Workspace, path: &str) -> Result<String, String> {
    let abs = ws.resolve_read(path).map_err(|e| e.to_string())?;
    // A small model often lists a file it means to read: answer what it needs instead of an error.
    if std::fs::metadata(&abs).is_ok_and(|m| m.is_file()) {
        let text = read_file(ws, path, None, None)?;
        return Ok(format!(
            "{path} is a file, not a directory; its content:\n{text}"
        ));
    }
    let entries = std::fs::read_dir(&abs).map_err(|e| format!("{path}: {e}"))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_name() != ".git")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Ok(format!("{path} is empty"));
    }
    let shown = names.len().min(500);
    let mut out = names[..shown].join("\n");
    if names.len() > shown {
        out.push_str(&format!("\n… {} more", names.len() - shown));
    }
    Ok(out)
}

/// `grep`: a regex over the non-ignored text files under `path`, with ripgrep's searcher: files in path order,
/// searched a batch at a time on every core, binary files (a NUL byte) and files that are not UTF-8 skipped,
/// output capped at [`MAX_MATCHES`] lines. The same question always gets the same answer, so a repeated prompt
/// stays a KV-cache prefix.
pub fn grep(ws: &Workspace, pattern: &str, path: Option<&str>) -> Result<String, String> {
    let matcher = grep_regex::RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .build(pattern)
        .map_err(|e| format!("bad regular expression: {e}"))?;
    let base = ws
        .resolve_read(path.unwrap_or("."))
        .map_err(|e| e.to_string())?;
    let mut files = ignore::WalkBuilder::new(&base)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != ".tandem")
        .sort_by_file_path(|a, b| a.cmp(b))
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(ignore::DirEntry::into_path);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out: Vec<String> = Vec::new();
    // Batches in path order, walked as they are searched: the cap is reached at the same place however the
    // threads interleave, and a pattern that fills it early does not wait for the whole tree to be walked.
    'batches: loop {
        let batch: Vec<std::path::PathBuf> = files.by_ref().take(16 * threads).collect();
        if batch.is_empty() {
            break;
        }
        let per_file: Vec<Vec<String>> = std::thread::scope(|scope| {
            let parts: Vec<_> = batch
                .chunks(batch.len().div_ceil(threads).max(1))
                .map(|part| {
                    let matcher = &matcher;
                    scope.spawn(move || {
                        part.iter()
                            .map(|file| search_file(ws, matcher, file))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                // A search thread that panicked loses only its files' matches.
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for line in per_file.into_iter().flatten() {
            out.push(line);
            if out.len() >= MAX_MATCHES {
                out.push(format!(
                    "… stopped at {MAX_MATCHES} matches; narrow the pattern or the path"
                ));
                break 'batches;
            }
        }
    }
    if out.is_empty() {
        return Ok(format!("no matches for /{pattern}/"));
    }
    Ok(out.join("\n"))
}

/// The matching lines of one file as `path:line: text`, at most [`MAX_MATCHES`]; none for a file the path
/// policy refuses, a binary file, a file over the size cap or one that is not UTF-8.
fn search_file(ws: &Workspace, matcher: &grep_regex::RegexMatcher, file: &Path) -> Vec<String> {
    use grep_searcher::{BinaryDetection, SearcherBuilder, Sink, SinkMatch};
    struct Lines {
        shown: String,
        out: Vec<String>,
        skip: bool,
    }
    impl Sink for Lines {
        type Error = std::io::Error;
        fn matched(
            &mut self,
            _: &grep_searcher::Searcher,
            m: &SinkMatch<'_>,
        ) -> Result<bool, Self::Error> {
            let Ok(text) = std::str::from_utf8(m.bytes()) else {
                self.skip = true;
                return Ok(false);
            };
            let line: String = text.trim_end().chars().take(200).collect();
            self.out.push(format!(
                "{}:{}: {line}",
                self.shown,
                m.line_number().unwrap_or(0)
            ));
            Ok(self.out.len() < MAX_MATCHES)
        }
        fn binary_data(
            &mut self,
            _: &grep_searcher::Searcher,
            _: u64,
        ) -> Result<bool, Self::Error> {
            self.skip = true;
            Ok(false)
        }
    }
    let shown = ws.relative(file);
    // Read through the tools' path policy, as read_file reads: links out, hard links to files elsewhere,
    // special files and files over the cap are refused, and the bytes searched are the bytes it checked.
    let Ok((_, bytes)) = ws.read(&shown, MAX_FILE_BYTES) else {
        return Vec::new();
    };
    let mut sink = Lines {
        shown,
        out: Vec::new(),
        skip: false,
    };
    let searched = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .line_number(true)
        .build()
        .search_slice(matcher, &bytes, &mut sink);
    if searched.is_err() || sink.skip {
        return Vec::new();
    }
    sink.out
}

/// `outline`: a file's definitions with their first lines (through the repo map's tag cache).
pub fn outline(ws: &Workspace, path: &str) -> Result<String, String> {
    let abs = ws.resolve_read(path).map_err(|e| e.to_string())?;
    if Lang::of(&abs).is_none() {
        return Err(format!(
            "{path}: outline knows Rust, Python, JavaScript, TypeScript and Go files"
        ));
    }
    // The path policy's checks (size, links, special files, binary) before the file is parsed.
    read_text(ws, path)?;
    let rel = ws.relative(&abs);
    let tags = crate::repomap::file_tags(ws.root(), &rel);
    let defs: Vec<String> = tags
        .defs
        .iter()
        .map(|d| format!("{:>5}: {} [{}]", d.line, d.signature, d.kind))
        .collect();
    if defs.is_empty() {
        return Ok(format!("{path}: no definitions found"));
    }
    Ok(format!("{path}\n{}", defs.join("\n")))
}
