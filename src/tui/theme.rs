//! Themes: a built-in default, and `themes/*.toml` files (shipped: dark, light, high-contrast; more in the
//! user's `themes/` config directory) applied as patches over it, so a theme sets only what it changes.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::Color;
use serde::Deserialize;

/// The colours the UI uses.
#[derive(Debug, Clone, PartialEq, Hash)]
pub struct Theme {
    /// Its name.
    pub name: String,
    /// Body text.
    pub fg: Color,
    /// Secondary text.
    pub dim: Color,
    /// Borders and titles in focus.
    pub accent: Color,
    /// The user's messages.
    pub user: Color,
    /// The planner's text.
    pub planner: Color,
    /// The executor's text.
    pub executor: Color,
    /// Tool calls.
    pub tool: Color,
    /// Success.
    pub ok: Color,
    /// Errors.
    pub error: Color,
    /// Warnings and the fallback banner's text.
    pub warning: Color,
    /// Added diff lines.
    pub added: Color,
    /// Removed diff lines.
    pub removed: Color,
    /// Hunk headers.
    pub hunk: Color,
    /// The selected hunk's background.
    pub selected_bg: Color,
    /// The status bar.
    pub status_bg: Color,
    /// See `status_bg`.
    pub status_fg: Color,
    /// The fallback banner's background.
    pub banner_bg: Color,
    /// Code in the transcript.
    pub code: Color,
}

/// The themes shipped in `themes/`.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

impl Default for Theme {
    fn default() -> Self {
        let rgb = |r, g, b| Color::Rgb(r, g, b);
        Theme {
            name: "dark".into(),
            fg: rgb(0xd0, 0xd0, 0xd0),
            dim: rgb(0x80, 0x80, 0x80),
            accent: rgb(0x5f, 0xaf, 0xff),
            user: rgb(0x87, 0xd7, 0xff),
            planner: rgb(0xd7, 0xaf, 0xff),
            executor: rgb(0xaf, 0xd7, 0x87),
            tool: rgb(0xff, 0xd7, 0x5f),
            ok: rgb(0x87, 0xd7, 0x5f),
            error: rgb(0xff, 0x5f, 0x5f),
            warning: rgb(0xff, 0xaf, 0x00),
            added: rgb(0x87, 0xd7, 0x5f),
            removed: rgb(0xff, 0x5f, 0x5f),
            hunk: rgb(0x5f, 0xaf, 0xd7),
            selected_bg: rgb(0x30, 0x3a, 0x4a),
            status_bg: rgb(0x26, 0x26, 0x26),
            status_fg: rgb(0xd0, 0xd0, 0xd0),
            banner_bg: rgb(0x5f, 0x3f, 0x00),
            code: rgb(0xff, 0xd7, 0xaf),
        }
    }
}

/// Unknown keys land in `colors` and are refused there, by name.
#[derive(Deserialize)]
struct Patch {
    name: Option<String>,
    #[serde(flatten)]
    colors: BTreeMap<String, String>,
}

/// Parses a colour: `#rrggbb`, or a name ratatui knows (`red`, `lightblue`, `reset`…).
fn color(text: &str) -> Option<Color> {
    text.parse::<Color>().ok()
}

impl Theme {
    /// The default with a TOML patch applied; errors name the key.
    pub fn patched(text: &str, origin: &str) -> Result<Theme, String> {
        let patch: Patch = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        let mut t = Theme::default();
        if let Some(name) = patch.name {
            t.name = name;
        }
        for (key, value) in &patch.colors {
            let c = color(value)
                .ok_or_else(|| format!("{origin}: `{key}`: `{value}` is not a colour"))?;
            let slot = match key.as_str() {
                "fg" => &mut t.fg,
                "dim" => &mut t.dim,
                "accent" => &mut t.accent,
                "user" => &mut t.user,
                "planner" => &mut t.planner,
                "executor" => &mut t.executor,
                "tool" => &mut t.tool,
                "ok" => &mut t.ok,
                "error" => &mut t.error,
                "warning" => &mut t.warning,
                "added" => &mut t.added,
                "removed" => &mut t.removed,
                "hunk" => &mut t.hunk,
                "selected_bg" => &mut t.selected_bg,
                "status_bg" => &mut t.status_bg,
                "status_fg" => &mut t.status_fg,
                "banner_bg" => &mut t.banner_bg,
                "code" => &mut t.code,
                other => return Err(format!("{origin}: `{other}` is not a theme key")),
            };
            *slot = c;
        }
        Ok(t)
    }

    /// A theme by name: a file `<name>.toml` in `user_dir` first, then the shipped ones.
    pub fn load(name: &str, user_dir: &Path) -> Result<Theme, String> {
        let path = user_dir.join(format!("{name}.toml"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Theme::patched(&text, &path.display().to_string());
        }
        BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Theme::patched(text, &format!("themes/{n}.toml")))
            .unwrap_or_else(|| {
                Err(format!(
                    "no theme `{name}` (shipped: dark, light, high-contrast; or add {})",
                    path.display()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse_and_patches_override_only_what_they_set() {
        for (name, _) in BUILT_IN {
            let t = Theme::load(name, Path::new("/nonexistent")).unwrap();
            assert_eq!(&t.name, name);
        }
        assert_eq!(
            Theme::load("dark", Path::new("/x")).unwrap(),
            Theme::default()
        );
        let t = Theme::patched("name = \"mine\"\nerror = \"lightred\"\n", "mine.toml").unwrap();
        assert_eq!(t.error, Color::LightRed);
        assert_eq!(t.fg, Theme::default().fg);
        let e = Theme::patched("errror = \"red\"\n", "bad.toml").unwrap_err();
        assert!(e.contains("bad.toml") && e.contains("errror"), "{e}");
        let e = Theme::patched("fg = \"chartreuse-ish\"\n", "bad.toml").unwrap_err();
        assert!(e.contains("`fg`"), "{e}");
        assert!(Theme::load("nope", Path::new("/x")).is_err());
    }
}
