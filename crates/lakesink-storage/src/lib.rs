//! Lakesink storage.
//!
//! Owns: the few file-system operations the commit protocol needs — create a new file (never
//! overwriting), write, make durable and close it, rename without clobbering, list one
//! directory, read a small file, delete — for `hdfs://`/`viewfs://` (the native `hdfs-native`
//! client) and `file://` (the local file system). Paths are relative to the store URL. The
//! few Hadoop client settings `hdfs-native` does not apply itself (`dfs.blocksize`) are read
//! in `hadoop_conf`.
//!
//! Must not touch: file names, formats or offsets; what is written and why belongs to the
//! format writers and the commit protocol.

mod hadoop_conf;
mod hdfs;
mod local;

use bytes::Bytes;

/// A storage error, with the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: already exists")]
    AlreadyExists { path: String },
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{op} {path}: {message}")]
    Io {
        op: &'static str,
        path: String,
        message: String,
    },
    #[error("invalid store URL '{url}': {message}")]
    InvalidUrl { url: String, message: String },
    #[error("Hadoop configuration {file}: {message}")]
    HadoopConfig { file: String, message: String },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
    pub fn is_already_exists(&self) -> bool {
        matches!(self, StorageError::AlreadyExists { .. })
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name within the listed directory.
    pub name: String,
    pub len: u64,
    pub is_dir: bool,
    /// Modification time, milliseconds since the epoch.
    pub modified_ms: u64,
}

/// The outcome of a no-clobber rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    Done,
    /// The destination already existed; nothing was changed.
    DestinationExists,
    /// The source did not exist (and the destination did not either).
    SourceMissing,
}

/// A store: HDFS or the local file system.
#[derive(Clone)]
pub enum Store {
    Hdfs(hdfs::HdfsStore),
    Local(local::LocalStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.url())
    }
}

/// A file being written. Data is not visible under its name's final meaning until the
/// commit protocol renames it; `finish` makes it durable and closes it.
pub enum FileWriter {
    // Boxed: the HDFS writer carries its packet state and is much larger.
    Hdfs(Box<hdfs::HdfsWriter>),
    Local(local::LocalWriter),
}

impl Store {
    /// Opens the store named by `url` (`hdfs://host:port[/base]`, `hdfs://nameservice`,
    /// `viewfs://...`, `file:///dir`). `hadoop_conf_dir` holds `core-site.xml`/`hdfs-site.xml`.
    pub fn open(url: &str, hadoop_conf_dir: Option<&str>) -> Result<Store> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(StorageError::InvalidUrl {
                    url: url.into(),
                    message: "file:// URLs need an absolute path, e.g. file:///data/lake".into(),
                });
            }
            return Ok(Store::Local(local::LocalStore::new(path)));
        }
        if url.starts_with("hdfs://") || url.starts_with("viewfs://") {
            return hdfs::HdfsStore::open(url, hadoop_conf_dir).map(Store::Hdfs);
        }
        Err(StorageError::InvalidUrl {
            url: url.into(),
            message: "supported schemes are hdfs://, viewfs:// and file://".into(),
        })
    }

    pub fn url(&self) -> String {
        match self {
            Store::Hdfs(s) => s.url(),
            Store::Local(s) => s.url(),
        }
    }

    /// Creates a new file (parents included); fails with `AlreadyExists` if it exists.
    pub async fn create(&self, path: &str) -> Result<FileWriter> {
        self.create_sized(path, None).await
    }

    /// Creates a new file whose final size is known to be `size` bytes (a file written in
    /// one go). HDFS then gets a block size fitted to it: the NameNode reserves a whole
    /// block of free space on a DataNode for every block being written, so thousands of
    /// small files written at once with 128 MiB blocks can exhaust a DataNode's reservable
    /// space although they need a few megabytes.
    pub async fn create_sized(&self, path: &str, size: Option<u64>) -> Result<FileWriter> {
        match self {
            Store::Hdfs(s) => s
                .create(path, size)
                .await
                .map(|w| FileWriter::Hdfs(Box::new(w))),
            Store::Local(s) => s.create(path).await.map(FileWriter::Local),
        }
    }

    /// Writes a whole small file durably: create (no overwrite), write, sync, close.
    pub async fn write_new(&self, path: &str, data: Bytes) -> Result<()> {
        let mut w = self.create_sized(path, Some(data.len() as u64)).await?;
        w.write(data).await?;
        w.finish().await
    }

    /// Renames `from` to `to` unless `to` exists, creating `to`'s parent directories.
    /// Atomic on HDFS (rename2 without OVERWRITE) and on local file systems (link + unlink).
    pub async fn rename_no_clobber(&self, from: &str, to: &str) -> Result<Renamed> {
        match self {
            Store::Hdfs(s) => s.rename_no_clobber(from, to).await,
            Store::Local(s) => s.rename_no_clobber(from, to).await,
        }
    }

    /// Lists the entries of one directory; a missing directory lists as empty.
    pub async fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        match self {
            Store::Hdfs(s) => s.list(dir).await,
            Store::Local(s) => s.list(dir).await,
        }
    }

    pub async fn read(&self, path: &str) -> Result<Bytes> {
        match self {
            Store::Hdfs(s) => s.read(path).await,
            Store::Local(s) => s.read(path).await,
        }
    }

    /// The first `max` bytes of a file, or its last `max` bytes (`from_end`): a header or a
    /// footer without reading the file. Shorter files come whole.
    pub async fn read_part(&self, path: &str, max: u64, from_end: bool) -> Result<Bytes> {
        match self {
            Store::Hdfs(s) => s.read_part(path, max, from_end).await,
            Store::Local(s) => s.read_part(path, max, from_end).await,
        }
    }

    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self {
            Store::Hdfs(s) => s.exists(path).await,
            Store::Local(s) => s.exists(path).await,
        }
    }

    /// Deletes a file or an empty directory; returns false if it did not exist.
    pub async fn delete(&self, path: &str) -> Result<bool> {
        match self {
            Store::Hdfs(s) => s.delete(path).await,
            Store::Local(s) => s.delete(path).await,
        }
    }
}

impl FileWriter {
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        match self {
            FileWriter::Hdfs(w) => w.write(data).await,
            FileWriter::Local(w) => w.write(data).await,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        match self {
            FileWriter::Hdfs(w) => w.len(),
            FileWriter::Local(w) => w.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the data durable (HDFS hsync / fsync) and closes the file.
    pub async fn finish(self) -> Result<()> {
        match self {
            FileWriter::Hdfs(w) => w.finish().await,
            FileWriter::Local(w) => w.finish().await,
        }
    }

    /// Closes without caring about the data (the file is about to be deleted).
    pub async fn abandon(self) {
        match self {
            FileWriter::Hdfs(w) => w.abandon().await,
            FileWriter::Local(_) => {}
        }
    }
}

/// Joins relative path components with `/`, ignoring empty ones.
pub fn join(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        let p = p.trim_matches('/');
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(p);
    }
    out
}

/// The parent directory of a relative path ("" for a top-level name).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}
