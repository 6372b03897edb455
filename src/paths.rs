//! Where tandem keeps its files: XDG config, cache, data and state directories, each overridable.

use std::path::{Path, PathBuf};

/// The user-level directories tandem reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// User configuration (`config.toml`, prompt overrides, themes).
    pub config: PathBuf,
    /// Re-downloadable data: the demo model, repo-map caches.
    pub cache: PathBuf,
    /// Durable data: the spend ledger.
    pub data: PathBuf,
    /// Logs and other state that is not worth backing up.
    pub state: PathBuf,
}

/// Environment variables that override each directory, in the order of the [`Dirs`] fields.
pub const DIR_ENV_VARS: [&str; 4] = [
    "TANDEM_CONFIG_DIR",
    "TANDEM_CACHE_DIR",
    "TANDEM_DATA_DIR",
    "TANDEM_STATE_DIR",
];

impl Dirs {
    /// Resolves the directories from the environment (TANDEM_*_DIR, then XDG, then the home directory).
    pub fn from_env() -> Self {
        Self::resolve(|k| std::env::var_os(k).map(PathBuf::from))
    }

    /// Resolves the directories with `var` standing in for the process environment.
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>) -> Self {
        let non_empty = |k: &str| var(k).filter(|p| !p.as_os_str().is_empty());
        let home = non_empty("HOME").unwrap_or_else(std::env::temp_dir);
        let xdg = |key: &str, fallback: &str| {
            non_empty(key)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(fallback))
                .join("tandem")
        };
        Dirs {
            config: non_empty(DIR_ENV_VARS[0]).unwrap_or_else(|| xdg("XDG_CONFIG_HOME", ".config")),
            cache: non_empty(DIR_ENV_VARS[1]).unwrap_or_else(|| xdg("XDG_CACHE_HOME", ".cache")),
            data: non_empty(DIR_ENV_VARS[2])
                .unwrap_or_else(|| xdg("XDG_DATA_HOME", ".local/share")),
            state: non_empty(DIR_ENV_VARS[3])
                .unwrap_or_else(|| xdg("XDG_STATE_HOME", ".local/state")),
        }
    }

    /// The user's config file.
    pub fn user_config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// Where downloaded models live; `scripts/fetch-demo-model.sh` writes here.
    pub fn models(&self) -> PathBuf {
        self.cache.join("models")
    }

    /// The log directory.
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }
}

/// The workspace's own config file, `.tandem/config.toml`.
pub fn project_config_file(workspace: &Path) -> PathBuf {
    workspace.join(".tandem").join("config.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dirs(vars: &[(&str, &str)]) -> Dirs {
        let map: HashMap<String, PathBuf> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect();
        Dirs::resolve(|k| map.get(k).cloned())
    }

    #[test]
    fn xdg_and_home_fallbacks() {
        let d = dirs(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xc")]);
        assert_eq!(
            d,
            Dirs {
                config: "/home/u/.config/tandem".into(),
                cache: "/xc/tandem".into(),
                data: "/home/u/.local/share/tandem".into(),
                state: "/home/u/.local/state/tandem".into(),
            }
        );
    }

    #[test]
    fn explicit_overrides_win_and_relative_xdg_is_ignored() {
        let d = dirs(&[
            ("HOME", "/h"),
            ("TANDEM_CACHE_DIR", "/models-here"),
            ("XDG_CONFIG_HOME", "relative"),
        ]);
        assert_eq!(d.cache, PathBuf::from("/models-here"));
        assert_eq!(d.config, PathBuf::from("/h/.config/tandem"));
        assert_eq!(d.models(), PathBuf::from("/models-here/models"));
    }
}
