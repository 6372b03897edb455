//! Which workspaces the person trusts: recorded in the user config dir (never in the workspace) as the
//! workspace's canonical path and the sha256 of its `.tandem/config.toml`, so any change to that file revokes
//! the trust until the person grants it again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::paths::Dirs;

/// The trust store's file name in the user config dir.
pub const TRUST_FILE: &str = "trusted.toml";

/// What the hash of a workspace without a project file is recorded as.
const NO_FILE: &str = "none";

/// Whether a workspace's project config is honoured in full, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustState {
    /// The workspace has no `.tandem/config.toml`.
    NoProjectFile,
    /// The person trusted this exact file content.
    Trusted,
    /// Never trusted: the project layer may only narrow settings.
    Untrusted,
    /// Trusted once, but the file changed since; the trust no longer applies.
    Revoked,
    /// The file could not be read safely (a link, not a regular file); it was ignored whole.
    Refused(String),
}

impl TrustState {
    /// Whether the project layer is honoured in full.
    pub fn is_trusted(&self) -> bool {
        matches!(self, TrustState::Trusted)
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            TrustState::NoProjectFile => "no project config (.tandem/config.toml)".into(),
            TrustState::Trusted => "trusted: the project config is honoured in full".into(),
            TrustState::Untrusted => "not trusted: the project config may only narrow settings (run `tandem trust` to honour it)".into(),
            TrustState::Revoked => "trust revoked: the project config changed since you trusted it; it may only narrow settings until you run `tandem trust` again".into(),
            TrustState::Refused(why) => format!("project config ignored: {why}"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Store {
    #[serde(default)]
    workspaces: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The sha256 of the project config file when it was trusted (`none`: there was none).
    sha256: String,
    /// When (UTC, RFC 3339).
    #[serde(default)]
    trusted_at: String,
}

/// Why the trust store cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct TrustError {
    /// The store's file.
    pub path: PathBuf,
    /// What happened.
    pub message: String,
}

/// The sha256 of a project file's bytes (`none` when there is no file), as lowercase hex.
pub fn content_hash(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => NO_FILE.into(),
        Some(b) => Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect(),
    }
}

fn store_path(dirs: &Dirs) -> PathBuf {
    dirs.config.join(TRUST_FILE)
}

fn key(workspace: &Path) -> String {
    workspace.to_string_lossy().into_owned()
}

fn load(dirs: &Dirs) -> Result<Store, TrustError> {
    let path = store_path(dirs);
    let fail = |message: String| TrustError {
        path: path.clone(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| fail(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::default()),
        Err(e) => Err(fail(e.to_string())),
    }
}

fn save(dirs: &Dirs, store: &Store) -> Result<(), TrustError> {
    let path = store_path(dirs);
    let fail = |message: String| TrustError {
        path: path.clone(),
        message,
    };
    std::fs::create_dir_all(&dirs.config).map_err(|e| fail(e.to_string()))?;
    let mut text = String::from(
        "# Workspaces whose .tandem/config.toml you trust, with the file's sha256 when you trusted it.\n\
         # Written by `tandem trust`; a changed file is no longer trusted. Remove with `tandem trust --revoke`.\n\n",
    );
    text.push_str(&toml::to_string(store).map_err(|e| fail(e.to_string()))?);
    crate::sandbox::write_atomic(&path, text.as_bytes()).map_err(|e| fail(e.to_string()))
}

/// The trust state of `workspace` whose project file has the hash `hash`.
pub fn state(dirs: &Dirs, workspace: &Path, hash: &str) -> TrustState {
    let store = match load(dirs) {
        Ok(s) => s,
        Err(e) => {
            // An unreadable store trusts nothing; the reason is logged for the person.
            tracing::warn!("trust store unusable: {e}");
            Store::default()
        }
    };
    match store.workspaces.get(&key(workspace)) {
        None if hash == NO_FILE => TrustState::NoProjectFile,
        None => TrustState::Untrusted,
        Some(_) if hash == NO_FILE => TrustState::NoProjectFile,
        Some(e) if e.sha256 == hash => TrustState::Trusted,
        Some(_) => TrustState::Revoked,
    }
}

/// Records that the person trusts `workspace` with its project file as it is now (hash `hash`).
pub fn grant(dirs: &Dirs, workspace: &Path, hash: &str) -> Result<(), TrustError> {
    let mut store = load(dirs)?;
    let trusted_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    store.workspaces.insert(
        key(workspace),
        Entry {
            sha256: hash.to_string(),
            trusted_at,
        },
    );
    save(dirs, &store)
}

/// Forgets `workspace`; returns whether it was trusted.
pub fn revoke(dirs: &Dirs, workspace: &Path) -> Result<bool, TrustError> {
    let mut store = load(dirs)?;
    let was = store.workspaces.remove(&key(workspace)).is_some();
    if was {
        save(dirs, &store)?;
    }
    Ok(was)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> Dirs {
        Dirs {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        }
    }

    #[test]
    fn trust_is_pinned_to_the_file_content_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dirs(dir.path());
        let ws = dir.path().join("ws");
        let h1 = content_hash(Some(b"[agent]\n"));
        assert_eq!(h1.len(), 64);
        assert_eq!(state(&d, &ws, &h1), TrustState::Untrusted);
        assert_eq!(state(&d, &ws, NO_FILE), TrustState::NoProjectFile);
        grant(&d, &ws, &h1).unwrap();
        assert_eq!(state(&d, &ws, &h1), TrustState::Trusted);
        let h2 = content_hash(Some(b"[agent]\ncommands = \"auto\"\n"));
        assert_eq!(state(&d, &ws, &h2), TrustState::Revoked);
        assert_eq!(
            state(&d, &dir.path().join("other"), &h1),
            TrustState::Untrusted
        );
        assert!(revoke(&d, &ws).unwrap());
        assert_eq!(state(&d, &ws, &h1), TrustState::Untrusted);
        assert!(!revoke(&d, &ws).unwrap());
    }
}
