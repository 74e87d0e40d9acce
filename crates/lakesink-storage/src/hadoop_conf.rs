//! The client-side Hadoop settings Lakesink applies itself; `hdfs-native` reads the others
//! (name services, failover, security) from the same files.
//!
//! `dfs.blocksize`: Hadoop's Java client, and so the Confluent connector, writes a file with
//! the block size of its own configuration (`hadoop.conf.dir`), 128 MiB by default.
//! `hdfs-native` takes the NameNode's default instead unless told otherwise, so the value is
//! read here from the same `core-site.xml` and `hdfs-site.xml`.

use std::path::{Path, PathBuf};

use crate::{Result, StorageError};

const BLOCK_SIZE_KEY: &str = "dfs.blocksize";

/// The directory of the Hadoop client configuration, found as `hdfs-native` finds it: the
/// given one, else `$HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop`.
fn conf_dir(given: Option<&str>) -> Option<PathBuf> {
    given
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HADOOP_CONF_DIR").map(PathBuf::from))
        .or_else(|| std::env::var_os("HADOOP_HOME").map(|h| Path::new(&h).join("etc/hadoop")))
}

/// `dfs.blocksize` of the client configuration, if it sets one (`hdfs-site.xml` over
/// `core-site.xml`, as Hadoop loads them).
pub(crate) fn client_block_size(given_dir: Option<&str>) -> Result<Option<u64>> {
    let Some(dir) = conf_dir(given_dir) else {
        return Ok(None);
    };
    let mut found = None;
    for name in ["core-site.xml", "hdfs-site.xml"] {
        let file = dir.join(name);
        if let Some(value) = property(&file, BLOCK_SIZE_KEY)? {
            found = Some((file, value));
        }
    }
    let Some((file, value)) = found else {
        return Ok(None);
    };
    let invalid = |why: &str| StorageError::HadoopConfig {
        file: file.display().to_string(),
        message: format!("{BLOCK_SIZE_KEY} = '{value}': {why}"),
    };
    let size = parse_size(&value).ok_or_else(|| {
        invalid("not a size (a whole number of bytes, optionally with k, m, g, t, p or e)")
    })?;
    if size == 0 || size % 512 != 0 {
        return Err(invalid(
            "a block size must be a positive multiple of 512 bytes (the checksum chunk)",
        ));
    }
    Ok(Some(size))
}

/// The value of property `name` in Hadoop configuration file `file` (the last one, as
/// Hadoop's `Configuration` takes it); `None` when the file or the property is missing.
fn property(file: &Path, name: &str) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StorageError::HadoopConfig {
                file: file.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let doc = roxmltree::Document::parse(&text).map_err(|e| StorageError::HadoopConfig {
        file: file.display().to_string(),
        message: format!("not valid XML: {e}"),
    })?;
    let child_text = |node: roxmltree::Node, tag: &str| {
        node.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(str::trim)
            .map(str::to_string)
    };
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .filter(|p| child_text(*p, "name").as_deref() == Some(name))
        .filter_map(|p| child_text(p, "value"))
        .next_back())
}

/// A size as Hadoop's `Configuration.getLongBytes` reads it: a whole number, optionally
/// followed by one binary prefix letter (k, m, g, t, p, e; either case).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let prefix = text.chars().last()?.to_ascii_lowercase();
    let (digits, shift) = match "kmgtpe".find(prefix) {
        Some(i) => (&text[..text.len() - 1], 10 * (i + 1)),
        None => (text, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_hadoop_reads_them() {
        assert_eq!(parse_size("134217728"), Some(128 << 20));
        assert_eq!(parse_size(" 128m "), Some(128 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("16e"), None, "overflows");
        for bad in ["", "m", "12q", "-1", "1.5m", "0x10"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_block_size_comes_from_hdfs_site_over_core_site() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let write = |name: &str, value: &str| {
            std::fs::write(
                dir.path().join(name),
                format!(
                    "<?xml version=\"1.0\"?>\n<configuration>\n  <property><name>other</name><value>1</value></property>\n  <property>\n    <name>dfs.blocksize</name>\n    <value> {value} </value>\n  </property>\n</configuration>\n"
                ),
            )
            .unwrap();
        };
        assert_eq!(client_block_size(Some(path)).unwrap(), None);
        write("core-site.xml", "64m");
        assert_eq!(client_block_size(Some(path)).unwrap(), Some(64 << 20));
        write("hdfs-site.xml", "256m");
        assert_eq!(client_block_size(Some(path)).unwrap(), Some(256 << 20));
        write("hdfs-site.xml", "1000");
        let e = client_block_size(Some(path)).unwrap_err().to_string();
        assert!(
            e.contains("hdfs-site.xml")
                && e.contains("dfs.blocksize = '1000'")
                && e.contains("multiple of 512"),
            "{e}"
        );
        write("hdfs-site.xml", "big");
        let e = client_block_size(Some(path)).unwrap_err().to_string();
        assert!(e.contains("dfs.blocksize = 'big': not a size"), "{e}");
        std::fs::write(
            dir.path().join("hdfs-site.xml"),
            "<configuration><property>",
        )
        .unwrap();
        let e = client_block_size(Some(path)).unwrap_err().to_string();
        assert!(
            e.contains("hdfs-site.xml") && e.contains("not valid XML"),
            "{e}"
        );
    }
}
