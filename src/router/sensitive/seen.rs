//! Secrets followed by their bytes, not by the route they took: the values in the workspace's sensitive files
//! and in tandem's own key variables are fingerprinted for the session, and found again in any text in the
//! forms a request may carry them (as they are in any letter case, JSON-escaped, base64 at any alignment),
//! whether a tool, a
//! command's output, a mention, a transcript or an MCP result brought them there.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;

use super::{entropy, template as placeholder};

/// The shortest form worth looking for: shorter strings occur by chance.
const MIN_FORM: usize = 8;
/// Sensitive files larger than this are read only this far.
const MAX_FILE: u64 = 1 << 20;
/// Entries a walk of the workspace looks at, at most.
const MAX_ENTRIES: usize = 50_000;
/// How often the workspace is walked again for new or changed sensitive files.
const REWALK: Duration = Duration::from_secs(3);
/// Folders of build output and dependencies, never walked.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".mypy_cache",
];

/// Values seen this session, and a matcher for every form of them.
#[derive(Default)]
pub(super) struct Seen {
    values: BTreeSet<String>,
    matcher: Option<AhoCorasick>,
    root: Option<PathBuf>,
    files: HashMap<PathBuf, (Option<SystemTime>, u64)>,
    walked: Option<Instant>,
}

impl Seen {
    /// Remembers `value` (ignored when too short to find reliably); says whether it is new.
    pub(super) fn remember(&mut self, value: &str) -> bool {
        let value = value.trim();
        if value.len() < MIN_FORM || !self.values.insert(value.to_string()) {
            return false;
        }
        self.matcher = None;
        true
    }

    /// Watches the sensitive files under `root`.
    pub(super) fn watch(&mut self, root: &Path) {
        self.root = Some(root.to_path_buf());
        self.walked = None;
    }

    /// Reads new and changed sensitive files under the watched root, at most every few seconds.
    pub(super) fn refresh(&mut self, sensitive: &dyn Fn(&str) -> bool) {
        let Some(root) = self.root.clone() else {
            return;
        };
        if self.walked.is_some_and(|at| at.elapsed() < REWALK) {
            return;
        }
        self.walked = Some(Instant::now());
        let walk = ignore::WalkBuilder::new(&root)
            .standard_filters(false)
            .hidden(false)
            .follow_links(false)
            .max_depth(Some(16))
            .filter_entry(|e| {
                !(e.file_type().is_some_and(|t| t.is_dir())
                    && SKIPPED_DIRS.iter().any(|d| e.file_name() == *d))
            })
            .build();
        for entry in walk.flatten().take(MAX_ENTRIES) {
            let Ok(rel) = entry.path().strip_prefix(&root) else {
                continue;
            };
            let rel = rel.to_string_lossy();
            if rel.is_empty() || !sensitive(&rel) {
                continue;
            }
            // A link is read through: a `.env` that points at real credentials holds them.
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let stamp = (meta.modified().ok(), meta.len());
            if self.files.get(entry.path()) == Some(&stamp) {
                continue;
            }
            self.files.insert(entry.path().to_path_buf(), stamp);
            // Non-blocking, and checked again once open: a FIFO swapped in after the look above cannot hang
            // the request.
            let Ok(file) = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(entry.path())
            else {
                continue;
            };
            if !file.metadata().is_ok_and(|m| m.is_file()) {
                continue;
            }
            let mut bytes = Vec::new();
            if std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE), &mut bytes)
                .is_err()
            {
                continue;
            }
            for value in values_in(&String::from_utf8_lossy(&bytes)) {
                self.remember(&value);
            }
        }
    }

    /// Every occurrence of a remembered value, in any of its forms: byte ranges into `text`.
    pub(super) fn find(&mut self, text: &str) -> Vec<std::ops::Range<usize>> {
        if self.values.is_empty() {
            return Vec::new();
        }
        if self.matcher.is_none() {
            let forms: BTreeSet<String> = self.values.iter().flat_map(|v| forms(v)).collect();
            // Fails only past the automaton's size limits; then the raw values alone are looked for.
            // Case is ignored: changing it (`tr a-z A-Z`) is the cheapest disguise.
            let builder = || {
                let mut b = AhoCorasick::builder();
                b.match_kind(MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(true);
                b
            };
            self.matcher = builder()
                .build(&forms)
                .or_else(|_| builder().build(&self.values))
                .ok();
        }
        let Some(m) = &self.matcher else {
            return Vec::new();
        };
        let mut found: Vec<std::ops::Range<usize>> = m.find_iter(text).map(|m| m.range()).collect();
        // Encoders wrap their output (`base64` at 76 columns, `xxd -p` at 60): the text is also read with its
        // line breaks (and JSON's `\n` escapes) taken out, each match mapped back to the bytes it spans.
        if let Some((joined, at)) = without_line_breaks(text) {
            for hit in m.find_iter(&joined) {
                let start = at[hit.start()];
                let end = at[hit.end() - 1] + 1;
                if !found.iter().any(|r| r.start <= start && end <= r.end) {
                    found.push(start..end);
                }
            }
        }
        found
    }

    /// How many values are remembered.
    pub(super) fn len(&self) -> usize {
        self.values.len()
    }
}

/// `text` without its line breaks (`\n`, `\r`, and the two-character escapes `\\n`, `\\r`), and for each
/// byte left the offset it came from; `None` when there are none.
fn without_line_breaks(text: &str) -> Option<(String, Vec<usize>)> {
    if !text.contains(['\n', '\r']) && !text.contains("\\n") && !text.contains("\\r") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut joined = Vec::with_capacity(bytes.len());
    let mut at = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => i += 1,
            b'\\' if matches!(bytes.get(i + 1), Some(b'n' | b'r')) => i += 2,
            b => {
                joined.push(b);
                at.push(i);
                i += 1;
            }
        }
    }
    // Only ASCII line breaks were taken out, so what is left is still UTF-8.
    String::from_utf8(joined).ok().map(|j| (j, at))
}

/// The forms a value takes in a request: as it is, JSON-escaped (a transcript, a serialised tool result),
/// base64 (standard and URL-safe) at each of the three alignments it can start at, and hex.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        let escaped = &json[1..json.len() - 1];
        if escaped != value {
            out.push(escaped.to_string());
        }
    }
    let bytes = value.as_bytes();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3usize {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            // Characters that mix in the bytes before or after the value are not part of its fingerprint.
            let start = [0, 2, 3][offset];
            let end = (padded.len() / 3) * 4;
            if let Some(stable) = encoded.get(start..end)
                && stable.len() >= MIN_FORM
            {
                out.push(stable.to_string());
            }
        }
    }
    // Hex (`xxd -p`, `od`-style dumps without spaces): one form, as letters match in either case.
    out.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
    out.retain(|f| f.len() >= MIN_FORM);
    out
}

/// The secret-looking values of a sensitive file: values assigned to a secret-sounding name (`DB_PASSWORD=…`,
/// `"token": "…"`), and every long token of mixed characters (key bodies, tokens, hashes).
pub(super) fn values_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        if let Some((name, value)) = assignment(line)
            && secret_name(name)
        {
            let value = unquote(value);
            if value.len() >= 6
                && !placeholder(value)
                && !matches!(value, "true" | "false" | "null" | "none")
            {
                out.push(value.to_string());
            }
        }
        for token in line
            .split(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '"' | '\'' | '`' | ',' | ';' | '=' | '(' | ')' | '<' | '>'
                    )
            })
            .map(|t| t.trim_end_matches(':'))
        {
            if token.len() >= 12 && mixed(token) && entropy(token) >= 3.0 && !placeholder(token) {
                out.push(token.to_string());
            }
        }
    }
    out
}

/// `NAME=value`, `export NAME=value`, `name: value`, `"name": "value"`.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.strip_prefix("export ").unwrap_or(line);
    let at = line.find(['=', ':'])?;
    let name = line[..at].trim().trim_matches(['"', '\'']);
    let value = line[at + 1..].trim().trim_end_matches(',');
    (!name.is_empty() && !name.contains(' ')).then_some((name, value))
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\'', '`'] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASS",
        "PWD",
        "AUTH",
        "CREDENTIAL",
        "PRIVATE",
        "SALT",
        "DSN",
        "COOKIE",
        "SESSION",
        "SIGNATURE",
        "CERT",
        "DATABASE_URL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// At least two kinds of character among lower case, upper case, digits and symbols.
fn mixed(token: &str) -> bool {
    let lower = token.chars().any(|c| c.is_ascii_lowercase());
    let upper = token.chars().any(|c| c.is_ascii_uppercase());
    let digit = token.chars().any(|c| c.is_ascii_digit());
    let symbol = token.chars().any(|c| !c.is_ascii_alphanumeric());
    [lower, upper, digit, symbol].iter().filter(|b| **b).count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_in_every_form_a_request_carries_it() {
        let mut seen = Seen::default();
        let secret = "pa\"ss-w0rd/Zq9xLm";
        assert!(seen.remember(secret));
        let json =
            serde_json::to_string(&serde_json::json!({ "output": format!("DB={secret}\n") }))
                .unwrap();
        assert!(!seen.find(&json).is_empty(), "{json}");
        assert!(!seen.find(&format!("x {secret} y")).is_empty());
        for prefix in ["", "a", "ab", "abc"] {
            let b64 =
                base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{secret}!"));
            assert!(!seen.find(&b64).is_empty(), "{prefix}: {b64}");
        }
        assert!(seen.find("nothing to see here").is_empty());
        // Wrapped as `base64` and `xxd -p` wrap their output, raw or inside a JSON string.
        let file = format!("DB_PASSWORD={secret}\nOTHER=1\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
        let wrapped: String = b64
            .as_bytes()
            .chunks(10)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert!(!seen.find(&wrapped).is_empty(), "{wrapped}");
        let escaped = serde_json::to_string(&wrapped).unwrap();
        assert!(!seen.find(&escaped).is_empty(), "{escaped}");
        let hex: String = file.bytes().map(|b| format!("{b:02x}")).collect();
        let hex_wrapped: String = hex
            .as_bytes()
            .chunks(60)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert!(!seen.find(&hex_wrapped).is_empty(), "{hex_wrapped}");
    }

    #[test]
    fn secret_values_are_taken_from_a_file_and_ordinary_settings_are_not() {
        let env = "# comment\nNODE_ENV=development\nPORT=8080\nDB_PASSWORD=correcthorse\nAPI_KEY=your-api-key-here\n\
                   export API_TOKEN=\"tok_9f8e7d6c\"\nDEBUG=true\nrandom: Zx8Kq2LmP0wR7tYv\n";
        let values = values_in(env);
        assert!(values.contains(&"correcthorse".to_string()), "{values:?}");
        assert!(values.contains(&"tok_9f8e7d6c".to_string()), "{values:?}");
        assert!(
            values.contains(&"Zx8Kq2LmP0wR7tYv".to_string()),
            "{values:?}"
        );
        for plain in ["development", "8080", "true", "your-api-key-here"] {
            assert!(!values.iter().any(|v| v == plain), "{plain}: {values:?}");
        }
    }
}
