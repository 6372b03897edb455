//! Shortening text for narrow displays.

/// `text` cut to at most `max` characters (not bytes) at a word boundary, with `…` appended when anything was
/// cut (the `…` counts towards `max`). A single word longer than `max` is cut mid-word. Text that fits is
/// returned unchanged; `max` 0 gives an empty string.
pub fn clamp(text: &str, max: usize) -> String {
    todo!()
}
