//! `hdfs://` and `viewfs://` through the native `hdfs-native` client (no JVM).
//!
//! Data files are written with `overwrite=false` under unique names and published with
//! `rename2` without OVERWRITE: a second client's `create(overwrite=true)` would delete a file
//! still being written, so nothing here ever overwrites.

use std::sync::Arc;

use bytes::Bytes;
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};

use crate::{Entry, Renamed, Result, StorageError};

#[derive(Clone)]
pub struct HdfsStore {
    client: Arc<Client>,
    /// `scheme://authority`, as given.
    authority: String,
    /// Absolute base path inside the file system ("" for the root).
    base: String,
    /// `dfs.blocksize` of the client's Hadoop configuration, for files whose size is not
    /// known when they are created (`None`: the NameNode's default).
    block_size: Option<u64>,
}

pub struct HdfsWriter {
    writer: hdfs_native::file::FileWriter,
    path: String,
    len: u64,
}

fn classify(op: &'static str, path: &str, e: HdfsError) -> StorageError {
    match e {
        HdfsError::AlreadyExists(_) => StorageError::AlreadyExists { path: path.into() },
        HdfsError::FileNotFound(_) => StorageError::NotFound { path: path.into() },
        HdfsError::RPCError(class, _) if class == "java.io.FileNotFoundException" => {
            StorageError::NotFound { path: path.into() }
        }
        other => StorageError::Io {
            op,
            path: path.into(),
            message: other.to_string(),
        },
    }
}

impl HdfsStore {
    pub fn open(url: &str, hadoop_conf_dir: Option<&str>) -> Result<HdfsStore> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| StorageError::InvalidUrl {
                url: url.into(),
                message: "missing scheme".into(),
            })?;
        let (host, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(StorageError::InvalidUrl {
                url: url.into(),
                message: "missing NameNode address or name service".into(),
            });
        }
        let authority = format!("{scheme}://{host}");
        let mut builder = ClientBuilder::new().with_url(authority.clone());
        if let Some(dir) = hadoop_conf_dir {
            builder = builder.with_config_dir(dir);
        }
        let client = builder.build().map_err(|e| StorageError::InvalidUrl {
            url: url.into(),
            message: e.to_string(),
        })?;
        Ok(HdfsStore {
            client: Arc::new(client),
            authority,
            base: base.to_string(),
            block_size: crate::hadoop_conf::client_block_size(hadoop_conf_dir)?,
        })
    }

    pub fn url(&self) -> String {
        format!("{}{}", self.authority, self.base)
    }

    fn abs(&self, rel: &str) -> String {
        format!("{}/{}", self.base, rel.trim_start_matches('/'))
    }

    pub async fn create(&self, rel: &str, size: Option<u64>) -> Result<HdfsWriter> {
        let path = self.abs(rel);
        let options = || WriteOptions::default().overwrite(false).create_parent(true);
        // The client's block size, as Hadoop's Java client uses its own (else the
        // NameNode's default).
        let configured = || match self.block_size {
            Some(block) => options().block_size(block),
            None => options(),
        };
        let fitted = size.and_then(fitted_block_size);
        let created = match fitted {
            Some(block) => match self.client.create(&path, options().block_size(block)).await {
                // A NameNode whose dfs.namenode.fs-limits.min-block-size is above 1 MiB
                // refuses the fitted size: use the configured one.
                Err(e) if e.to_string().contains("min-block-size") => {
                    self.client.create(&path, configured()).await
                }
                other => other,
            },
            None => self.client.create(&path, configured()).await,
        };
        let writer = created.map_err(|e| classify("create", &path, e))?;
        Ok(HdfsWriter {
            writer,
            path,
            len: 0,
        })
    }
}

/// The block size for a file of `size` bytes written in one go: whole mebibytes (HDFS's
/// default minimum block size is 1 MiB), for files below 64 MiB; larger ones keep the
/// cluster's default.
fn fitted_block_size(size: u64) -> Option<u64> {
    const MIB: u64 = 1 << 20;
    (size < 64 * MIB).then(|| size.div_ceil(MIB).max(1) * MIB)
}

impl HdfsStore {
    pub async fn rename_no_clobber(&self, from: &str, to: &str) -> Result<Renamed> {
        let (src, dst) = (self.abs(from), self.abs(to));
        let parent = crate::parent(&dst).to_string();
        if !parent.is_empty() {
            self.client
                .mkdirs(&parent, 0o755, true)
                .await
                .map_err(|e| classify("mkdirs", &parent, e))?;
        }
        match self.client.rename(&src, &dst, false).await {
            Ok(()) => Ok(Renamed::Done),
            Err(e) => match classify("rename", &src, e) {
                StorageError::AlreadyExists { .. } => Ok(Renamed::DestinationExists),
                StorageError::NotFound { .. } => {
                    if self.exists_abs(&dst).await? {
                        Ok(Renamed::DestinationExists)
                    } else {
                        Ok(Renamed::SourceMissing)
                    }
                }
                other => Err(other),
            },
        }
    }

    async fn exists_abs(&self, path: &str) -> Result<bool> {
        match self.client.get_file_info(path).await {
            Ok(_) => Ok(true),
            Err(e) => match classify("stat", path, e) {
                StorageError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    pub async fn exists(&self, rel: &str) -> Result<bool> {
        self.exists_abs(&self.abs(rel)).await
    }

    pub async fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        let dir = self.abs(rel);
        let statuses = match self.client.list_status(&dir, false).await {
            Ok(s) => s,
            Err(e) => {
                return match classify("list", &dir, e) {
                    StorageError::NotFound { .. } => Ok(Vec::new()),
                    other => Err(other),
                };
            }
        };
        let mut out: Vec<Entry> = statuses
            .into_iter()
            .map(|s| Entry {
                name: s.path.rsplit('/').next().unwrap_or_default().to_string(),
                len: s.length as u64,
                is_dir: s.isdir,
                modified_ms: s.modification_time,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn read(&self, rel: &str) -> Result<Bytes> {
        self.read_part(rel, u64::MAX, false).await
    }

    pub async fn read_part(&self, rel: &str, max: u64, from_end: bool) -> Result<Bytes> {
        let path = self.abs(rel);
        let reader = self
            .client
            .read(&path)
            .await
            .map_err(|e| classify("open", &path, e))?;
        let len = reader.file_length() as u64;
        let take = len.min(max);
        let start = if from_end { len - take } else { 0 };
        reader
            .read_range(start as usize, take as usize)
            .await
            .map_err(|e| classify("read", &path, e))
    }

    pub async fn delete(&self, rel: &str) -> Result<bool> {
        let path = self.abs(rel);
        match self.client.delete(&path, false).await {
            Ok(deleted) => Ok(deleted),
            Err(e) => match classify("delete", &path, e) {
                StorageError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }
}

impl HdfsWriter {
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        let n = data.len() as u64;
        self.writer
            .write_bytes(data)
            .await
            .map_err(|e| classify("write", &self.path, e))?;
        self.len += n;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub async fn finish(mut self) -> Result<()> {
        self.writer
            .hsync()
            .await
            .map_err(|e| classify("hsync", &self.path, e))?;
        self.writer
            .close()
            .await
            .map_err(|e| classify("close", &self.path, e))
    }

    pub async fn abandon(mut self) {
        let _ = self.writer.close().await;
    }
}
