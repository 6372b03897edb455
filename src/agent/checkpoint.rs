//! Checkpoints: every applied batch of edits records the files' prior bytes on disk first, so `undo` restores
//! them exactly (and deletes files the batch created), also after a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sandbox::{Workspace, write_atomic};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileBefore {
    path: String,
    existed: bool,
    mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    id: u64,
    files: Vec<FileBefore>,
}

/// A session's checkpoints, newest last.
pub struct Checkpoints {
    dir: PathBuf,
}

/// Checkpoint failures, naming the file involved.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint: {}: {message}", path.display())]
pub struct CheckpointError {
    /// The file.
    pub path: PathBuf,
    /// What happened.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Checkpoints {
    /// The checkpoints kept in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Checkpoints { dir }
    }

    /// Ids of the checkpoints not undone, oldest first.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Writes `changes` (workspace-relative path, new content) as one checkpoint; returns its id.
    ///
    /// The prior bytes are saved before anything is written; each file is written atomically. If a write
    /// fails part-way, the files already written are restored before the error is returned.
    pub fn apply(
        &self,
        ws: &Workspace,
        changes: &[(String, Vec<u8>)],
    ) -> Result<u64, CheckpointError> {
        // Every path is checked before anything is created or written.
        let resolved = changes
            .iter()
            .map(|(path, _)| ws.resolve_write(path).map_err(|e| err(Path::new(path), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let id = self.ids().last().map_or(1, |l| l + 1);
        let cdir = self.dir.join(id.to_string());
        std::fs::create_dir_all(&cdir).map_err(|e| err(&cdir, e))?;
        let record = || -> Result<Vec<FileBefore>, CheckpointError> {
            let mut files = Vec::new();
            for (i, ((path, _), abs)) in changes.iter().zip(&resolved).enumerate() {
                let current = ws.read_for_write(path).map_err(|e| err(abs, e))?;
                let mode = current.as_ref().map(|(_, mode)| *mode);
                let before = current.map(|(bytes, _)| bytes);
                if let Some(bytes) = &before {
                    std::fs::write(cdir.join(format!("{i}.bin")), bytes)
                        .map_err(|e| err(&cdir, e))?;
                }
                files.push(FileBefore {
                    path: path.clone(),
                    existed: before.is_some(),
                    mode,
                });
            }
            Ok(files)
        };
        let files = match record() {
            Ok(files) => files,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&cdir);
                return Err(e);
            }
        };
        let manifest = Manifest { id, files };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| err(&cdir, e))?;
        write_atomic(&cdir.join("manifest.json"), &json).map_err(|e| err(&cdir, e))?;
        for (done, (path, content)) in changes.iter().enumerate() {
            let result = ws
                .write(path, content, None)
                .map(|_| ())
                .map_err(|e| err(Path::new(path), e));
            if let Err(e) = result {
                let _ = self.restore(ws, &cdir, &manifest.files[..done]);
                let _ = std::fs::remove_dir_all(&cdir);
                return Err(e);
            }
        }
        Ok(id)
    }

    /// Undoes the newest checkpoint; returns its id and the files restored or removed.
    pub fn undo(&self, ws: &Workspace) -> Result<Option<(u64, Vec<String>)>, CheckpointError> {
        let Some(id) = self.ids().last().copied() else {
            return Ok(None);
        };
        let cdir = self.dir.join(id.to_string());
        let path = cdir.join("manifest.json");
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(&path).map_err(|e| err(&path, e))?)
                .map_err(|e| err(&path, e))?;
        let files = self.restore(ws, &cdir, &manifest.files)?;
        std::fs::remove_dir_all(&cdir).map_err(|e| err(&cdir, e))?;
        Ok(Some((id, files)))
    }

    fn restore(
        &self,
        ws: &Workspace,
        cdir: &Path,
        files: &[FileBefore],
    ) -> Result<Vec<String>, CheckpointError> {
        let mut restored = Vec::new();
        for (i, f) in files.iter().enumerate().rev() {
            let shown = Path::new(&f.path);
            if f.existed {
                let blob = cdir.join(format!("{i}.bin"));
                let bytes = std::fs::read(&blob).map_err(|e| err(&blob, e))?;
                ws.write(&f.path, &bytes, f.mode.map(|m| m & 0o7777))
                    .map_err(|e| err(shown, e))?;
            } else {
                ws.remove(&f.path).map_err(|e| err(shown, e))?;
            }
            restored.push(f.path.clone());
        }
        restored.reverse();
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn undo_restores_exact_bytes_and_removes_created_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        let ws = Workspace::new(&dir.path().join("ws")).unwrap();
        let original = b"line 1\r\nline 2 \xe2\x98\x83 no newline".to_vec();
        std::fs::write(ws.root().join("a.txt"), &original).unwrap();
        std::fs::set_permissions(
            ws.root().join("a.txt"),
            std::fs::Permissions::from_mode(0o741),
        )
        .unwrap();
        let cps = Checkpoints::new(dir.path().join("cps"));
        let first = cps
            .apply(
                &ws,
                &[
                    ("a.txt".into(), b"changed".to_vec()),
                    ("new/b.txt".into(), b"new".to_vec()),
                ],
            )
            .unwrap();
        let second = cps
            .apply(&ws, &[("a.txt".into(), b"changed again".to_vec())])
            .unwrap();
        assert_eq!((first, second), (1, 2));
        assert_eq!(
            std::fs::read(ws.root().join("a.txt")).unwrap(),
            b"changed again"
        );

        // A fresh handle (a restarted process) sees the same checkpoints.
        let cps = Checkpoints::new(dir.path().join("cps"));
        assert_eq!(cps.undo(&ws).unwrap(), Some((2, vec!["a.txt".into()])));
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"changed");
        assert_eq!(
            cps.undo(&ws).unwrap(),
            Some((1, vec!["a.txt".into(), "new/b.txt".into()]))
        );
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), original);
        assert_eq!(
            std::fs::metadata(ws.root().join("a.txt"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o741
        );
        assert!(!ws.root().join("new/b.txt").exists());
        assert_eq!(cps.undo(&ws).unwrap(), None);
    }

    #[test]
    fn a_refused_path_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        std::fs::write(dir.path().join("ok.txt"), "before").unwrap();
        let cps = Checkpoints::new(dir.path().join(".tandem/cps"));
        let result = cps.apply(
            &ws,
            &[
                ("ok.txt".into(), b"after".to_vec()),
                ("../escape.txt".into(), b"x".to_vec()),
            ],
        );
        assert!(result.is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ok.txt")).unwrap(),
            "before"
        );
        assert!(cps.ids().is_empty());
    }
}
