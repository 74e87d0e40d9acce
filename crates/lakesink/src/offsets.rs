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
