//! Shortening text for narrow displays.

/// `text` cut to at most `max` characters (not bytes) at a word boundary, with `…` appended when anything was
/// cut (the `…` counts towards `max`). A single word longer than `max` is cut mid-word. Text that fits is
/// returned unchanged; `max` 0 gives an empty string.
pub fn clamp(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let room = max - 1;
    let head: String = text.chars().take(room).collect();
    // At a space after the kept characters the cut is already at a word boundary; else back to the last space.
    let cut = match head.rfind(' ') {
        Some(_) if text.chars().nth(room) == Some(' ') => head.as_str(),
        Some(i) => &head[..i],
        None => head.as_str(),
    };
    format!("{}…", cut.trim_end())
}
