//! A cheap check that a file is a GGUF model before llama.cpp maps it.

use std::io::Read;
use std::path::Path;

use super::types::EngineError;

/// Checks the path exists, is a readable regular file and starts with a GGUF header of a known version.
pub fn check_file(path: &Path) -> Result<(), EngineError> {
    let meta =
        std::fs::metadata(path).map_err(|_| EngineError::ModelNotFound(path.to_path_buf()))?;
    let not_gguf = |reason: String| EngineError::NotGguf {
        path: path.to_path_buf(),
        reason,
    };
    if !meta.is_file() {
        return Err(not_gguf("not a regular file".into()));
    }
    let mut header = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| not_gguf(format!("cannot open: {e}")))?;
    file.read_exact(&mut header)
        .map_err(|_| not_gguf(format!("only {} bytes long", meta.len())))?;
    if &header[..4] != b"GGUF" {
        return Err(not_gguf(format!(
            "starts with {:02x?}, not the GGUF magic",
            &header[..4]
        )));
    }
    let version = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(2..=3).contains(&version) {
        return Err(not_gguf(format!("unsupported GGUF version {version}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_missing_short_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        assert_eq!(
            check_file(&missing),
            Err(EngineError::ModelNotFound(missing.clone()))
        );

        let short = dir.path().join("short.gguf");
        std::fs::write(&short, b"GGU").unwrap();
        assert!(
            check_file(&short)
                .unwrap_err()
                .to_string()
                .contains("short.gguf")
        );

        let foreign = dir.path().join("model.bin");
        std::fs::write(&foreign, b"PK\x03\x04 zip file, not a model").unwrap();
        let err = check_file(&foreign).unwrap_err().to_string();
        assert!(
            err.contains("model.bin") && err.contains("GGUF magic"),
            "{err}"
        );

        let future = dir.path().join("v9.gguf");
        std::fs::write(&future, b"GGUF\x09\x00\x00\x00rest").unwrap();
        assert!(
            check_file(&future)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );

        assert!(
            check_file(dir.path())
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
    }
}
