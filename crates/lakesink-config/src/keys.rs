//! The one table of configuration keys. Parsing, validation, error messages and
//! `docs/configuration.md` are all derived from the definitions here; add a key here and
//! nowhere else.

/// Where a key is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The connector file (`connector.properties` or the REST JSON).
    Connector,
    /// The worker file (`worker.properties`).
    Worker,
    /// After a converter prefix: `key.converter.<key>` / `value.converter.<key>`.
    Converter,
    /// The Schema Registry server's file (`lakesink registry --config registry.properties`).
    Registry,
}

/// What Lakesink does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Supported,
    /// Accepted so existing configs load unchanged, but it changes nothing in Lakesink; the
    /// reason is shown in the docs and in a start-up warning when the key is set.
    NoEffect(&'static str),
    /// Recognised, not implemented yet: setting it to anything but its default is an error.
    NotYet,
}

/// One allowed value of a [`Kind::Choice`] key, with the spellings that mean the same.
#[derive(Debug)]
pub struct Choice {
    pub value: &'static str,
    pub aliases: &'static [&'static str],
    /// False for values Lakesink recognises but does not implement yet.
    pub available: bool,
}

const fn choice(value: &'static str, aliases: &'static [&'static str]) -> Choice {
    Choice {
        value,
        aliases,
        available: true,
    }
}

const fn pending(value: &'static str, aliases: &'static [&'static str]) -> Choice {
    Choice {
        value,
        aliases,
        available: false,
    }
}

/// The type of a key's value and the check it gets.
#[derive(Debug)]
pub enum Kind {
    String,
    /// A string that must not be blank.
    NonEmpty,
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// Comma-separated list; blanks around items are trimmed.
    List,
    Choice(&'static [Choice]),
    /// An IANA zone id (`America/New_York`), `UTC`, or a fixed offset (`+05:30`).
    TimeZone,
    /// A regular expression.
    Regex,
    /// A storage URL: `hdfs://`, `viewfs://` or `file://`.
    StoreUrl,
}

/// The default of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// The key must be given.
    Required,
    /// No value unless given.
    Unset,
    Value(&'static str),
}

/// A configuration key: the single definition of its name, type, default, doc and support.
#[derive(Debug)]
pub struct KeyDef {
    pub name: &'static str,
    pub scope: Scope,
    pub group: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    pub support: Support,
    pub doc: &'static str,
}

/// Keys that start with a prefix and are passed on (to the Kafka consumer, a converter, ...).
#[derive(Debug)]
pub struct PrefixDef {
    pub prefix: &'static str,
    pub scope: Scope,
    pub support: Support,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    scope: Scope,
    group: &'static str,
    kind: Kind,
    default: DefaultValue,
    support: Support,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        scope,
        group,
        kind,
        default,
        support,
        doc,
    }
}

use DefaultValue::{Required, Unset, Value};
use Kind::*;
use Scope::{Connector as C, Converter as V, Registry as R, Worker as W};
use Support::{NoEffect, NotYet, Supported as S};

/// A Connect key accepted so that existing files load unchanged, with no effect in Lakesink
/// (`why`, shown in the start-up warning and the docs).
const fn accepted(
    name: &'static str,
    scope: Scope,
    why: &'static str,
    doc: &'static str,
) -> KeyDef {
    key(
        name,
        scope,
        CONNECT_COMPAT,
        String,
        Unset,
        NoEffect(why),
        doc,
    )
}

const CONNECT_COMPAT: &str = "Kafka Connect compatibility";
const REMOVED_KIP_738: &str =
    "removed in Kafka 3.0 (KIP-738); the internal topics' format is fixed";
const DISTRIBUTED: &str = "Distributed mode";
const CONNECT_DISTRIBUTED: &str = "a key of Connect's own worker protocol; `lakesink distributed` coordinates its workers through a consumer group and the config and status topics instead";
const CONNECT_SOURCE_ONLY: &str = "used by source connectors only";
const CONNECT_REST: &str = "Lakesink's REST API has no such option yet";
const CONNECT_WORKER_CLIENTS: &str = "as in Connect, it configures the worker's own Kafka clients, not the connectors' consumers: give it as `consumer.<key>` (the dead-letter queue's producer takes the connection and security settings of `consumer.*`)";
const CONNECT_METRICS: &str = "Lakesink serves its metrics at `GET /metrics` on `listeners`; there are no JMX reporters or sampling windows";
const CONNECT_PLUGINS: &str = "Lakesink's plugins are built in, one version of each";
const CONNECT_SHUTDOWN: &str = "the connector's `shutdown.timeout.ms` bounds a graceful stop";
const CONNECT_PROVIDERS: &str =
    "no config provider is loaded; a value that refers to one (`${provider:...}`) stops start-up";

pub const INT_MAX: i64 = i32::MAX as i64;
pub const LONG_MAX: i64 = i64::MAX;

pub const CONNECTOR_CLASSES: &[Choice] = &[
    choice(
        "hdfs",
        &[
            "io.confluent.connect.hdfs.HdfsSinkConnector",
            "HdfsSinkConnector",
        ],
    ),
    choice(
        "hdfs3",
        &[
            "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
            "Hdfs3SinkConnector",
        ],
    ),
];

pub const FORMATS: &[Choice] = &[
    choice(
        "avro",
        &[
            "io.confluent.connect.hdfs.avro.AvroFormat",
            "io.confluent.connect.hdfs3.avro.AvroFormat",
            "AvroFormat",
        ],
    ),
    choice(
        "parquet",
        &[
            "io.confluent.connect.hdfs.parquet.ParquetFormat",
            "io.confluent.connect.hdfs3.parquet.ParquetFormat",
            "ParquetFormat",
        ],
    ),
    choice(
        "json",
        &[
            "io.confluent.connect.hdfs.json.JsonFormat",
            "io.confluent.connect.hdfs3.json.JsonFormat",
            "JsonFormat",
        ],
    ),
    choice(
        "string",
        &[
            "io.confluent.connect.hdfs.string.StringFormat",
            "io.confluent.connect.hdfs3.string.StringFormat",
            "StringFormat",
        ],
    ),
    pending(
        "orc",
        &[
            "io.confluent.connect.hdfs.orc.OrcFormat",
            "io.confluent.connect.hdfs3.orc.OrcFormat",
            "OrcFormat",
        ],
    ),
];

pub const PARTITIONERS: &[Choice] = &[
    choice(
        "default",
        &[
            "io.confluent.connect.storage.partitioner.DefaultPartitioner",
            "io.confluent.connect.hdfs.partitioner.DefaultPartitioner",
            "DefaultPartitioner",
        ],
    ),
    choice(
        "field",
        &[
            "io.confluent.connect.storage.partitioner.FieldPartitioner",
            "io.confluent.connect.hdfs.partitioner.FieldPartitioner",
            "FieldPartitioner",
        ],
    ),
    choice(
        "time",
        &[
            "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
            "io.confluent.connect.hdfs.partitioner.TimeBasedPartitioner",
            "TimeBasedPartitioner",
        ],
    ),
    choice(
        "daily",
        &[
            "io.confluent.connect.storage.partitioner.DailyPartitioner",
            "io.confluent.connect.hdfs.partitioner.DailyPartitioner",
            "DailyPartitioner",
        ],
    ),
    choice(
        "hourly",
        &[
            "io.confluent.connect.storage.partitioner.HourlyPartitioner",
            "io.confluent.connect.hdfs.partitioner.HourlyPartitioner",
            "HourlyPartitioner",
        ],
    ),
];

pub const TIMESTAMP_EXTRACTORS: &[Choice] = &[
    choice(
        "Wallclock",
        &[
            "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$WallclockTimestampExtractor",
        ],
    ),
    choice(
        "Record",
        &["io.confluent.connect.storage.partitioner.TimeBasedPartitioner$RecordTimestampExtractor"],
    ),
    choice(
        "RecordField",
        &[
            "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$RecordFieldTimestampExtractor",
        ],
    ),
];

pub const CONVERTERS: &[Choice] = &[
    choice(
        "json",
        &[
            "org.apache.kafka.connect.json.JsonConverter",
            "JsonConverter",
        ],
    ),
    choice(
        "string",
        &[
            "org.apache.kafka.connect.storage.StringConverter",
            "StringConverter",
        ],
    ),
    choice(
        "bytes",
        &[
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            "ByteArrayConverter",
        ],
    ),
    choice(
        "avro",
        &["io.confluent.connect.avro.AvroConverter", "AvroConverter"],
    ),
    choice(
        "json-schema",
        &[
            "io.confluent.connect.json.JsonSchemaConverter",
            "JsonSchemaConverter",
        ],
    ),
    choice(
        "protobuf",
        &[
            "io.confluent.connect.protobuf.ProtobufConverter",
            "ProtobufConverter",
        ],
    ),
];

pub const SUBJECT_NAME_STRATEGIES: &[Choice] = &[
    choice(
        "TopicNameStrategy",
        &["io.confluent.kafka.serializers.subject.TopicNameStrategy"],
    ),
    choice(
        "RecordNameStrategy",
        &["io.confluent.kafka.serializers.subject.RecordNameStrategy"],
    ),
    choice(
        "TopicRecordNameStrategy",
        &["io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"],
    ),
];

pub const AVRO_CODECS: &[Choice] = &[
    choice("null", &["none", "uncompressed"]),
    choice("deflate", &[]),
    choice("snappy", &[]),
    choice("zstandard", &["zstd"]),
    pending("bzip2", &[]),
];

pub const PARQUET_CODECS: &[Choice] = &[
    choice("snappy", &[]),
    choice("zstd", &["zstandard"]),
    choice("gzip", &[]),
    choice("none", &["uncompressed"]),
];

pub const COMPATIBILITIES: &[Choice] = &[
    choice("NONE", &[]),
    choice("BACKWARD", &[]),
    choice("FORWARD", &[]),
    choice("FULL", &[]),
];

pub const ERROR_TOLERANCES: &[Choice] = &[choice("none", &[]), choice("all", &[])];

pub const OFFSET_POLICIES: &[Choice] = &[choice("earliest", &[]), choice("fail", &[])];

pub const NULL_VALUE_BEHAVIORS: &[Choice] = &[choice("fail", &[]), choice("ignore", &[])];

pub const DECIMAL_FORMATS: &[Choice] = &[choice("BASE64", &[]), choice("NUMERIC", &[])];

const HDFS: &str = "HDFS";
const CONNECT: &str = "Connect";
const CONNECTOR: &str = "Connector";
const PARTITIONER: &str = "Partitioner";
const HIVE: &str = "Hive";
const LAKESINK: &str = "Lakesink";
const WORKER: &str = "Worker";
const CONVERTER: &str = "Converter";
const REGISTRY: &str = "Registry";

/// Every key Lakesink knows, connector keys first, in documentation order.
pub static KEYS: &[KeyDef] = &[
    // --- Kafka Connect connector keys ---
    key(
        "name",
        C,
        CONNECT,
        NonEmpty,
        Required,
        S,
        "Connector name. The consumer group is `connect-<name>`, as in Kafka Connect.",
    ),
    key(
        "connector.class",
        C,
        CONNECT,
        Choice(CONNECTOR_CLASSES),
        Required,
        S,
        "The Confluent HDFS 2 or HDFS 3 sink class; both run the same Lakesink sink.",
    ),
    key(
        "tasks.max",
        C,
        CONNECT,
        Int { min: 1, max: 1024 },
        Value("1"),
        S,
        "Number of tasks (Kafka consumers in the group) this process runs for the connector.",
    ),
    key(
        "tasks.max.enforce",
        C,
        CONNECT,
        Bool,
        Value("true"),
        NoEffect("Lakesink never starts more tasks than tasks.max."),
        "Fail if the connector asks for more tasks than `tasks.max`.",
    ),
    key(
        "topics",
        C,
        CONNECT,
        List,
        Unset,
        S,
        "Comma-separated topics to consume. Exactly one of `topics` and `topics.regex` is required.",
    ),
    key(
        "topics.regex",
        C,
        CONNECT,
        Regex,
        Unset,
        S,
        "Regular expression of topics to consume, matched against whole topic names; topics created later that match are picked up. Use POSIX extended syntax (librdkafka applies it): groups `( )`, classes `[a-z]`, `.*`, `|`; no `(?:` or look-arounds.",
    ),
    key(
        "key.converter",
        C,
        CONNECT,
        Choice(CONVERTERS),
        Unset,
        S,
        "Converter for record keys; overrides the worker's. Keys are not written to files (as in the Confluent sink), but, as in Connect, every key is converted: a key that does not convert fails its record at stage `KEY_CONVERTER` (the task stops, or with `errors.tolerance=all` the record becomes a dead letter). `StringConverter` and `ByteArrayConverter` accept any key.",
    ),
    key(
        "value.converter",
        C,
        CONNECT,
        Choice(CONVERTERS),
        Unset,
        S,
        "Converter for record values; overrides the worker's. Its settings are the `value.converter.*` keys of the same file.",
    ),
    key(
        "header.converter",
        C,
        CONNECT,
        String,
        Unset,
        NoEffect("headers are not written to files"),
        "Converter for headers.",
    ),
    key(
        "config.action.reload",
        C,
        CONNECT,
        String,
        Value("restart"),
        NoEffect("Lakesink has no config providers yet"),
        "Reaction to config-provider changes.",
    ),
    key(
        "transforms",
        C,
        CONNECT,
        List,
        Unset,
        S,
        "The aliases of the single message transforms, applied in order; each is configured by `transforms.<alias>.type` and its keys (see *Transforms and predicates*).",
    ),
    key(
        "predicates",
        C,
        CONNECT,
        List,
        Unset,
        S,
        "The aliases of the predicates that transforms name in `transforms.<alias>.predicate`; each is configured by `predicates.<alias>.type` and its keys.",
    ),
    key(
        "errors.tolerance",
        C,
        CONNECT,
        Choice(ERROR_TOLERANCES),
        Value("none"),
        S,
        "`none`: a record that cannot be converted or placed stops the task with an error naming its topic, partition, offset and cause; nothing after it is committed. `all`: such a record goes to the dead-letter queue (`errors.deadletterqueue.topic.name`) and the partition moves on. Failures at every stage count: deserialization, schema lookup (an unknown id), conversion, partitioning and encoding (a schema the format cannot hold). Transient failures (Schema Registry or storage unavailable) are retried, never tolerated.",
    ),
    key(
        "errors.retry.timeout",
        C,
        CONNECT,
        Int {
            min: -1,
            max: LONG_MAX,
        },
        Value("0"),
        S,
        "How long transient failures are retried before the task stops, in ms; `-1`: forever. In Lakesink these are a Schema Registry that cannot be reached (connection errors, HTTP 5xx, timeouts), which is retried with backoff, each retry logged, for at least five minutes whatever this says (Connect's default 0 would stop the task, or under `errors.tolerance=all` dead-letter the record, at the first blip); records that are bad are never retried. Storage failures are retried per partition after `retry.backoff.ms`.",
    ),
    key(
        "errors.retry.delay.max.ms",
        C,
        CONNECT,
        Int {
            min: 1,
            max: LONG_MAX,
        },
        Value("60000"),
        S,
        "The longest wait between two retries of a transient failure (see `errors.retry.timeout`); the wait doubles from 200 ms. Unset, Lakesink waits at most 10 s.",
    ),
    key(
        "errors.log.enable",
        C,
        CONNECT,
        Bool,
        Value("false"),
        S,
        "Log each tolerated record at ERROR with the stage, the class and the cause. Without it, a tolerated record that no dead-letter queue keeps is still logged, at WARN: a record is never dropped silently.",
    ),
    key(
        "errors.log.include.messages",
        C,
        CONNECT,
        Bool,
        Value("false"),
        S,
        "Include the record's topic, partition, offset and timestamp in the logs of `errors.log.enable`.",
    ),
    key(
        "errors.deadletterqueue.topic.name",
        C,
        CONNECT,
        String,
        Value(""),
        S,
        "With `errors.tolerance=all`: the topic receiving each tolerated record with its original key, value and headers. Created at start-up if missing (one partition). Each batch's dead letters are acknowledged by Kafka before any offset after them is committed. May not be one of the consumed topics.",
    ),
    key(
        "errors.deadletterqueue.topic.replication.factor",
        C,
        CONNECT,
        Int { min: 1, max: 32767 },
        Value("3"),
        S,
        "Replication factor of the dead-letter queue topic when Lakesink creates it; a factor above the number of brokers is an error.",
    ),
    key(
        "errors.deadletterqueue.context.headers.enable",
        C,
        CONNECT,
        Bool,
        Value("false"),
        S,
        "Add Connect's `__connect.errors.*` headers to dead letters: topic, partition, offset, connector name, task id, stage, class name, exception class, message and the cause chain.",
    ),
    // --- HDFS / storage ---
    key(
        "store.url",
        C,
        HDFS,
        StoreUrl,
        Unset,
        S,
        "Where files go: `hdfs://namenode:port`, `hdfs://<nameservice>` (with `hadoop.conf.dir`), `viewfs://...`, or `file:///path` for the local file system. One of `store.url` and `hdfs.url` is required; `store.url` wins.",
    ),
    key(
        "hdfs.url",
        C,
        HDFS,
        StoreUrl,
        Unset,
        S,
        "Deprecated alias of `store.url`.",
    ),
    key(
        "hadoop.conf.dir",
        C,
        HDFS,
        String,
        Value(""),
        S,
        "Directory with `core-site.xml` and `hdfs-site.xml` (name services, HA, client settings). As for Hadoop's Java client, its `dfs.blocksize` is the block size of the files Lakesink streams into HDFS (files written in one go below 64 MiB get a block of their own size); without it, the NameNode's default. Unset: `$HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop`.",
    ),
    key(
        "hadoop.home",
        C,
        HDFS,
        String,
        Value(""),
        NoEffect("Lakesink's HDFS client is native and needs no Hadoop installation"),
        "Hadoop home directory.",
    ),
    key(
        "topics.dir",
        C,
        HDFS,
        NonEmpty,
        Value("topics"),
        S,
        "Directory under the store URL for committed data files; temp files go to `<topics.dir>/+tmp`. May contain `${topic}` and the groups `${n}` of `topic.capture.groups.regex`.",
    ),
    key(
        "logs.dir",
        C,
        HDFS,
        NonEmpty,
        Value("logs"),
        S,
        "Directory under the store URL for the per-partition commit logs. Must be unique per connector. May contain `${topic}` and `${n}` like `topics.dir`.",
    ),
    key(
        "topic.capture.groups.regex",
        C,
        HDFS,
        Regex,
        Unset,
        S,
        "Regex that must match the whole topic name; its groups `${0}`..`${n}` may be used in `topics.dir` and `logs.dir` (as may `${topic}`).",
    ),
    key(
        "storage.class",
        C,
        HDFS,
        String,
        Value("io.confluent.connect.hdfs.storage.HdfsStorage"),
        NoEffect("the storage is chosen by the scheme of store.url"),
        "Storage implementation class.",
    ),
    key(
        "directory.delim",
        C,
        HDFS,
        Choice(&[choice("/", &[])]),
        Value("/"),
        S,
        "Delimiter between path components written by partitioners.",
    ),
    key(
        "file.delim",
        C,
        HDFS,
        String,
        Value("+"),
        NoEffect("as in the Confluent HDFS sink, committed file names always use '+'"),
        "File name delimiter.",
    ),
    key(
        "hdfs.authentication.kerberos",
        C,
        HDFS,
        Bool,
        Value("false"),
        NotYet,
        "Kerberos authentication to HDFS.",
    ),
    key(
        "connect.hdfs.principal",
        C,
        HDFS,
        String,
        Value(""),
        NotYet,
        "Kerberos principal of the connector.",
    ),
    key(
        "connect.hdfs.keytab",
        C,
        HDFS,
        String,
        Value(""),
        NotYet,
        "Keytab of the connector principal.",
    ),
    key(
        "hdfs.namenode.principal",
        C,
        HDFS,
        String,
        Value(""),
        NotYet,
        "Kerberos principal of the NameNode.",
    ),
    key(
        "kerberos.ticket.renew.period.ms",
        C,
        HDFS,
        Int {
            min: 0,
            max: LONG_MAX,
        },
        Value("3600000"),
        NotYet,
        "Kerberos ticket renewal period.",
    ),
    // --- Connector (storage-common) ---
    key(
        "format.class",
        C,
        CONNECTOR,
        Choice(FORMATS),
        Value("avro"),
        S,
        "Output format: Avro object container files (`.avro`), Parquet (`.parquet`), JSON lines (`.json`) or text (`.txt`).",
    ),
    key(
        "flush.size",
        C,
        CONNECTOR,
        Int {
            min: 1,
            max: INT_MAX,
        },
        Required,
        S,
        "Commit a file once it has this many records. Counted per output directory (the Confluent sink counts per Kafka partition across its directories; with DefaultPartitioner that is the same). Per-topic override: `topic.<topic>.flush.size`.",
    ),
    key(
        "rotate.interval.ms",
        C,
        CONNECTOR,
        Int {
            min: -1,
            max: LONG_MAX,
        },
        Value("-1"),
        S,
        "Commit a file once the record times in it span this many milliseconds (-1 = off). Record time is the time-based partitioner's timestamp, otherwise the Kafka record timestamp. Per-topic override: `topic.<topic>.rotate.interval.ms`.",
    ),
    key(
        "rotate.schedule.interval.ms",
        C,
        CONNECTOR,
        Int {
            min: -1,
            max: LONG_MAX,
        },
        Value("-1"),
        S,
        "Commit open files on the wall clock every interval, aligned to midnight in `timezone`, also when the partition is idle (-1 = off). Per-topic override: `topic.<topic>.rotate.schedule.interval.ms`.",
    ),
    key(
        "retry.backoff.ms",
        C,
        CONNECTOR,
        Int {
            min: 0,
            max: LONG_MAX,
        },
        Value("5000"),
        S,
        "Wait before retrying a partition after a storage error. A partition whose storage stays unavailable is paused and recovered again after each such wait, for as long as the outage lasts (each attempt logged); its records are read again from its last commit.",
    ),
    key(
        "shutdown.timeout.ms",
        C,
        CONNECTOR,
        Int {
            min: 0,
            max: LONG_MAX,
        },
        Value("3000"),
        S,
        "How long a graceful stop may spend committing open files before it gives up (they are then re-read from Kafka).",
    ),
    key(
        "filename.offset.zero.pad.width",
        C,
        CONNECTOR,
        Int { min: 0, max: 20 },
        Value("10"),
        S,
        "Minimum width of the zero-padded offsets in committed file names.",
    ),
    key(
        "avro.codec",
        C,
        CONNECTOR,
        Choice(AVRO_CODECS),
        Value("null"),
        S,
        "Compression of Avro container blocks.",
    ),
    key(
        "parquet.codec",
        C,
        CONNECTOR,
        Choice(PARQUET_CODECS),
        Value("snappy"),
        S,
        "Parquet page compression (honoured, unlike the Confluent HDFS 2 sink).",
    ),
    key(
        "schema.compatibility",
        C,
        CONNECTOR,
        Choice(COMPATIBILITIES),
        Value("NONE"),
        S,
        "Schema evolution policy; every file holds values of exactly one schema. `NONE`: any change of value schema starts new files. `BACKWARD` and `FULL`: a newer schema version starts new files; records of an older version are projected to the newer one (added fields take their defaults, numbers widen) and join its files, so mixed-version topics do not make small files; when no projection exists, new files start. `FORWARD`: a change starts new files (the anchor projects newer records down to the older schema, dropping their new fields; Lakesink never drops values). Versions come from the Schema Registry (the version under `<topic>-value`) or the JSON envelope's `version`; values without one start new files on a change, where the anchor's task fails. After a restart, as in the anchor, the current schema is that of the partition's last committed Avro or Parquet file. See docs/schema-evolution.md.",
    ),
    key(
        "schemas.cache.config",
        C,
        CONNECTOR,
        Int {
            min: 1,
            max: INT_MAX,
        },
        Value("1000"),
        NoEffect("Lakesink caches every schema of its open files"),
        "Size of the schema cache.",
    ),
    key(
        "enhanced.avro.schema.support",
        C,
        CONNECTOR,
        Bool,
        Value("true"),
        S,
        "AvroFormat with `AvroConverter` values: `true` keeps the records' writer schema in the files (enums stay enums, names keep their namespaces) and copies the records' datums into them unchanged; `false` writes the Connect-derived schema (enums as strings), every record encoded again.",
    ),
    key(
        "connect.meta.data",
        C,
        CONNECTOR,
        Bool,
        Value("true"),
        S,
        "AvroFormat files that keep the writer schema: `true` adds Connect's `connect.version` and `connect.name` to its record (a connector reading the last file's schema at start-up needs the version); `false` writes the writer schema as the registry holds it. (Files with the Connect-derived schema always carry Connect's metadata.)",
    ),
    key(
        "allow.optional.map.keys",
        C,
        CONNECTOR,
        Bool,
        Value("false"),
        NoEffect("used with Schema Registry converters, not supported yet"),
        "Allow optional map keys in Avro schemas.",
    ),
    // --- Partitioner ---
    key(
        "partitioner.class",
        C,
        PARTITIONER,
        Choice(PARTITIONERS),
        Value("default"),
        S,
        "How records are spread over directories: `DefaultPartitioner` writes `<topic>/partition=<p>`; `FieldPartitioner` `<topic>/<field>=<value>/...`; `TimeBasedPartitioner` `<topic>/<path.format of the record's time bucket>`; `DailyPartitioner` and `HourlyPartitioner` are time-based with fixed formats (`'year'=YYYY/'month'=MM/'day'=dd[/'hour'=HH]`).",
    ),
    key(
        "partition.field.name",
        C,
        PARTITIONER,
        List,
        Unset,
        S,
        "FieldPartitioner: the value fields whose values name the directories, in order; nested fields with dots (`customer.country`). Integer, string and boolean values; a null gives `<field>=null`. Values are escaped as Hive escapes partition values.",
    ),
    key(
        "partition.duration.ms",
        C,
        PARTITIONER,
        Int {
            min: -1,
            max: LONG_MAX,
        },
        Value("-1"),
        S,
        "TimeBasedPartitioner: width of a time bucket in milliseconds (required, > 0). Buckets are aligned to local midnight of `timezone`.",
    ),
    key(
        "path.format",
        C,
        PARTITIONER,
        String,
        Value(""),
        S,
        "TimeBasedPartitioner: Joda-Time pattern of a bucket's directory, e.g. `'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH` (text in quotes is literal; `YYYY` is the year of era, as in Joda).",
    ),
    key(
        "locale",
        C,
        PARTITIONER,
        String,
        Value(""),
        S,
        "Time-based partitioners: locale of month and day names in `path.format` (required; e.g. `en-US`; names are printed in English).",
    ),
    key(
        "timezone",
        C,
        PARTITIONER,
        TimeZone,
        Unset,
        S,
        "Time zone for `rotate.schedule.interval.ms` and time-based partitioners (required with either).",
    ),
    key(
        "timestamp.extractor",
        C,
        PARTITIONER,
        Choice(TIMESTAMP_EXTRACTORS),
        Value("Wallclock"),
        S,
        "Time-based partitioners: where a record's time comes from. `Wallclock`: the time it is written; `Record`: the Kafka record timestamp; `RecordField`: the value field `timestamp.field`.",
    ),
    key(
        "timestamp.field",
        C,
        PARTITIONER,
        String,
        Value("timestamp"),
        S,
        "The value field holding the time for `timestamp.extractor=RecordField` (dots for nested fields): epoch milliseconds, an ISO-8601 string, or a Timestamp/Date.",
    ),
    // --- Hive ---
    key(
        "hive.integration",
        C,
        HIVE,
        Bool,
        Value("false"),
        NotYet,
        "Register tables and partitions in the Hive Metastore.",
    ),
    key(
        "hive.metastore.uris",
        C,
        HIVE,
        String,
        Value(""),
        NoEffect("Hive integration is not supported yet"),
        "Metastore URIs.",
    ),
    key(
        "hive.conf.dir",
        C,
        HIVE,
        String,
        Value(""),
        NoEffect("Hive integration is not supported yet"),
        "Hive configuration directory.",
    ),
    key(
        "hive.home",
        C,
        HIVE,
        String,
        Value(""),
        NoEffect("Hive integration is not supported yet"),
        "Hive home.",
    ),
    key(
        "hive.database",
        C,
        HIVE,
        String,
        Value("default"),
        NoEffect("Hive integration is not supported yet"),
        "Hive database.",
    ),
    key(
        "hive.table.name",
        C,
        HIVE,
        String,
        Value("${topic}"),
        NoEffect("Hive integration is not supported yet"),
        "Hive table name template.",
    ),
    // --- Confluent licence keys of the HDFS 3 sink ---
    key(
        "confluent.license",
        C,
        CONNECT,
        String,
        Value(""),
        NoEffect("Lakesink needs no licence"),
        "Confluent licence.",
    ),
    key(
        "confluent.topic.bootstrap.servers",
        C,
        CONNECT,
        String,
        Value(""),
        NoEffect("Lakesink needs no licence topic"),
        "Licence topic brokers.",
    ),
    key(
        "confluent.topic.replication.factor",
        C,
        CONNECT,
        String,
        Value("3"),
        NoEffect("Lakesink needs no licence topic"),
        "Licence topic replication.",
    ),
    key(
        "behavior.on.null.values",
        C,
        CONNECTOR,
        Choice(NULL_VALUE_BEHAVIORS),
        Value("fail"),
        S,
        "A record whose value is null (a tombstone): `fail` stops the task with an error naming the record; `ignore` skips it. Key and values as in Confluent's S3 sink.",
    ),
    // --- Lakesink's own keys ---
    key(
        "lakesink.parquet.row.group.bytes",
        C,
        LAKESINK,
        Int {
            min: 1024,
            max: LONG_MAX,
        },
        Value("134217728"),
        S,
        "A Parquet row group is closed once its buffered data reaches this many bytes (the Confluent sink hard-codes 256 MiB).",
    ),
    key(
        "lakesink.rotate.size.bytes",
        C,
        LAKESINK,
        Int {
            min: -1,
            max: LONG_MAX,
        },
        Value("-1"),
        S,
        "Commit a file once it holds about this many bytes (the format's buffered size plus what is written; -1 = off), so files come out near a target size. Per-topic override: `topic.<topic>.lakesink.rotate.size.bytes`.",
    ),
    key(
        "lakesink.max.open.files",
        C,
        LAKESINK,
        Int {
            min: 1,
            max: INT_MAX,
        },
        Value("4096"),
        S,
        "Output files a connector keeps open in this worker. From three quarters of it on, each Kafka partition holding more than its share (the limit divided by the partitions) commits its oldest files early. Applied after every batch and every second, so partitions writing at the same time can pass it briefly.",
    ),
    key(
        "lakesink.max.buffered.bytes",
        C,
        LAKESINK,
        Int {
            min: 1048576,
            max: LONG_MAX,
        },
        Value("134217728"),
        S,
        "Bytes of file data a connector holds in memory in this worker (rows not yet written to storage). From three quarters of it on, each Kafka partition holding more than its share moves its large files (4 MiB or more) to storage, compacts Parquet row groups in memory, or commits files early, largest first. Applied after every batch and every second, so partitions writing at the same time can pass it briefly.",
    ),
    key(
        "lakesink.storage.concurrency",
        C,
        LAKESINK,
        Int { min: 1, max: 4096 },
        Value("128"),
        S,
        "Most data files a connector writes and closes in storage at the same time in this worker. A DataNode reserves a whole block (128 MiB by default) for every replica being written, so committing thousands of small files at once could exhaust its space; an HDFS close also waits for the block report (about 0.5 s), so a higher value commits many small files faster.",
    ),
    key(
        "lakesink.task.restart.max.attempts",
        C,
        LAKESINK,
        Int {
            min: -1,
            max: INT_MAX,
        },
        Value("6"),
        S,
        "How many times in a row a failed task is restarted by itself before it stays `FAILED` (Kafka Connect never restarts one). 0 restarts none, as Connect; -1 restarts forever. The count starts again after a task has run for `lakesink.task.restart.backoff.max.ms` without failing, and after a restart through the REST API.",
    ),
    key(
        "lakesink.task.restart.backoff.ms",
        C,
        LAKESINK,
        Int {
            min: 0,
            max: INT_MAX,
        },
        Value("30000"),
        S,
        "How long a failed task stays `FAILED` before its first restart; each further restart in a row waits twice as long, up to `lakesink.task.restart.backoff.max.ms`.",
    ),
    key(
        "lakesink.task.restart.backoff.max.ms",
        C,
        LAKESINK,
        Int {
            min: 0,
            max: INT_MAX,
        },
        Value("1800000"),
        S,
        "The longest wait before a restart of a failed task.",
    ),
    key(
        "lakesink.offset.out.of.range",
        C,
        LAKESINK,
        Choice(OFFSET_POLICIES),
        Value("earliest"),
        S,
        "What to do when the next offset to write has already been deleted by Kafka retention: `earliest` logs the lost offset range at ERROR and continues from the earliest offset; `fail` stops the partition's task.",
    ),
    key(
        "lakesink.config.unknown.keys",
        C,
        LAKESINK,
        Choice(&[choice("error", &[]), choice("warn", &[])]),
        Value("error"),
        S,
        "`error`: a key Lakesink does not know stops start-up with its name; `warn`: it is logged and skipped.",
    ),
    // --- Worker ---
    key(
        "bootstrap.servers",
        W,
        WORKER,
        NonEmpty,
        Value("localhost:9092"),
        S,
        "Kafka brokers.",
    ),
    key(
        "lakesink.worker.id",
        W,
        WORKER,
        String,
        Unset,
        S,
        "A stable name for this worker process, unique in the cluster. When set, each task joins its group with static membership (`group.instance.id` = `<worker id>.<connector>.task-<n>`): a restarted worker gets its partitions back at once instead of after the session timeout, and a restart causes no rebalance.",
    ),
    key(
        "key.converter",
        W,
        WORKER,
        Choice(CONVERTERS),
        Unset,
        S,
        "Default converter for keys; its settings are the worker's `key.converter.*` keys. Keys are converted (a key that does not convert fails its record) but not written.",
    ),
    key(
        "value.converter",
        W,
        WORKER,
        Choice(CONVERTERS),
        Unset,
        S,
        "Default converter for values; its settings are the worker's `value.converter.*` keys.",
    ),
    key(
        "header.converter",
        W,
        WORKER,
        String,
        Unset,
        NoEffect("headers are not written to files"),
        "Header converter.",
    ),
    // --- Distributed mode (`lakesink distributed worker.properties`), Connect's keys. ---
    key(
        "group.id",
        W,
        DISTRIBUTED,
        NonEmpty,
        Unset,
        S,
        "The Connect cluster: workers with the same `group.id` share the connectors. Required by `lakesink distributed`; `lakesink standalone` ignores it (a sink's own consumer group is `connect-<name>` in both modes).",
    ),
    key(
        "config.storage.topic",
        W,
        DISTRIBUTED,
        NonEmpty,
        Unset,
        S,
        "The compacted, single-partition topic of connector configs, target states, task configs and restart requests, in Connect's record format. Created when absent; an existing topic with more than one partition is refused. Required by `lakesink distributed`.",
    ),
    key(
        "config.storage.replication.factor",
        W,
        DISTRIBUTED,
        Int {
            min: -1,
            max: 32767,
        },
        Value("3"),
        S,
        "Replication factor of `config.storage.topic` when it is created (`-1`: the broker's default).",
    ),
    key(
        "status.storage.topic",
        W,
        DISTRIBUTED,
        NonEmpty,
        Unset,
        S,
        "The compacted topic of connector and task statuses, in Connect's record format. Created when absent. Required by `lakesink distributed`.",
    ),
    key(
        "status.storage.partitions",
        W,
        DISTRIBUTED,
        Int {
            min: -1,
            max: 100000,
        },
        Value("5"),
        S,
        "Partitions of `status.storage.topic` when it is created (`-1`: the broker's default).",
    ),
    key(
        "status.storage.replication.factor",
        W,
        DISTRIBUTED,
        Int {
            min: -1,
            max: 32767,
        },
        Value("3"),
        S,
        "Replication factor of `status.storage.topic` when it is created (`-1`: the broker's default).",
    ),
    key(
        "offset.storage.topic",
        W,
        DISTRIBUTED,
        String,
        Unset,
        NoEffect(
            "a sink's offsets live in the commit log next to its files; Connect uses this topic for source connectors only",
        ),
        "Source connectors' offsets topic.",
    ),
    key(
        "session.timeout.ms",
        W,
        DISTRIBUTED,
        Int {
            min: 1000,
            max: 3600000,
        },
        Value("10000"),
        S,
        "How long a worker may go silent before the others take its tasks over: the worker group's session timeout. Lost tasks are reassigned as soon as the group drops the worker (Connect waits `scheduled.rebalance.max.delay.ms` more).",
    ),
    key(
        "heartbeat.interval.ms",
        W,
        DISTRIBUTED,
        Int {
            min: 100,
            max: 3600000,
        },
        Value("3000"),
        S,
        "Heartbeats of a worker to the worker group; below a third of `session.timeout.ms`.",
    ),
    key(
        "rebalance.timeout.ms",
        W,
        DISTRIBUTED,
        Int {
            min: 1000,
            max: 2147483647,
        },
        Value("60000"),
        S,
        "How long the worker group waits for its members to rejoin during a rebalance (the membership consumer's `max.poll.interval.ms`).",
    ),
    key(
        "scheduled.rebalance.max.delay.ms",
        W,
        DISTRIBUTED,
        Int {
            min: 0,
            max: 2147483647,
        },
        Value("300000"),
        NoEffect(
            "Lakesink reassigns a lost worker's tasks as soon as the group drops it: sink tasks are fenced by their consumer group, so waiting for the worker to return protects nothing",
        ),
        "Connect: how long lost work waits for its worker.",
    ),
    key(
        "offset.storage.file.filename",
        W,
        WORKER,
        String,
        Unset,
        NoEffect("used by source connectors only"),
        "Source offsets file.",
    ),
    key(
        "offset.flush.interval.ms",
        W,
        WORKER,
        Int {
            min: 0,
            max: LONG_MAX,
        },
        Value("60000"),
        NoEffect("Lakesink commits consumer offsets after every file commit"),
        "How often Connect commits consumer offsets.",
    ),
    key(
        "offset.flush.timeout.ms",
        W,
        WORKER,
        Int {
            min: 0,
            max: LONG_MAX,
        },
        Value("5000"),
        NoEffect("see offset.flush.interval.ms"),
        "Offset commit timeout.",
    ),
    key(
        "plugin.path",
        W,
        WORKER,
        String,
        Unset,
        NoEffect("Lakesink has its plugins built in"),
        "Connect plugin path.",
    ),
    key(
        "listeners",
        W,
        WORKER,
        List,
        Value("http://:8083"),
        S,
        "Where the Connect REST API and `/metrics` are served: a comma-separated list of `http://host:port` (an empty host binds every interface; port 0 picks a free port, logged at start-up). An empty value serves no API.",
    ),
    key(
        "rest.port",
        W,
        WORKER,
        String,
        Unset,
        NoEffect("removed in Kafka 3.0 (KAFKA-12482): Connect takes `listeners`"),
        "REST port.",
    ),
    key(
        "rest.host.name",
        W,
        WORKER,
        String,
        Unset,
        NoEffect("removed in Kafka 3.0 (KAFKA-12482): Connect takes `listeners`"),
        "REST host.",
    ),
    key(
        "rest.advertised.host.name",
        W,
        WORKER,
        String,
        Unset,
        S,
        "The host other workers and clients reach this worker at; with `rest.advertised.port` it is the `worker_id` in REST statuses. Default: the first listener's host, or this machine's host name when that is empty.",
    ),
    key(
        "rest.advertised.port",
        W,
        WORKER,
        Int { min: 0, max: 65535 },
        Unset,
        S,
        "The port of the advertised address. Default: the first listener's bound port.",
    ),
    key(
        "connector.client.config.override.policy",
        W,
        WORKER,
        Choice(&[
            choice("All", &[]),
            choice("None", &[]),
            pending("Principal", &[]),
        ]),
        Value("All"),
        S,
        "Whether connectors may set `consumer.override.*` keys.",
    ),
    // --- Kafka Connect 4.x worker keys with no effect in Lakesink (WorkerConfig,
    // StandaloneConfig, DistributedConfig): a worker file written for Connect loads unchanged. ---
    accepted(
        "connect.protocol",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "inter.worker.key.generation.algorithm",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "inter.worker.key.size",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "inter.worker.key.ttl.ms",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "inter.worker.signature.algorithm",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "inter.worker.verification.algorithms",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "offset.storage.partitions",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "offset.storage.replication.factor",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "worker.sync.timeout.ms",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "worker.unsync.backoff.ms",
        W,
        CONNECT_DISTRIBUTED,
        "Connect distributed mode (worker group, internal topics).",
    ),
    accepted(
        "exactly.once.source.support",
        W,
        CONNECT_SOURCE_ONLY,
        "Source connectors.",
    ),
    accepted(
        "topic.creation.enable",
        W,
        CONNECT_SOURCE_ONLY,
        "Source connectors.",
    ),
    accepted(
        "access.control.allow.methods",
        W,
        CONNECT_REST,
        "Connect REST API.",
    ),
    accepted(
        "access.control.allow.origin",
        W,
        CONNECT_REST,
        "Connect REST API.",
    ),
    accepted(
        "admin.listeners",
        W,
        "`/admin/loggers` is served on `listeners`",
        "Connect REST API.",
    ),
    accepted(
        "response.http.headers.config",
        W,
        CONNECT_REST,
        "Connect REST API.",
    ),
    accepted(
        "rest.advertised.listener",
        W,
        CONNECT_REST,
        "Connect REST API.",
    ),
    accepted(
        "rest.extension.classes",
        W,
        "Java REST extensions cannot be loaded into Lakesink",
        "Connect REST API.",
    ),
    accepted(
        "ssl.client.auth",
        W,
        "the REST API serves plain HTTP only so far",
        "Connect REST API.",
    ),
    key(
        "topic.tracking.allow.reset",
        W,
        WORKER,
        Bool,
        Value("true"),
        S,
        "Whether `PUT /connectors/{name}/topics/reset` may clear a connector's set of active topics.",
    ),
    key(
        "topic.tracking.enable",
        W,
        WORKER,
        Bool,
        Value("true"),
        S,
        "Whether the REST API reports the topics each connector has read from (`GET /connectors/{name}/topics`).",
    ),
    accepted(
        "client.dns.lookup",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "client.id",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "connections.max.idle.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "metadata.max.age.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "metadata.recovery.rebootstrap.trigger.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "metadata.recovery.strategy",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "receive.buffer.bytes",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "reconnect.backoff.max.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "reconnect.backoff.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "request.timeout.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "retry.backoff.max.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "retry.backoff.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "security.protocol",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "send.buffer.bytes",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "socket.connection.setup.timeout.max.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "socket.connection.setup.timeout.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.client.callback.handler.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.jaas.config",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.kerberos.kinit.cmd",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.kerberos.min.time.before.relogin",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.kerberos.service.name",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.kerberos.ticket.renew.jitter",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.kerberos.ticket.renew.window.factor",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.callback.handler.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.connect.timeout.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.read.timeout.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.refresh.buffer.seconds",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.refresh.min.period.seconds",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.refresh.window.factor",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.refresh.window.jitter",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.retry.backoff.max.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.login.retry.backoff.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.mechanism",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.algorithm",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.aud",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.exp.seconds",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.iss",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.jti.include",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.nbf.seconds",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.claim.sub",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.file",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.private.key.file",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.private.key.passphrase",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.assertion.template.file",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.client.credentials.client.id",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.client.credentials.client.secret",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.clock.skew.seconds",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.expected.audience",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.expected.issuer",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.header.urlencode",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwks.endpoint.url",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwt.retriever.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.jwt.validator.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.scope",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.scope.claim.name",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.sub.claim.name",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "sasl.oauthbearer.token.endpoint.url",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.cipher.suites",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.enabled.protocols",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.endpoint.identification.algorithm",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.engine.factory.class",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.key.password",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keymanager.algorithm",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keystore.certificate.chain",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keystore.key",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keystore.location",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keystore.password",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.keystore.type",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.protocol",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.provider",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.secure.random.implementation",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.trustmanager.algorithm",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.truststore.certificates",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.truststore.location",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.truststore.password",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted(
        "ssl.truststore.type",
        W,
        CONNECT_WORKER_CLIENTS,
        "Kafka client setting of the worker's own clients.",
    ),
    accepted("metric.reporters", W, CONNECT_METRICS, "Connect metrics."),
    accepted(
        "metrics.num.samples",
        W,
        CONNECT_METRICS,
        "Connect metrics.",
    ),
    accepted(
        "metrics.recording.level",
        W,
        CONNECT_METRICS,
        "Connect metrics.",
    ),
    accepted(
        "metrics.sample.window.ms",
        W,
        CONNECT_METRICS,
        "Connect metrics.",
    ),
    accepted(
        "header.converter.plugin.version",
        W,
        CONNECT_PLUGINS,
        "Plugin versions and discovery.",
    ),
    accepted(
        "key.converter.plugin.version",
        W,
        CONNECT_PLUGINS,
        "Plugin versions and discovery.",
    ),
    accepted(
        "value.converter.plugin.version",
        W,
        CONNECT_PLUGINS,
        "Plugin versions and discovery.",
    ),
    accepted(
        "plugin.discovery",
        W,
        CONNECT_PLUGINS,
        "Plugin versions and discovery.",
    ),
    accepted(
        "task.shutdown.graceful.timeout.ms",
        W,
        CONNECT_SHUTDOWN,
        "How long Connect waits for tasks to stop.",
    ),
    accepted(
        "config.providers",
        W,
        CONNECT_PROVIDERS,
        "Config providers (`${provider:path:key}` values).",
    ),
    // Removed from Connect since 2.0; Connect 4.x ignores them too.
    accepted(
        "internal.key.converter",
        W,
        REMOVED_KIP_738,
        "Converter of the internal topics.",
    ),
    accepted(
        "internal.value.converter",
        W,
        REMOVED_KIP_738,
        "Converter of the internal topics.",
    ),
    accepted(
        "auto.include.jmx.reporter",
        W,
        "removed in Kafka 4.0 (KAFKA-14158); metric.reporters took its place",
        "JMX reporter switch.",
    ),
    accepted(
        "connector.client.config.override.allowlist",
        W,
        "Lakesink's override policies are All and None",
        "Keys the Allowlist policy lets connectors override (Kafka 4.2).",
    ),
    // --- Kafka Connect 4.x connector keys with no effect (ConnectorConfig) ---
    accepted(
        "connector.plugin.version",
        C,
        CONNECT_PLUGINS,
        "Plugin version.",
    ),
    accepted(
        "key.converter.plugin.version",
        C,
        CONNECT_PLUGINS,
        "Plugin version.",
    ),
    accepted(
        "value.converter.plugin.version",
        C,
        CONNECT_PLUGINS,
        "Plugin version.",
    ),
    accepted(
        "header.converter.plugin.version",
        C,
        CONNECT_PLUGINS,
        "Plugin version.",
    ),
    // --- Converter settings (after `key.converter.` / `value.converter.`) ---
    key(
        "schemas.enable",
        V,
        CONVERTER,
        Bool,
        Value("true"),
        S,
        "JsonConverter: records are `{\"schema\":..,\"payload\":..}` envelopes giving typed columns (as in Connect, an envelope with another field fails its record); `false`: schemaless JSON, only for the JSON and String formats.",
    ),
    key(
        "schemas.cache.size",
        V,
        CONVERTER,
        Int {
            min: 0,
            max: INT_MAX,
        },
        Value("1000"),
        NoEffect("Lakesink caches the envelope schemas of its open files"),
        "JsonConverter schema cache size.",
    ),
    key(
        "decimal.format",
        V,
        CONVERTER,
        Choice(DECIMAL_FORMATS),
        Value("BASE64"),
        S,
        "JsonConverter: how `Decimal` values are encoded in the JSON.",
    ),
    key(
        "replace.null.with.default",
        V,
        CONVERTER,
        Bool,
        Value("true"),
        S,
        "JsonConverter: a null field with a schema default takes the default.",
    ),
    key(
        "converter.encoding",
        V,
        CONVERTER,
        Choice(&[choice("UTF-8", &["UTF8", "utf-8", "utf8"])]),
        Value("UTF-8"),
        S,
        "StringConverter: character set of the bytes.",
    ),
    key(
        "schema.registry.url",
        V,
        CONVERTER,
        List,
        Unset,
        S,
        "Schema Registry converters (Avro, JSON Schema, Protobuf): Schema Registry URLs (tried in order); required. Each record's writer schema is fetched once by the id in its prefix and cached.",
    ),
    key(
        "basic.auth.credentials.source",
        V,
        CONVERTER,
        Choice(&[
            choice("URL", &[]),
            choice("USER_INFO", &[]),
            pending("SASL_INHERIT", &[]),
        ]),
        Value("URL"),
        S,
        "Schema Registry converters: where the registry's HTTP basic credentials come from: `user:password@` in the URL, or `basic.auth.user.info`.",
    ),
    key(
        "basic.auth.user.info",
        V,
        CONVERTER,
        String,
        Unset,
        S,
        "Schema Registry converters: `user:password` for the registry, with basic.auth.credentials.source=USER_INFO.",
    ),
    key(
        "auto.register.schemas",
        V,
        CONVERTER,
        Bool,
        Value("true"),
        NoEffect("a sink only reads schemas; it never registers one"),
        "Serializer setting.",
    ),
    key(
        "use.latest.version",
        V,
        CONVERTER,
        Bool,
        Value("false"),
        NoEffect("a sink decodes each record with the writer schema named by its id"),
        "Serializer setting.",
    ),
    key(
        "value.subject.name.strategy",
        V,
        CONVERTER,
        Choice(SUBJECT_NAME_STRATEGIES),
        Value("TopicNameStrategy"),
        S,
        "Schema Registry value converters: the subject whose version a value schema gets (`schema.compatibility` compares versions): `TopicNameStrategy` `<topic>-value`; `RecordNameStrategy` the record's full name (Avro record, JSON Schema `title`, Protobuf message); `TopicRecordNameStrategy` `<topic>-<full name>`. The writer schema itself always comes from the id (or GUID) in each record. When the schema is not under that subject (or has no name), the version is the one under the schema's only subject, else none, where Connect's converter fails the record.",
    ),
    key(
        "key.subject.name.strategy",
        V,
        CONVERTER,
        Choice(SUBJECT_NAME_STRATEGIES),
        Value("TopicNameStrategy"),
        S,
        "Schema Registry key converters: as `value.subject.name.strategy`, for keys (`<topic>-key`).",
    ),
    key(
        "connect.meta.data",
        V,
        CONVERTER,
        Bool,
        Value("true"),
        NotYet,
        "AvroConverter: keep Connect metadata (`connect.name`, parameters) in schemas.",
    ),
    key(
        "enhanced.avro.schema.support",
        V,
        CONVERTER,
        Bool,
        Value("false"),
        NotYet,
        "AvroConverter: keep enum symbols and package names through Connect schemas.",
    ),
    key(
        "listeners",
        R,
        REGISTRY,
        List,
        Value("http://0.0.0.0:8081"),
        S,
        "Where the REST API listens: comma-separated `http://host:port` URLs.",
    ),
    key(
        "host.name",
        R,
        REGISTRY,
        String,
        Unset,
        S,
        "The host name other instances use to reach this one (forwarded writes); default: the first listener's host, or the machine's host name when that is 0.0.0.0.",
    ),
    key(
        "kafkastore.bootstrap.servers",
        R,
        REGISTRY,
        List,
        Required,
        S,
        "The Kafka cluster holding the schemas topic (`host:port`; a `PLAINTEXT://` prefix is accepted).",
    ),
    key(
        "kafkastore.topic",
        R,
        REGISTRY,
        NonEmpty,
        Value("_schemas"),
        S,
        "The compacted, single-partition topic holding every schema, config and mode, in Confluent's record format. Created at start-up when missing.",
    ),
    key(
        "kafkastore.topic.replication.factor",
        R,
        REGISTRY,
        Int { min: 1, max: 32767 },
        Value("3"),
        S,
        "Replication factor of the schemas topic when it is created; lowered to the number of brokers when there are fewer, with a warning.",
    ),
    key(
        "kafkastore.timeout.ms",
        R,
        REGISTRY,
        Int {
            min: 1,
            max: INT_MAX,
        },
        Value("10000"),
        S,
        "How long a write waits for Kafka and for the instance's own reader to see it before the request fails with 50002. (Confluent's default is 500 ms; a transactional write needs more.)",
    ),
    key(
        "kafkastore.init.timeout.ms",
        R,
        REGISTRY,
        Int {
            min: 1,
            max: INT_MAX,
        },
        Value("60000"),
        S,
        "How long start-up waits for each of: the schemas topic read to its end, and the leader election decided (this instance or another one leads). Nothing is served before both; an eligible instance whose election is not decided in time stops with an error, an ineligible one serves with a warning and forwards writes once a leader appears.",
    ),
    key(
        "lakesink.registry.leader.wait.ms",
        R,
        REGISTRY,
        Int {
            min: 0,
            max: INT_MAX,
        },
        Value("20000"),
        S,
        "How long a write waits for a leader while none is known or the one known does not answer (a leader change: the election's 10 s session timeout and a rebalance) before it fails with 50004 (no leader) or 50003 (the leader could not be reached).",
    ),
    key(
        "schema.registry.group.id",
        R,
        REGISTRY,
        NonEmpty,
        Value("schema-registry"),
        S,
        "The Kafka consumer group in which instances elect a leader. Lakesink instances cannot share a group with Confluent ones: a Confluent registry running on the same group makes start-up fail, which keeps two kinds of leaders from writing the same topic.",
    ),
    key(
        "leader.eligibility",
        R,
        REGISTRY,
        Bool,
        Value("true"),
        S,
        "Whether this instance may become the leader (the only writer); with false it serves reads and forwards writes.",
    ),
    key(
        "schema.compatibility.level",
        R,
        REGISTRY,
        Choice(&[
            choice("BACKWARD", &[]),
            choice("BACKWARD_TRANSITIVE", &[]),
            choice("FORWARD", &[]),
            choice("FORWARD_TRANSITIVE", &[]),
            choice("FULL", &[]),
            choice("FULL_TRANSITIVE", &[]),
            choice("NONE", &[]),
        ]),
        Value("BACKWARD"),
        S,
        "The compatibility level of subjects without their own (`PUT /config` overrides it globally).",
    ),
    key(
        "mode.mutability",
        R,
        REGISTRY,
        Bool,
        Value("true"),
        S,
        "Whether `PUT /mode` may change modes (READWRITE, READONLY, IMPORT).",
    ),
    key(
        "lakesink.registry.max.request.bytes",
        R,
        REGISTRY,
        Int {
            min: 1024,
            max: INT_MAX,
        },
        Value("16777216"),
        S,
        "Largest request body accepted; a larger one gets HTTP 413 with an error body.",
    ),
    key(
        "authentication.method",
        R,
        REGISTRY,
        Choice(&[choice("NONE", &[]), pending("BASIC", &[])]),
        Value("NONE"),
        NotYet,
        "HTTP authentication of the REST API.",
    ),
    key(
        "kafkastore.group.id",
        R,
        REGISTRY,
        String,
        Unset,
        NoEffect("the schemas topic is read by partition assignment, without a consumer group"),
        "Consumer group of the store reader.",
    ),
];

/// Prefixed keys passed on elsewhere.
pub static PREFIXES: &[PrefixDef] = &[
    PrefixDef {
        prefix: "kafkastore.",
        scope: R,
        support: S,
        doc: "Kafka client settings for the schemas topic's reader, writer and election (e.g. `kafkastore.security.protocol`, `kafkastore.sasl.mechanism`; librdkafka names, `sasl.jaas.config` translated).",
    },
    PrefixDef {
        prefix: "consumer.override.",
        scope: C,
        support: S,
        doc: "Kafka consumer settings for this connector (librdkafka names; the common Java names such as `max.poll.records` and `sasl.jaas.config` are translated). Wins over the worker's `consumer.*`.",
    },
    PrefixDef {
        prefix: "consumer.",
        scope: W,
        support: S,
        doc: "Kafka consumer settings for every connector of the worker.",
    },
    PrefixDef {
        prefix: "key.converter.",
        scope: C,
        support: S,
        doc: "Settings of the key converter (see the Converter group).",
    },
    PrefixDef {
        prefix: "value.converter.",
        scope: C,
        support: S,
        doc: "Settings of the value converter (see the Converter group).",
    },
    PrefixDef {
        prefix: "key.converter.",
        scope: W,
        support: S,
        doc: "Settings of the worker's key converter.",
    },
    PrefixDef {
        prefix: "value.converter.",
        scope: W,
        support: S,
        doc: "Settings of the worker's value converter.",
    },
    PrefixDef {
        prefix: "topic.",
        scope: C,
        support: S,
        doc: "Per-topic rotation: `topic.<topic>.<key>` overrides `flush.size`, `rotate.interval.ms`, `rotate.schedule.interval.ms` or `lakesink.rotate.size.bytes` for one topic (the topic name may contain dots; the key is matched at the end).",
    },
    PrefixDef {
        prefix: "transforms.",
        scope: C,
        support: S,
        doc: "`transforms.<alias>.type`, `.predicate`, `.negate` and the transform's own keys.",
    },
    PrefixDef {
        prefix: "predicates.",
        scope: C,
        support: S,
        doc: "`predicates.<alias>.type` and the predicate's own keys.",
    },
    PrefixDef {
        prefix: "producer.",
        scope: W,
        support: NoEffect(
            "the dead-letter queue's producer takes the connection and security settings of `consumer.*`",
        ),
        doc: "Producer settings.",
    },
    PrefixDef {
        prefix: "producer.override.",
        scope: C,
        support: NoEffect(
            "the dead-letter queue's producer takes the connection and security settings of the consumer's",
        ),
        doc: "Producer settings of the connector (its dead-letter queue).",
    },
    PrefixDef {
        prefix: "admin.override.",
        scope: C,
        support: NoEffect("Lakesink needs no admin client settings yet"),
        doc: "Admin client settings of the connector (its dead-letter queue).",
    },
    PrefixDef {
        prefix: "header.converter.",
        scope: C,
        support: NoEffect("headers are not written to files"),
        doc: "Header converter settings.",
    },
    PrefixDef {
        prefix: "header.converter.",
        scope: W,
        support: NoEffect("headers are not written to files"),
        doc: "Header converter settings.",
    },
    PrefixDef {
        prefix: "internal.key.converter.",
        scope: W,
        support: NoEffect(REMOVED_KIP_738),
        doc: "Settings of the internal topics' key converter.",
    },
    PrefixDef {
        prefix: "internal.value.converter.",
        scope: W,
        support: NoEffect(REMOVED_KIP_738),
        doc: "Settings of the internal topics' value converter.",
    },
    PrefixDef {
        prefix: "listeners.https.",
        scope: W,
        support: NoEffect(CONNECT_REST),
        doc: "TLS settings of the REST listeners.",
    },
    PrefixDef {
        prefix: "admin.listeners.https.",
        scope: W,
        support: NoEffect(CONNECT_REST),
        doc: "TLS settings of the admin REST listeners.",
    },
    PrefixDef {
        prefix: "config.providers.",
        scope: W,
        support: NoEffect(CONNECT_PROVIDERS),
        doc: "Config provider classes and parameters.",
    },
    PrefixDef {
        prefix: "metrics.context.",
        scope: W,
        support: NoEffect(CONNECT_METRICS),
        doc: "Metrics context labels.",
    },
    PrefixDef {
        prefix: "offset.storage.",
        scope: W,
        support: NoEffect(CONNECT_DISTRIBUTED),
        doc: "Settings of the offsets topic.",
    },
    PrefixDef {
        prefix: "config.storage.",
        scope: W,
        support: NoEffect(CONNECT_DISTRIBUTED),
        doc: "Settings of the configs topic.",
    },
    PrefixDef {
        prefix: "status.storage.",
        scope: W,
        support: NoEffect(CONNECT_DISTRIBUTED),
        doc: "Settings of the status topic.",
    },
    PrefixDef {
        prefix: "admin.",
        scope: W,
        support: NoEffect("Lakesink needs no admin client settings yet"),
        doc: "Admin client settings.",
    },
];

/// Looks up the definition of `name` in `scope`.
pub fn find(scope: Scope, name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.scope == scope && k.name == name)
}

impl Kind {
    /// Human text of the allowed values, used in errors and docs.
    pub fn describe(&self) -> std::string::String {
        match self {
            String => "string".into(),
            NonEmpty => "non-empty string".into(),
            Int { min, max } if *max == LONG_MAX => format!("integer >= {min}"),
            Int { min, max } => format!("integer in [{min}, {max}]"),
            Bool => "true or false".into(),
            List => "comma-separated list".into(),
            Choice(choices) => {
                let names: Vec<std::string::String> = choices
                    .iter()
                    .filter(|c| c.available)
                    .map(|c| match c.aliases.first() {
                        Some(class) => format!("{} ({class})", c.value),
                        None => c.value.to_string(),
                    })
                    .collect();
                format!("one of {}", names.join(", "))
            }
            TimeZone => "time zone id (e.g. UTC, Europe/Berlin, +05:30)".into(),
            Regex => "regular expression".into(),
            StoreUrl => "URL with scheme hdfs://, viewfs:// or file://".into(),
        }
    }
}

/// Resolves `raw` against a choice list: canonical value or any alias (case-insensitive).
pub fn resolve_choice(choices: &'static [Choice], raw: &str) -> Option<&'static Choice> {
    let raw = raw.trim();
    choices.iter().find(|c| {
        c.value.eq_ignore_ascii_case(raw) || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(raw))
    })
}
