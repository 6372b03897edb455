//! Finding what must not leave the machine: secrets, personal data, user patterns and sensitive paths; and
//! replacing it with stable placeholders when the policy is to redact.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;

use crate::model::ChatRequest;

pub use crate::protocol::Kind;

/// The prefix of a request source that is sensitive whatever its name: content tandem found a secret in
/// (an MCP tool's result), so the request stays local even after the text itself is dropped or redacted.
pub const FLAGGED_SOURCE: &str = "sensitive:";

/// One finding: its kind and where the sensitive bytes are in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// Byte range of the sensitive value.
    pub range: std::ops::Range<usize>,
}

struct Rule {
    kind: Kind,
    regex: Regex,
    /// Capture group holding the value (0 = the whole match).
    group: usize,
    /// Extra check on the value.
    check: fn(&str) -> bool,
}

/// The scanner's settings.
#[derive(Debug, Clone)]
pub struct ScannerConfig {
    /// Look for personal data too (emails, phones, cards, IBANs, SSNs).
    pub detect_pii: bool,
    /// Extra regexes; a match is sensitive.
    pub patterns: Vec<String>,
    /// Globs of workspace paths whose content is sensitive.
    pub paths: Vec<String>,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            detect_pii: true,
            patterns: Vec::new(),
            paths: [
                ".env*",
                "**/.env*",
                "*.pem",
                "**/*.pem",
                "*.key",
                "**/*.key",
                "id_rsa*",
                "**/id_rsa*",
                "id_ed25519*",
                "**/id_ed25519*",
                "id_ecdsa*",
                "**/id_ecdsa*",
                ".netrc",
                "**/.netrc",
                "secrets/**",
                "**/secrets/**",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Finds sensitive data in text and requests.
pub struct Scanner {
    rules: Vec<Rule>,
    paths: GlobSet,
    /// Values seen in sensitive files and key variables this session.
    seen: std::sync::Mutex<seen::Seen>,
    /// What each text already scanned held, so a conversation's messages are scanned once, not per request.
    cache: std::sync::Mutex<ScanCache>,
}

/// Kinds found per text (by a keyed hash of it), valid while the set of remembered values is the same.
#[derive(Default)]
struct ScanCache {
    hasher: std::collections::hash_map::RandomState,
    remembered: usize,
    kinds: HashMap<u64, Vec<Kind>>,
}

/// Texts whose findings are kept, at most; past it the cache starts over.
const MAX_CACHED: usize = 20_000;

/// A pattern or glob from config that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}`: {message}")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
    /// Why it is invalid.
    pub message: String,
}

fn any(_: &str) -> bool {
    true
}

impl Scanner {
    /// Builds a scanner; a bad user pattern or glob is an error naming it.
    pub fn new(config: &ScannerConfig) -> Result<Self, PatternError> {
        // Invariant: the built-in patterns below are constants covered by the unit tests.
        let re = |p: &str| Regex::new(p).expect("built-in pattern compiles");
        let mut rules = vec![
            Rule {
                kind: Kind::PrivateKey,
                regex: re(
                    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
                ),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::CloudKey,
                regex: re(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::CloudKey,
                regex: re(
                    r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
                ),
                group: 1,
                check: any,
            },
            Rule {
                kind: Kind::CloudKey,
                regex: re(r"\bAIza[0-9A-Za-z_-]{35}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::CloudKey,
                regex: re(r"AccountKey=([A-Za-z0-9+/=]{60,100})"),
                group: 1,
                check: any,
            },
            Rule {
                kind: Kind::ServiceToken,
                regex: re(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ServiceToken,
                regex: re(r"\bgithub_pat_[A-Za-z0-9_]{60,255}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ServiceToken,
                regex: re(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ServiceToken,
                regex: re(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ServiceToken,
                regex: re(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ModelApiKey,
                regex: re(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::ModelApiKey,
                regex: re(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
                group: 0,
                check: |v| !v.starts_with("sk-ant-"),
            },
            Rule {
                kind: Kind::PaymentKey,
                regex: re(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{20,}\b"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::Jwt,
                regex: re(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
                group: 0,
                check: any,
            },
            Rule {
                kind: Kind::PrivateKey,
                regex: re(&shapes::key_body_pattern()),
                group: 0,
                check: shapes::key_body,
            },
            Rule {
                kind: Kind::SecretAssignment,
                regex: re(shapes::URL_PASSWORD),
                group: 1,
                check: shapes::url_password,
            },
            Rule {
                kind: Kind::SecretAssignment,
                regex: re(shapes::BARE_ASSIGNMENT),
                group: 1,
                check: shapes::bare_secret,
            },
            Rule {
                kind: Kind::SecretAssignment,
                regex: re(
                    r#"(?i)[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]*["']?\s*(?::=|=>|[:=])\s*["']([^"'\s]{8,})["']"#,
                ),
                group: 1,
                check: looks_secret,
            },
        ];
        if config.detect_pii {
            rules.extend([
                Rule {
                    kind: Kind::Email,
                    regex: re(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
                    group: 0,
                    check: personal_email,
                },
                Rule {
                    kind: Kind::Phone,
                    regex: re(r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\b\d{3})[\s.-]\d{3}[\s.-]\d{4}\b|\+\d{1,3}(?:[\s.-]\d{2,5}){2,4}\b"),
                    group: 0,
                    check: |v| v.chars().filter(char::is_ascii_digit).count() >= 10,
                },
                Rule { kind: Kind::CardNumber, regex: re(r"\b(?:\d[ -]?){12,18}\d\b"), group: 0, check: card_number },
                Rule {
                    kind: Kind::Iban,
                    regex: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
                    group: 0,
                    check: iban,
                },
                Rule { kind: Kind::UsSsn, regex: re(r"\b\d{3}-\d{2}-\d{4}\b"), group: 0, check: us_ssn },
            ]);
        }
        for pattern in &config.patterns {
            let regex = Regex::new(pattern).map_err(|e| PatternError {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            rules.push(Rule {
                kind: Kind::UserPattern,
                regex,
                group: 0,
                check: any,
            });
        }
        let mut globs = GlobSetBuilder::new();
        for path in &config.paths {
            let glob = Glob::new(path).map_err(|e| PatternError {
                pattern: path.clone(),
                message: e.to_string(),
            })?;
            globs.add(glob);
        }
        let paths = globs.build().map_err(|e| PatternError {
            pattern: config.paths.join(", "),
            message: e.to_string(),
        })?;
        Ok(Scanner {
            rules,
            paths,
            seen: std::sync::Mutex::default(),
            cache: std::sync::Mutex::default(),
        })
    }

    /// The sensitive spans of `text`, in order, without overlaps. Text that holds JSON string escapes (a
    /// serialised tool result, a transcript line) is also read with them decoded, so a detector anchored to
    /// lines sees the lines that `\n` joined.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut found = self.scan_rules(text);
        if let Some((view, at)) = json_view(text) {
            for f in self.scan_rules(&view) {
                let start = at.get(f.range.start).copied().unwrap_or(text.len());
                let end = at.get(f.range.end).copied().unwrap_or(text.len());
                found.push(Finding {
                    kind: f.kind,
                    range: start..end.max(start),
                });
            }
        }
        for range in self.seen().find(text) {
            found.push(Finding {
                kind: Kind::KnownSecret,
                range,
            });
        }
        found.sort_by_key(|f| (f.range.start, std::cmp::Reverse(f.range.end)));
        let mut out: Vec<Finding> = Vec::new();
        for f in found {
            if out
                .last()
                .is_none_or(|last| f.range.start >= last.range.end)
            {
                out.push(f);
            }
        }
        out
    }

    fn scan_rules(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        for rule in &self.rules {
            for caps in rule.regex.captures_iter(text) {
                let Some(m) = caps.get(rule.group) else {
                    continue;
                };
                if (rule.check)(m.as_str()) {
                    found.push(Finding {
                        kind: rule.kind.clone(),
                        range: m.range(),
                    });
                }
            }
        }
        // Gitleaks' maintained rules after tandem's own, whose kinds are more specific: where both find the
        // same span, the first finding is kept.
        found.extend(rules::rules().find(text).into_iter().map(|range| Finding {
            kind: Kind::ServiceToken,
            range,
        }));
        found
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, seen::Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kinds of sensitive data in `text`; a text scanned before (with the same remembered values) is not
    /// scanned again.
    pub fn kinds_in(&self, text: &str) -> Vec<Kind> {
        use std::hash::BuildHasher;
        let remembered = self.remembered();
        let key = {
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.remembered != remembered || cache.kinds.len() >= MAX_CACHED {
                cache.kinds.clear();
                cache.remembered = remembered;
            }
            let key = cache.hasher.hash_one(text);
            if let Some(kinds) = cache.kinds.get(&key) {
                return kinds.clone();
            }
            key
        };
        let mut kinds: Vec<Kind> = Vec::new();
        for f in self.scan(text) {
            if !kinds.contains(&f.kind) {
                kinds.push(f.kind);
            }
        }
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kinds
            .insert(key, kinds.clone());
        kinds
    }

    /// Where the maintained rule set comes from, and how many of its rules are in force.
    pub fn rule_source() -> (String, usize) {
        let set = rules::rules();
        (set.source.clone(), set.len())
    }

    /// Remembers a secret value for the session: any text holding it, in any form, is sensitive from now on.
    pub fn remember(&self, value: &str) {
        self.seen().remember(value);
    }

    /// Remembers the values of these environment variables (tandem's own provider keys).
    pub fn remember_env(&self, names: impl IntoIterator<Item = impl AsRef<str>>) {
        for name in names {
            if let Ok(value) = std::env::var(name.as_ref()) {
                self.remember(&value);
            }
        }
    }

    /// Follows the sensitive files under `root`: their secret values are remembered (see [`Self::refresh`]).
    pub fn watch(&self, root: &std::path::Path) {
        self.seen().watch(root);
    }

    /// Reads the watched root's new and changed sensitive files (at most every few seconds).
    pub fn refresh(&self) {
        let mut seen = self.seen();
        seen.refresh(&|p| self.is_sensitive_path(p));
    }

    /// How many secret values the session has remembered.
    pub fn remembered(&self) -> usize {
        self.seen().len()
    }

    /// Whether a workspace path is marked sensitive.
    pub fn is_sensitive_path(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        self.paths.is_match(path)
    }

    /// Everything sensitive in a request: the kinds found in its messages and tool calls, and sensitive sources.
    pub fn scan_request(&self, request: &ChatRequest) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = Vec::new();
        let mut add = |k: Kind| {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        };
        for m in &request.messages {
            self.kinds_in(&m.content).into_iter().for_each(&mut add);
            for call in &m.tool_calls {
                self.kinds_in(&call.arguments)
                    .into_iter()
                    .for_each(&mut add);
            }
        }
        if request
            .sources
            .iter()
            .any(|p| p.starts_with(FLAGGED_SOURCE) || self.is_sensitive_path(p))
        {
            add(Kind::SensitivePath);
        }
        kinds
    }
}

/// Replaces sensitive values with stable placeholders (the same value always gets the same one) and maps
/// them back in replies.
#[derive(Debug, Default)]
pub struct Redactor {
    by_value: HashMap<String, String>,
    by_placeholder: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

impl Redactor {
    /// `text` with every finding replaced by its placeholder.
    pub fn redact(&mut self, scanner: &Scanner, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in scanner.scan(text) {
            out.push_str(&text[at..f.range.start]);
            let value = &text[f.range.clone()];
            let placeholder = match self.by_value.get(value) {
                Some(p) => p.clone(),
                None => {
                    let label = f.kind.label();
                    let n = self.counts.entry(label).or_default();
                    *n += 1;
                    let p = format!("[{label}_{n}]");
                    self.by_value.insert(value.to_string(), p.clone());
                    self.by_placeholder.insert(p.clone(), value.to_string());
                    p
                }
            };
            out.push_str(&placeholder);
            at = f.range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// A request with every message and tool call redacted.
    pub fn redact_request(&mut self, scanner: &Scanner, request: &ChatRequest) -> ChatRequest {
        let mut out = request.clone();
        for m in &mut out.messages {
            m.content = self.redact(scanner, &m.content);
            for call in &mut m.tool_calls {
                call.arguments = self.redact(scanner, &call.arguments);
            }
        }
        out
    }

    /// `text` with placeholders mapped back to the original values.
    pub fn restore(&self, text: &str) -> String {
        if self.by_placeholder.is_empty() || !text.contains('[') {
            return text.to_string();
        }
        let mut out = text.to_string();
        for (placeholder, value) in &self.by_placeholder {
            out = out.replace(placeholder, value);
        }
        out
    }

    /// How many distinct values were replaced.
    pub fn len(&self) -> usize {
        self.by_value.len()
    }

    /// Whether nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }
}

/// `text` with its JSON string escapes decoded, and for each byte of that view (and one past its end) the
/// offset in `text` it came from; `None` when `text` holds no escape that changes lines or quotes.
fn json_view(text: &str) -> Option<(String, Vec<usize>)> {
    if !["\\n", "\\\"", "\\r", "\\t", "\\\\"]
        .iter()
        .any(|e| text.contains(e))
    {
        return None;
    }
    let mut view = String::with_capacity(text.len());
    let mut at = Vec::with_capacity(text.len() + 1);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let decoded = if c == '\\' {
            match chars.peek().map(|(_, n)| *n) {
                Some('n') => Some('\n'),
                Some('r') => Some('\r'),
                Some('t') => Some('\t'),
                Some('"') => Some('"'),
                Some('\\') => Some('\\'),
                Some('/') => Some('/'),
                _ => None,
            }
        } else {
            None
        };
        let out = match decoded {
            Some(d) => {
                chars.next();
                d
            }
            None => c,
        };
        for _ in 0..out.len_utf8() {
            at.push(i);
        }
        view.push(out);
    }
    at.push(text.len());
    Some((view, at))
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// A value that is a real secret rather than a placeholder or a reference to one.
fn looks_secret(v: &str) -> bool {
    !placeholder(v) && entropy(v) >= 3.0
}

/// A template slot or an example (`${KEY}`, `<token>`, `your-key-here`, `changeme`), not a value; also a
/// value that names what it stands for (`password`, `secret`), which an assignment's value often is.
fn placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    template(v)
        || v.starts_with("process.env")
        || v.starts_with("os.environ")
        || ["password", "secret"].iter().any(|p| lower.contains(p))
}

/// A template slot or an example value: `$KEY`, `${KEY}`, `$(cmd)`, `<token>`, `{{ key }}`, `%KEY%`,
/// `your-key-here`, `changeme`, `xxxx`.
fn template(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let variable = v.strip_prefix('$').is_some_and(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    variable
        || v.starts_with("${")
        || v.starts_with("$(")
        || v.starts_with(['<', '{', '%'])
        || [
            "changeme",
            "example",
            "xxxx",
            "****",
            "your_",
            "your-",
            "placeholder",
            "dummy",
            "redacted",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

fn personal_email(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return false;
    };
    let generic_domain = [
        "example.com",
        "example.org",
        "example.net",
        "localhost",
        "users.noreply.github.com",
    ]
    .iter()
    .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || domain.ends_with(".example")
        || domain.ends_with(".test")
        || domain.ends_with(".invalid");
    let generic_local = ["noreply", "no-reply", "git", "donotreply"].contains(&local);
    !generic_domain && !generic_local
}

/// A Luhn-valid number of 13–19 digits with a card network's prefix.
fn card_number(v: &str) -> bool {
    let digits: Vec<u32> = v.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let prefix_ok = match digits[0] {
        4 => true,
        5 => (1..=5).contains(&digits[1]),
        2 => (2..=7).contains(&digits[1]),
        3 => matches!(digits[1], 4 | 7 | 6 | 8 | 0),
        6 => true,
        _ => false,
    };
    prefix_ok && luhn(&digits)
}

/// The Luhn checksum.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An IBAN of a plausible length whose mod-97 checksum is 1.
fn iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let value = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        rem = if value >= 10 {
            (rem * 100 + value) % 97
        } else {
            (rem * 10 + value) % 97
        };
    }
    rem == 1
}

/// A US SSN outside the never-issued ranges (area 000, 666, 9xx; group 00; serial 0000).
fn us_ssn(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    area != &"000"
        && area != &"666"
        && !area.starts_with('9')
        && group != &"00"
        && serial != &"0000"
}

mod rules;
mod seen;
mod shapes;
#[cfg(test)]
mod tests;
