//! `file://`: the local file system, with fsync of files and directories so a commit survives
//! power loss, and link-then-unlink renames that never clobber.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::{Entry, Renamed, Result, StorageError};

#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

pub struct LocalWriter {
    file: Option<std::fs::File>,
    path: PathBuf,
    len: u64,
}

fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> StorageError {
    match e.kind() {
        ErrorKind::NotFound => StorageError::NotFound {
            path: path.display().to_string(),
        },
        ErrorKind::AlreadyExists => StorageError::AlreadyExists {
            path: path.display().to_string(),
        },
        _ => StorageError::Io {
            op,
            path: path.display().to_string(),
            message: e.to_string(),
        },
    }
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StorageError::Io {
            op: "spawn",
            path: String::new(),
            message: e.to_string(),
        })
    })
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync", dir, e))
}

impl LocalStore {
    pub fn new(root: &str) -> Self {
        LocalStore {
            root: PathBuf::from(root),
        }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub async fn create(&self, rel: &str) -> Result<LocalWriter> {
        let path = self.abs(rel);
        blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io_err("mkdirs", dir, e))?;
            }
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| io_err("create", &path, e))?;
            Ok(LocalWriter {
                file: Some(file),
                path,
                len: 0,
            })
        })
        .await
    }

    pub async fn rename_no_clobber(&self, from: &str, to: &str) -> Result<Renamed> {
        let (from, to) = (self.abs(from), self.abs(to));
        blocking(move || {
            let dir = to.parent().unwrap_or(Path::new("/")).to_path_buf();
            std::fs::create_dir_all(&dir).map_err(|e| io_err("mkdirs", &dir, e))?;
            // link(2) fails if the target exists, which makes the rename no-clobber.
            match std::fs::hard_link(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return Ok(Renamed::DestinationExists);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(if to.exists() {
                        Renamed::DestinationExists
                    } else {
                        Renamed::SourceMissing
                    });
                }
                Err(e) => return Err(io_err("rename", &from, e)),
            }
            sync_dir(&dir)?;
            std::fs::remove_file(&from).map_err(|e| io_err("rename", &from, e))?;
            if let Some(src_dir) = from.parent() {
                sync_dir(src_dir)?;
            }
            Ok(Renamed::Done)
        })
        .await
    }

    pub async fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        let dir = self.abs(rel);
        blocking(move || {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_err("list", &dir, e)),
            };
            let mut out = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| io_err("list", &dir, e))?;
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // Deleted between readdir and stat.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("stat", &entry.path(), e)),
                };
                let modified_ms = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                out.push(Entry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    len: meta.len(),
                    is_dir: meta.is_dir(),
                    modified_ms,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    pub async fn read(&self, rel: &str) -> Result<Bytes> {
        self.read_part(rel, u64::MAX, false).await
    }

    pub async fn read_part(&self, rel: &str, max: u64, from_end: bool) -> Result<Bytes> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.abs(rel);
        blocking(move || {
            let part = || -> std::io::Result<Vec<u8>> {
                let mut file = std::fs::File::open(&path)?;
                let len = file.metadata()?.len();
                let take = len.min(max);
                if from_end {
                    file.seek(SeekFrom::Start(len - take))?;
                }
                let mut out = Vec::with_capacity(take as usize);
                file.take(take).read_to_end(&mut out)?;
                Ok(out)
            };
            part()
                .map(Bytes::from)
                .map_err(|e| io_err("read", &path, e))
        })
        .await
    }

    pub async fn exists(&self, rel: &str) -> Result<bool> {
        let path = self.abs(rel);
        blocking(move || Ok(path.exists())).await
    }

    pub async fn delete(&self, rel: &str) -> Result<bool> {
        let path = self.abs(rel);
        blocking(move || {
            let result = if path.is_dir() {
                std::fs::remove_dir(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err("delete", &path, e)),
            }
        })
        .await
    }
}

impl LocalWriter {
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        let mut file = self.file.take().ok_or_else(|| StorageError::Io {
            op: "write",
            path: self.path.display().to_string(),
            message: "writer already failed".into(),
        })?;
        let path = self.path.clone();
        let len = data.len() as u64;
        let file = blocking(move || {
            file.write_all(&data)
                .map_err(|e| io_err("write", &path, e))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.len += len;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub async fn finish(mut self) -> Result<()> {
        let Some(file) = self.file.take() else {
            return Err(StorageError::Io {
                op: "close",
                path: self.path.display().to_string(),
                message: "writer already failed".into(),
            });
        };
        let path = self.path.clone();
        blocking(move || {
            file.sync_all().map_err(|e| io_err("fsync", &path, e))?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::{Renamed, Store};
    use bytes::Bytes;

    #[tokio::test]
    async fn create_rename_list_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
        store
            .write_new("a/b/x.tmp", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert!(
            store
                .create("a/b/x.tmp")
                .await
                .err()
                .unwrap()
                .is_already_exists()
        );
        assert_eq!(
            store.rename_no_clobber("a/b/x.tmp", "c/x").await.unwrap(),
            Renamed::Done
        );
        assert_eq!(
            store.rename_no_clobber("a/b/x.tmp", "c/x").await.unwrap(),
            Renamed::DestinationExists
        );
        assert_eq!(
            store.rename_no_clobber("a/b/y", "c/y").await.unwrap(),
            Renamed::SourceMissing
        );
        store
            .write_new("a/b/z", Bytes::from_static(b"z"))
            .await
            .unwrap();
        assert_eq!(
            store.rename_no_clobber("a/b/z", "c/x").await.unwrap(),
            Renamed::DestinationExists
        );
        assert_eq!(
            store.read("c/x").await.unwrap(),
            Bytes::from_static(b"hello")
        );
        let names: Vec<String> = store
            .list("c")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["x"]);
        assert!(store.list("nope").await.unwrap().is_empty());
        assert!(store.delete("c/x").await.unwrap());
        assert!(!store.delete("c/x").await.unwrap());
    }
}
