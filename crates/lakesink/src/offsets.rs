//! A connector's committed offsets as its commit logs in storage hold them (the sink's
//! truth; the consumer group's offsets only trail it, for lag tooling).

use lakesink_commit::Layout;
use lakesink_config::{SinkConfig, TopicSelection};
use lakesink_record::TopicPartition;
use lakesink_storage::Store;

/// `(topic, partition, next offset)` for every partition with a commit record.
pub async fn committed(config: &SinkConfig) -> Result<Vec<(String, i32, i64)>, String> {
    let store = Store::open(&config.store_url, config.hadoop_conf_dir.as_deref())
        .map_err(|e| format!("opening {}: {e}", config.store_url))?;
    let layout = Layout::new(
        &config.topics_dir,
        &config.logs_dir,
        config.zero_pad_width,
        config.topic_capture_regex.as_deref(),
    )?;
    let topics: Vec<String> = match &config.topics {
        TopicSelection::List(list) => list.clone(),
        TopicSelection::Regex(regex) => {
            // The topics with a commit log: the directories under logs.dir that match.
            if layout.logs_dir.contains("${") {
                return Err(
                    "logs.dir depends on the topic and topics.regex names no topics to look up"
                        .into(),
                );
            }
            let re = regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| e.to_string())?;
            let entries = match store.list(&layout.logs_dir).await {
                Ok(e) => e,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(format!("listing {}: {e}", layout.logs_dir)),
            };
            entries
                .into_iter()
                .filter(|e| e.is_dir && re.is_match(&e.name))
                .map(|e| e.name)
                .collect()
        }
    };
    let mut out = Vec::new();
    for topic in topics {
        let topic_layout = layout.for_topic(&topic)?;
        let dir = lakesink_storage::join(&[&topic_layout.logs_dir, &topic]);
        let entries = match store.list(&dir).await {
            Ok(e) => e,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(format!("listing {dir}: {e}")),
        };
        let mut partitions: Vec<i32> = entries
            .iter()
            .filter(|e| e.is_dir)
            .filter_map(|e| e.name.parse().ok())
            .collect();
        partitions.sort_unstable();
        for partition in partitions {
            let tp = TopicPartition::new(&topic, partition);
            if let Some(next) = lakesink_commit::read_committed_offset(&store, &topic_layout, &tp)
                .await
                .map_err(|e| e.to_string())?
            {
                out.push((topic.clone(), partition, next));
            }
        }
    }
    Ok(out)
}

/// Why offsets cannot be changed as asked, or the storage failure that stopped it.
pub enum AlterError {
    Refused(String),
    Failed(String),
}

/// Sets where the next recovery of each partition starts, by committing a record with no
/// files to the partition's commit log (it fences any earlier owner, as a takeover does).
///
/// Only forward: moving a partition back, or forgetting it, would write the records that
/// committed files already hold a second time, under the same file names. Those requests
/// are refused with what to do instead; nothing is changed unless every change can be made.
pub async fn alter(
    config: &SinkConfig,
    owner: String,
    changes: Vec<(String, i32, Option<i64>)>,
) -> Result<(), AlterError> {
    let store = Store::open(&config.store_url, config.hadoop_conf_dir.as_deref())
        .map_err(|e| AlterError::Failed(format!("opening {}: {e}", config.store_url)))?;
    let layout = Layout::new(
        &config.topics_dir,
        &config.logs_dir,
        config.zero_pad_width,
        config.topic_capture_regex.as_deref(),
    )
    .map_err(AlterError::Failed)?;
    let mut planned = Vec::new();
    for (topic, partition, offset) in changes {
        let topic_layout = layout.for_topic(&topic).map_err(AlterError::Refused)?;
        let tp = TopicPartition::new(&topic, partition);
        let committed = lakesink_commit::read_committed_offset(&store, &topic_layout, &tp)
            .await
            .map_err(|e| AlterError::Failed(e.to_string()))?;
        match (offset, committed) {
            (None, None) => {} // nothing committed: nothing to forget
            (None, Some(c)) => {
                return Err(AlterError::Refused(format!(
                    "{tp}: the sink has committed the records before offset {c} to files in {}; resetting the partition would write them again. Set an offset of {c} or more, or delete the partition's files and its commit log ({}) first",
                    topic_layout.topics_dir,
                    topic_layout.log_dir(&tp)
                )));
            }
            (Some(o), Some(c)) if o < c => {
                return Err(AlterError::Refused(format!(
                    "{tp}: kafka_offset {o} is before offset {c}, up to which the sink has committed records to files in {}; moving back would write records {o} to {} again. Set an offset of {c} or more, or delete the files holding them and the partition's commit log ({}) first",
                    topic_layout.topics_dir,
                    c - 1,
                    topic_layout.log_dir(&tp)
                )));
            }
            (Some(o), c) if Some(o) == c => {} // already there
            (Some(o), _) => planned.push((topic_layout, tp, o)),
        }
    }
    for (topic_layout, tp, offset) in planned {
        let (mut log, _) = lakesink_commit::PartitionLog::open(
            store.clone(),
            topic_layout,
            tp.clone(),
            owner.clone(),
        )
        .await
        .map_err(|e| AlterError::Failed(e.to_string()))?;
        log.advance(offset)
            .await
            .map_err(|e| AlterError::Failed(e.to_string()))?;
        tracing::info!(connector = %config.name, %tp, offset, "offset altered through the REST API");
    }
    Ok(())
}
