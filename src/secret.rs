//! A string that never prints: API keys and tokens travel in this type.

use std::fmt;

/// A secret value; `Debug` and `Display` show only a masked form.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A form safe to show a person: the first 3 and last 4 characters of a long key, else only stars.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks a secret string for display.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "****".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-proj-abcdefghijklmnop1234");
        assert_eq!(format!("{s}"), "sk-…1234");
        assert_eq!(format!("{s:?}"), "Secret(sk-…1234)");
        assert!(!format!("{s:?}{s}").contains("abcdefghijklmnop"));
        assert_eq!(Secret::new("short").masked(), "****");
        assert_eq!(s.expose(), "sk-proj-abcdefghijklmnop1234");
    }
}
