//! Text from the model, commands or the repository made safe to print on a terminal.

use std::borrow::Cow;

/// Whether a character must not reach a terminal raw: C0 controls but `\n` and `\t` (ESC, BEL, backspace,
/// CR), DEL, C1 controls (8-bit CSI, OSC, …) and the bidirectional overrides that reorder what is shown.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// `text` with every unsafe character (see [`is_unsafe`]) written as a visible escape (`\x1b`, `\r`,
/// `\u{202e}`), so escape sequences (OSC 52 clipboard writes, title changes, cursor moves) are shown, not run.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        match c {
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Serialised JSON made safe to print: every unsafe character that JSON leaves raw (DEL, C1 controls, bidi
/// overrides; serde already escapes C0) written as a `\uXXXX` escape, so the document still parses to the same
/// value.
pub fn json_terminal_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text cleared for a terminal: only [`Shown::new`] makes one, and it passes everything through
/// [`terminal_safe`]. The printing functions below take nothing else, and `clippy.toml` forbids `println!`
/// and its kin everywhere but here, so a new call site cannot print raw text by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    /// `text`, whatever its source, made safe to print.
    pub fn new(text: &str) -> Shown {
        Shown(terminal_safe(text).into_owned())
    }

    /// A serialised JSON document made safe to print and still the same document ([`json_terminal_safe`]).
    pub fn json(json: &str) -> Shown {
        Shown(json_terminal_safe(json).into_owned())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a [`Shown`] text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: results.
    Out,
    /// Standard error: progress, warnings, errors.
    Err,
}

/// Writes `text` to `stream`; a closed pipe (`tandem … | head`) is not an error worth a panic.
pub fn emit(stream: Stream, text: &Shown) {
    use std::io::Write;
    let _ = match stream {
        Stream::Out => std::io::stdout().lock().write_all(text.as_str().as_bytes()),
        Stream::Err => std::io::stderr().lock().write_all(text.as_str().as_bytes()),
    };
}

/// The progress line on standard error, redrawn in place (`None` clears it). The only place tandem writes a
/// control sequence of its own outside the UI.
pub fn progress(line: Option<&str>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\r\x1b[2K");
    if let Some(line) = line {
        let _ = err.write_all(Shown::new(line).as_str().as_bytes());
    }
    let _ = err.flush();
}

/// `print!`, through [`Shown`]: control characters in any argument are shown as escapes.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::text::emit($crate::text::Stream::Out, &$crate::text::Shown::new(&::std::format!($($arg)*)))
    };
}

/// `println!`, through [`Shown`].
#[macro_export]
macro_rules! outln {
    () => { $crate::out!("\n") };
    ($($arg:tt)*) => { $crate::out!("{}\n", ::std::format_args!($($arg)*)) };
}

/// `eprintln!`, through [`Shown`].
#[macro_export]
macro_rules! errln {
    () => {
        $crate::text::emit($crate::text::Stream::Err, &$crate::text::Shown::new("\n"))
    };
    ($($arg:tt)*) => {
        $crate::text::emit(
            $crate::text::Stream::Err,
            &$crate::text::Shown::new(&::std::format!("{}\n", ::std::format_args!($($arg)*))),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_keeps_its_value_and_loses_raw_c1_controls() {
        let value = serde_json::json!({"summary": "a\u{9b}31mred\u{202e}b\x1b]0;t\x07"});
        let raw = serde_json::to_string(&value).unwrap();
        assert!(raw.contains('\u{9b}'), "serde leaves C1 raw: {raw}");
        let safe = json_terminal_safe(&raw);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert!(
            safe.contains("\\u009b") && safe.contains("\\u202e"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn control_sequences_are_shown_not_run() {
        assert_eq!(terminal_safe("plain\n\ttext ü"), "plain\n\ttext ü");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_safe("a\x1b]52;c;ZXZpbA==\x07b"),
            "a\\x1b]52;c;ZXZpbA==\\x07b"
        );
        assert_eq!(terminal_safe("\x1b]0;title\x1b\\"), "\\x1b]0;title\\x1b\\");
        assert_eq!(terminal_safe("ok\rFAKE"), "ok\\rFAKE");
        assert_eq!(terminal_safe("x\x08\x7f"), "x\\x08\\x7f");
        assert_eq!(terminal_safe("\u{9b}31m"), "\\x9b31m");
        assert_eq!(terminal_safe("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn only_the_sanitiser_makes_printable_text() {
        let hostile = "session-\x1b]0;pwned\x07\u{202e}id";
        let shown = Shown::new(hostile);
        assert!(!shown.as_str().chars().any(is_unsafe), "{shown}");
        assert!(shown.as_str().contains("\\x1b]0;pwned\\x07"), "{shown}");
        let json = Shown::json("{\"a\":\"\u{9b}\"}");
        assert_eq!(json.as_str(), "{\"a\":\"\\u009b\"}");
        // What the macros print is what `Shown` makes of the formatted text.
        let made = format!("{}", Shown::new(&format!("id {hostile}\n")));
        assert!(!made.chars().any(is_unsafe), "{made}");
    }
}
