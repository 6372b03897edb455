//! Turning token bytes into streamed text: whole UTF-8 characters only, stop strings held back and cut.

/// Assembles token pieces into valid UTF-8, holding back an incomplete trailing character.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Invariant: from_utf8 validated the first `valid` bytes.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never be valid: replace them and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end, lossily.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Finds stop strings in streamed text; holds back any tail that could be the start of one.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What the matcher lets through.
#[derive(Debug, PartialEq, Eq)]
pub enum StopScan {
    /// Text safe to emit; no stop string yet.
    Continue(String),
    /// A stop string was found: emit this text (before the stop) and end.
    Stopped(String),
}

impl StopMatcher {
    /// A matcher for these stop strings (empty ones are ignored).
    pub fn new(stops: &[String]) -> Self {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Feeds new text.
    pub fn push(&mut self, text: &str) -> StopScan {
        self.held.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let out = self.held[..at].to_string();
            self.held.clear();
            return StopScan::Stopped(out);
        }
        let hold = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - hold;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        StopScan::Continue(out)
    }

    /// Text still held back, released at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length in bytes of the longest suffix of `text` that is a proper prefix of `stop`, on char boundaries.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && stop.starts_with(&text[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens() {
        let mut s = Utf8Stream::default();
        let snow = "é☃".as_bytes();
        assert_eq!(s.push(&snow[..1]), "");
        assert_eq!(s.push(&snow[1..3]), "é");
        assert_eq!(s.push(&snow[3..]), "☃");
        assert_eq!(s.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(s.push(&[0xe2]), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let mut m = StopMatcher::new(&["</done>".to_string()]);
        assert_eq!(m.push("hello </d"), StopScan::Continue("hello ".into()));
        assert_eq!(m.push("o"), StopScan::Continue(String::new()));
        assert_eq!(m.push("ne> tail"), StopScan::Stopped(String::new()));

        let mut m = StopMatcher::new(&["</done>".to_string()]);
        assert_eq!(m.push("a </x"), StopScan::Continue("a </x".into()));
        assert_eq!(m.push("y </"), StopScan::Continue("y ".into()));
        assert_eq!(m.finish(), "</");
    }

    #[test]
    fn earliest_stop_wins_and_no_stops_passes_through() {
        let mut m = StopMatcher::new(&["BB".to_string(), "A".to_string()]);
        assert_eq!(m.push("xxBBA"), StopScan::Stopped("xx".into()));
        let mut m = StopMatcher::new(&[]);
        assert_eq!(m.push("anything"), StopScan::Continue("anything".into()));
    }
}
