//! Drawing the UI from [`App`]: each component draws itself, then every cell is scrubbed of control
//! characters. Pure: the same state always draws the same frame (the snapshot tests rely on it).

use ratatui::Frame;

use super::app::App;
use super::theme::Theme;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    app.draw(f, theme);
    scrub(f.buffer_mut());
}

/// Replaces any cell holding a control character (ESC, BEL, CR, C1, a bidi override), whichever widget drew
/// it, with a visible mark: the one place every UI text passes before it reaches the terminal.
fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(crate::text::is_unsafe) {
            let shown: String = cell
                .symbol()
                .chars()
                .map(|c| {
                    if crate::text::is_unsafe(c) {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
            cell.set_symbol(&shown);
        }
    }
}
