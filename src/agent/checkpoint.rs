//! Checkpoints: every applied batch of edits records the files' prior bytes on disk first, so `undo` restores
//! them exactly (and deletes files the batch created), also after a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sandbox::{Workspace, state};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileBefore {
    path: String,
    existed: bool,
    mode: Option<u32>,
    /// The sha256 of the saved prior bytes, checked before they are restored.
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    id: u64,
    files: Vec<FileBefore>,
}

/// A session's checkpoints, newest last. Each is a folder named by its id, written under a temporary name and
/// renamed into place whole; every file in it is opened without following links.
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

/// What `undo` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoOutcome {
    /// The checkpoint undone and the files restored or removed, if any was left.
    pub undone: Option<(u64, Vec<String>)>,
    /// Checkpoints skipped because they were never completely written (a crash), each with why.
    pub skipped: Vec<String>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The largest prior content a checkpoint restores.
const BLOB_CAP: u64 = 1 << 36;

impl Checkpoints {
    /// The checkpoints kept in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Checkpoints { dir }
    }

    /// Ids of the checkpoints not undone, oldest first (folders still being written are not among them).
    pub fn ids(&self) -> Vec<u64> {
        self.try_ids().unwrap_or_default()
    }

    /// The ids, or why the folder cannot be read (a link on its path is refused, not followed).
    fn try_ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let mut ids: Vec<u64> = state::list(&self.dir)
            .map_err(|e| err(&self.dir, e))?
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, kind)| *kind == rustix::fs::FileType::Directory)
            .filter_map(|(name, _)| name.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Writes `changes` (workspace-relative path, new content) as one checkpoint; returns its id.
    ///
    /// The prior bytes are saved before anything is written, in a temporary folder renamed into place only when
    /// complete; each file is written atomically. If a write fails part-way, the files already written are
    /// restored before the error is returned.
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
        let id = self.try_ids()?.last().map_or(1, |l| l + 1);
        let tmp_name = state::temp_name();
        let tmp = self.dir.join(&tmp_name);
        state::create_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
        let record = || -> Result<Vec<FileBefore>, CheckpointError> {
            let mut files = Vec::new();
            for (i, ((path, _), abs)) in changes.iter().zip(&resolved).enumerate() {
                let current = ws.read_for_write(path).map_err(|e| err(abs, e))?;
                let mode = current.as_ref().map(|(_, mode)| *mode);
                let before = current.map(|(bytes, _)| bytes);
                if let Some(bytes) = &before {
                    let blob = tmp.join(format!("{i}.bin"));
                    state::write(&blob, bytes).map_err(|e| err(&blob, e))?;
                }
                files.push(FileBefore {
                    path: path.clone(),
                    existed: before.is_some(),
                    mode,
                    sha256: before
                        .as_deref()
                        .map(|b| crate::config::trust::content_hash(Some(b))),
                });
            }
            let manifest = Manifest {
                id,
                files: files.clone(),
            };
            let json = serde_json::to_vec_pretty(&manifest).map_err(|e| err(&tmp, e))?;
            let path = tmp.join("manifest.json");
            state::write(&path, &json).map_err(|e| err(&path, e))?;
            state::rename(&self.dir, &tmp_name, &id.to_string()).map_err(|e| err(&tmp, e))?;
            Ok(files)
        };
        let files = match record() {
            Ok(files) => files,
            Err(e) => {
                let _ = state::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let cdir = self.dir.join(id.to_string());
        for (done, (path, content)) in changes.iter().enumerate() {
            let result = ws
                .write(path, content, None)
                .map(|_| ())
                .map_err(|e| err(Path::new(path), e));
            if let Err(e) = result {
                let _ = self.restore(ws, &cdir, &files[..done]);
                let _ = state::remove_dir_all(&cdir);
                return Err(e);
            }
        }
        Ok(id)
    }

    /// Undoes the newest complete checkpoint; incomplete ones (a crash while one was written) are removed and
    /// reported, so the checkpoints before them still undo.
    pub fn undo(&self, ws: &Workspace) -> Result<UndoOutcome, CheckpointError> {
        let mut outcome = UndoOutcome::default();
        for id in self.try_ids()?.into_iter().rev() {
            let cdir = self.dir.join(id.to_string());
            let path = cdir.join("manifest.json");
            let manifest = match state::read(&path, 1 << 24) {
                Ok(Some(bytes)) => serde_json::from_slice::<Manifest>(&bytes)
                    .map_err(|e| format!("its manifest is unreadable ({e})")),
                Ok(None) => Err("it has no manifest".to_string()),
                Err(e) => return Err(err(&path, e)),
            };
            let manifest = match manifest {
                Ok(m) => m,
                Err(why) => {
                    outcome.skipped.push(format!(
                        "checkpoint {id} was not completely written ({why}); skipped and removed"
                    ));
                    state::remove_dir_all(&cdir).map_err(|e| err(&cdir, e))?;
                    continue;
                }
            };
            let files = self.restore(ws, &cdir, &manifest.files)?;
            state::remove_dir_all(&cdir).map_err(|e| err(&cdir, e))?;
            outcome.undone = Some((id, files));
            break;
        }
        Ok(outcome)
    }

    /// Restores `files` from `cdir`: every saved blob is read without following links and checked against
    /// its recorded hash before anything is written.
    fn restore(
        &self,
        ws: &Workspace,
        cdir: &Path,
        files: &[FileBefore],
    ) -> Result<Vec<String>, CheckpointError> {
        let mut blobs = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            if !f.existed {
                blobs.push(None);
                continue;
            }
            let blob = cdir.join(format!("{i}.bin"));
            let bytes = state::read(&blob, BLOB_CAP)
                .map_err(|e| err(&blob, e))?
                .ok_or_else(|| err(&blob, "the saved content is missing; nothing was restored"))?;
            let actual = crate::config::trust::content_hash(Some(&bytes));
            let Some(expected) = f.sha256.as_deref() else {
                return Err(err(
                    &blob,
                    "the checkpoint records no content hash (an older tandem wrote it), so the saved content cannot be verified; nothing was restored",
                ));
            };
            if expected != actual {
                return Err(err(
                    &blob,
                    "the saved content does not match the hash recorded when it was saved; nothing was restored",
                ));
            }
            blobs.push(Some(bytes));
        }
        let mut restored = Vec::new();
        for (f, blob) in files.iter().zip(blobs).rev() {
            let shown = Path::new(&f.path);
            match blob {
                Some(bytes) => {
                    // Permission bits only: a recorded set-user-ID, set-group-ID or sticky bit (a planted
                    // checkpoint) is never restored.
                    ws.write(&f.path, &bytes, f.mode.map(|m| m & 0o777))
                        .map_err(|e| err(shown, e))?;
                }
                None => ws.remove(&f.path).map_err(|e| err(shown, e))?,
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
        assert_eq!(
            cps.undo(&ws).unwrap().undone,
            Some((2, vec!["a.txt".into()]))
        );
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"changed");
        assert_eq!(
            cps.undo(&ws).unwrap().undone,
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
        assert_eq!(cps.undo(&ws).unwrap(), UndoOutcome::default());
    }

    #[test]
    fn undo_never_restores_a_setuid_or_setgid_bit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        let ws = Workspace::new(&dir.path().join("ws")).unwrap();
        let tool = ws.root().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        // As a planted file (or a checkpoint recorded from one) would have it; a process without privileges may
        // set the bits on its own file.
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o6755)).unwrap();
        let cps = Checkpoints::new(dir.path().join("cps"));
        cps.apply(
            &ws,
            &[("tool".into(), b"#!/bin/sh\necho changed\n".to_vec())],
        )
        .unwrap();
        // New content in it is not setuid either.
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&tool), 0o755);
        cps.undo(&ws).unwrap();
        assert_eq!(std::fs::read(&tool).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode(&tool), 0o755);
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

    fn two_checkpoints() -> (tempfile::TempDir, Workspace, Checkpoints) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        let ws = Workspace::new(&dir.path().join("ws")).unwrap();
        std::fs::write(ws.root().join("a.txt"), "v1").unwrap();
        let cps = Checkpoints::new(ws.root().join(".tandem/sessions/s/checkpoints"));
        cps.apply(&ws, &[("a.txt".into(), b"v2".to_vec())]).unwrap();
        cps.apply(&ws, &[("a.txt".into(), b"v3".to_vec())]).unwrap();
        (dir, ws, cps)
    }

    #[test]
    fn an_incomplete_checkpoint_is_skipped_and_earlier_ones_still_undo() {
        let (_dir, ws, cps) = two_checkpoints();
        // A crash between creating a checkpoint folder and writing its manifest (an older layout did this).
        std::fs::create_dir_all(cps.dir.join("3")).unwrap();
        // A temporary folder left by a crash is not a checkpoint at all.
        std::fs::create_dir_all(cps.dir.join(".tandem-tmp-1-0")).unwrap();
        let out = cps.undo(&ws).unwrap();
        assert_eq!(out.undone, Some((2, vec!["a.txt".into()])));
        assert_eq!(out.skipped.len(), 1);
        assert!(
            out.skipped[0].contains("checkpoint 3 was not completely written"),
            "{:?}",
            out.skipped
        );
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"v2");
        assert_eq!(cps.undo(&ws).unwrap().undone.map(|u| u.0), Some(1));
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"v1");
    }

    #[test]
    fn a_blob_replaced_by_a_link_or_other_bytes_is_refused() {
        let (dir, ws, cps) = two_checkpoints();
        std::fs::write(dir.path().join("id_rsa"), "PRIVATE").unwrap();
        let blob = cps.dir.join("2/0.bin");
        std::fs::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink(dir.path().join("id_rsa"), &blob).unwrap();
        let e = cps.undo(&ws).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        std::fs::remove_file(&blob).unwrap();
        std::fs::write(&blob, "PRIVATE").unwrap();
        let e = cps.undo(&ws).unwrap_err().to_string();
        assert!(e.contains("does not match the hash"), "{e}");
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"v3");
    }

    #[test]
    fn a_checkpoints_folder_replaced_by_a_link_is_refused() {
        let (dir, ws, cps) = two_checkpoints();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let sessions = ws.root().join(".tandem/sessions");
        std::fs::rename(&sessions, dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, &sessions).unwrap();
        let e = cps
            .apply(&ws, &[("a.txt".into(), b"v4".to_vec())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written outside"
        );
        assert_eq!(std::fs::read(ws.root().join("a.txt")).unwrap(), b"v3");
    }
}
