//! Reading and writing the registry file. Writes are atomic: a temporary file beside it, fsync,
//! rename over the old one, fsync of the directory, so a crash leaves either the old or the new
//! registry, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::RegistryFile;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to read registry {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("failed to parse registry {path}: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("failed to write registry {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Loads the registry; a missing file is an empty registry (first start).
pub fn load(path: &Path) -> Result<RegistryFile, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Parse { path: path.to_path_buf(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistryFile { version: 1, ..Default::default() }),
        Err(source) => Err(StoreError::Read { path: path.to_path_buf(), source }),
    }
}

/// Replaces the registry file atomically and durably.
pub fn save(path: &Path, file: &RegistryFile) -> Result<(), StoreError> {
    let err = |source| StoreError::Write { path: path.to_path_buf(), source };
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| err(std::io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(err)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::FileEntry;

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/registry.json");
        assert!(load(&path).unwrap().files.is_empty());
        let mut file = RegistryFile { version: 1, ..Default::default() };
        file.files.insert(
            "in::1-2".into(),
            FileEntry { input: "in".into(), path: "/x".into(), dev: 1, inode: 2, fingerprint: Some(3), offset: 42 },
        );
        save(&path, &file).unwrap();
        save(&path, &file).unwrap();
        assert_eq!(load(&path).unwrap(), file);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("registry.json")]);
    }

    #[test]
    fn a_corrupt_registry_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Parse { .. })));
    }
}
