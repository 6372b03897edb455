//! Detectors for secrets by their shape rather than a vendor prefix: the body of a PEM or OpenSSH key without
//! its header, passwords in URLs, and unquoted `NAME=value` / `name: value` lines whose name says secret.

use super::entropy;

/// A line prefix the tools add (`path:12: ` from grep, `   12| ` from read_file), then the line itself.
const PREFIX: &str = r"(?:[^\s:]+:\d+: ?|[ \t]*\d+\| ?)?[ \t]*";

/// Three or more consecutive lines of 60–76 base64 characters (a key body: PEM uses 64, OpenSSH 70),
/// optionally followed by a shorter last line.
pub(super) fn key_body_pattern() -> String {
    format!(
        r"(?m)(?:^{PREFIX}[A-Za-z0-9+/]{{60,76}}\r?$\n?){{3,}}(?:^{PREFIX}[A-Za-z0-9+/]{{1,76}}={{0,2}}\r?$)?"
    )
}

/// A base64 block that carries key material: high entropy and every character class present.
pub(super) fn key_body(block: &str) -> bool {
    let chars: String = block
        .lines()
        .filter_map(|l| l.rsplit([' ', '|']).next())
        .collect();
    let has = |f: fn(&char) -> bool| chars.chars().any(|c| f(&c));
    has(char::is_ascii_uppercase)
        && has(char::is_ascii_lowercase)
        && has(char::is_ascii_digit)
        && entropy(&chars) >= 5.0
}

/// `scheme://user:password@host`: the `user:password` part.
pub(super) const URL_PASSWORD: &str = r"\b[A-Za-z][A-Za-z0-9+.-]*://([^\s:/@]+:[^\s@/]{3,})@[^\s/]";

/// Whether a password in a URL is a value rather than a template slot (`${DB_PASS}`, `<password>`, `***`).
/// Any literal counts, even `pass`: credentials in a URL are credentials.
pub(super) fn url_password(userinfo: &str) -> bool {
    let v = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    !(v.starts_with('$')
        || v.starts_with('<')
        || v.starts_with('{')
        || v.starts_with('%')
        || v.chars().all(|c| c == '*' || c == 'x' || c == 'X'))
}

/// An unquoted assignment on its own line (`.env`, shell, YAML, INI) whose name says secret: the value.
pub(super) const BARE_ASSIGNMENT: &str = r#"(?im)^(?:[^\s:]+:\d+: ?|[ \t]*\d+\| ?)?[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?|jwt|webhook|_pat\b|dsn)[A-Za-z0-9_.-]*[ \t]*(?:=|:)[ \t]*([^\s"'`]{8,})[ \t]*(?:[ \t]#.*)?\r?$"#;

/// Whether an unquoted value is a literal secret, not code (`self.token()`, `os.environ[...]`, `settings.KEY`).
pub(super) fn bare_secret(v: &str) -> bool {
    let code = v.contains(['(', ')', '[', ']', '{', '}', ';', ',', '<', '>'])
        || v.split('.').count() > 1
            && v.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    let word = |upper: bool| {
        v.chars().all(|c| {
            c == '_' || c == '-' || (c.is_ascii_alphabetic() && c.is_ascii_uppercase() == upper)
        })
    };
    let identifier = word(true) || word(false);
    let literal = matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "none" | "required" | "optional" | "string"
    );
    !code && !identifier && !literal && super::looks_secret(v)
}
