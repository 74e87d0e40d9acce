//! Lakesink's single message transforms: Kafka Connect's built-in transformations and
//! predicates (`transforms`, `predicates`), applied between the converter and the
//! partitioner.
//!
//! Owns: the [`Chain`] built from a connector's [`TransformsConfig`] and its application to
//! converted batches. Transforms work on whole Arrow batches, column by column: a predicate
//! is evaluated once per batch where it can be (a topic name) and otherwise per row into a
//! mask that splits the batch into runs; a value transform rewrites columns and the schema
//! once per input schema (the result is cached, so files of one schema keep one schema).
//! Schemaless JSON values (one column of JSON text) are rewritten document by document, as
//! there are no columns to work on. Routers rename the topic that names directories and
//! files; the commit log stays keyed by the consumed topic-partition, as Connect keeps
//! consumer offsets keyed by the original topic (KIP-793).
//!
//! Must not touch: Kafka, storage, offsets, dead letters (a record a transform cannot handle
//! is reported to the caller with its offset; the sink decides whether it stops the task).

mod date_format;
mod json;
mod typed;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use arrow_array::RecordBatch;
use lakesink_config::transforms::{Builtin, Part, TransformSpec, TransformsConfig};
use lakesink_convert::{Converted, ValueKind, ValueSchema};
use lakesink_record::{RawBatch, TopicPartition};
use regex::Regex;

pub use date_format::DateFormat;

/// A run of transformed rows, all of one schema and one (possibly renamed) topic.
#[derive(Debug)]
pub struct Routed {
    pub topic: Arc<str>,
    pub run: Converted,
}

/// A record a transformation could not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "record {topic}-{partition} offset {offset}: transform '{alias}' ({class}) failed: {message}"
)]
pub struct TransformError {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub alias: String,
    /// The transformation's Java class, as configured (dead letters name it).
    pub class: String,
    pub message: String,
}

/// A problem in the configuration of a transform that only shows when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: invalid value '{value}': {message}")]
pub struct ChainConfigError {
    pub key: String,
    pub value: String,
    pub message: String,
}

/// What the sink does with rows whose value a transform made null (`behavior.on.null.values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullValues {
    Drop,
    Fail,
}

/// A row-level failure inside one step: the row (in the segment) and why.
#[derive(Debug)]
pub(crate) struct RowError {
    pub row: usize,
    pub message: String,
}

impl RowError {
    pub(crate) fn new(row: usize, message: impl Into<String>) -> RowError {
        RowError {
            row,
            message: message.into(),
        }
    }
}

/// The record metadata a value transform may read (`InsertField`).
pub(crate) struct RowContext<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offsets: &'a [i64],
    pub timestamps: &'a [Option<i64>],
}

/// Headers are never written to files; they matter to `HasHeaderKey` later in the chain.
/// A segment keeps, in order, what its transforms did to header names: the values are not
/// kept because nothing after the chain reads them.
#[derive(Debug, Clone)]
enum HeaderOp {
    Insert(String),
    Drop(Vec<String>),
}

struct Segment {
    run: Converted,
    topic: Arc<str>,
    headers: Vec<HeaderOp>,
}

enum Predicate {
    TopicNameMatches(Regex),
    HasHeaderKey(String),
    RecordIsTombstone,
}

enum Op {
    Filter,
    RegexRouter {
        regex: Regex,
        replacement: String,
    },
    TimestampRouter {
        topic_format: String,
        format: DateFormat,
    },
    InsertHeader(String),
    DropHeaders(Vec<String>),
    /// `$Key` variants and `ValueToKey`: the files hold values only.
    NoEffect,
    Value(typed::ValueOp),
}

struct Step {
    alias: String,
    class: String,
    predicate: Option<usize>,
    negate: bool,
    op: Op,
    /// Output schema per input schema (pointer identity, as the sink compares schemas).
    schemas: Vec<(Arc<ValueSchema>, Arc<ValueSchema>)>,
}

/// The transformation chain of a connector.
pub struct Chain {
    steps: Vec<Step>,
    predicates: Vec<Predicate>,
    nulls: NullValues,
}

/// Ids of schemas made by transforms, apart from the converters' (which count from 0).
static NEXT_SCHEMA_ID: AtomicU32 = AtomicU32::new(1 << 30);

/// Anchors a regex so that it must match a whole name, as Java's `Matcher.matches()`.
fn whole(key: &str, pattern: &str) -> Result<Regex, ChainConfigError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ChainConfigError {
        key: key.to_string(),
        value: pattern.to_string(),
        message: format!("invalid regular expression: {e}"),
    })
}

/// Java's `$1` group references as the regex crate writes them (`${1}`), so that `$1a`
/// stays group 1 followed by `a`; `\$` is a literal dollar.
fn java_replacement(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl Chain {
    /// Builds the chain; configuration was validated by `lakesink-config`, what remains is
    /// what only building shows (a date pattern, a field path).
    pub fn new(config: &TransformsConfig, nulls: NullValues) -> Result<Chain, ChainConfigError> {
        let mut predicates = Vec::new();
        for p in &config.predicates {
            predicates.push(match p.plugin.builtin {
                Builtin::TopicNameMatches => Predicate::TopicNameMatches(whole(
                    &format!("predicates.{}.pattern", p.alias),
                    p.get("pattern").unwrap_or_default(),
                )?),
                Builtin::HasHeaderKey => {
                    Predicate::HasHeaderKey(p.get("name").unwrap_or_default().to_string())
                }
                _ => Predicate::RecordIsTombstone,
            });
        }
        let mut steps = Vec::new();
        for t in &config.transforms {
            let predicate = t
                .predicate
                .as_ref()
                .and_then(|a| config.predicates.iter().position(|p| &p.alias == a));
            let class = match t.part {
                Part::Key => format!("{}$Key", t.plugin.class),
                Part::Value => format!("{}$Value", t.plugin.class),
                Part::Record => t.plugin.class.to_string(),
            };
            steps.push(Step {
                alias: t.alias.clone(),
                class,
                predicate,
                negate: t.negate,
                op: Self::op(t)?,
                schemas: Vec::new(),
            });
        }
        Ok(Chain {
            steps,
            predicates,
            nulls,
        })
    }

    fn op(t: &TransformSpec) -> Result<Op, ChainConfigError> {
        if t.part == Part::Key {
            return Ok(Op::NoEffect);
        }
        Ok(match t.plugin.builtin {
            Builtin::Filter => Op::Filter,
            Builtin::RegexRouter => Op::RegexRouter {
                regex: whole(&t.key("regex"), t.get("regex").unwrap_or_default())?,
                replacement: java_replacement(
                    t.settings
                        .get("replacement")
                        .map(String::as_str)
                        .unwrap_or(""),
                ),
            },
            Builtin::TimestampRouter => Op::TimestampRouter {
                topic_format: t.get("topic.format").unwrap_or_default().to_string(),
                format: DateFormat::new(t.get("timestamp.format").unwrap_or_default()).map_err(
                    |message| ChainConfigError {
                        key: t.key("timestamp.format"),
                        value: t.get("timestamp.format").unwrap_or_default().to_string(),
                        message,
                    },
                )?,
            },
            Builtin::InsertHeader => Op::InsertHeader(t.get("header").unwrap_or_default().into()),
            Builtin::DropHeaders => Op::DropHeaders(t.list("headers")),
            Builtin::ValueToKey => Op::NoEffect,
            _ => Op::Value(typed::ValueOp::new(t)?),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Applies the chain to a run of converted rows of `batch`. Returns the runs to write, in
    /// offset order, and — when `tolerate` — the records that failed; without `tolerate` the
    /// first failure is the error.
    pub fn apply(
        &mut self,
        tp: &TopicPartition,
        run: Converted,
        batch: &RawBatch,
        tolerate: bool,
    ) -> Result<(Vec<Routed>, Vec<TransformError>), TransformError> {
        let mut segments = vec![Segment {
            run,
            topic: tp.topic.clone(),
            headers: Vec::new(),
        }];
        let mut failed = Vec::new();
        let nulls = self.nulls;
        for step in &mut self.steps {
            let predicate = step.predicate.map(|i| &self.predicates[i]);
            let mut next = Vec::with_capacity(segments.len());
            for segment in segments {
                for (mut piece, selected) in split(segment, predicate, step.negate, batch) {
                    if !selected {
                        next.push(piece);
                        continue;
                    }
                    loop {
                        match step.apply(piece, tp.partition, nulls) {
                            Ok(out) => {
                                next.extend(out);
                                break;
                            }
                            Err(boxed) => {
                                let (rest, e) = *boxed;
                                let error = TransformError {
                                    topic: tp.topic.to_string(),
                                    partition: tp.partition,
                                    offset: rest.run.offsets.get(e.row).copied().unwrap_or(-1),
                                    alias: step.alias.clone(),
                                    class: step.class.clone(),
                                    message: e.message,
                                };
                                if !tolerate {
                                    return Err(error);
                                }
                                piece = rest;
                                match piece.run.without_row(e.row) {
                                    Ok(run) => piece.run = run,
                                    Err(arrow) => {
                                        return Err(TransformError {
                                            message: format!(
                                                "cannot set the record aside: {arrow}"
                                            ),
                                            ..error
                                        });
                                    }
                                }
                                failed.push(error);
                                if piece.run.is_empty() {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            segments = next;
        }
        let routed = segments
            .into_iter()
            .filter(|s| !s.run.is_empty())
            .map(|s| Routed {
                topic: s.topic,
                run: s.run,
            })
            .collect();
        Ok((routed, failed))
    }
}

impl Step {
    /// Applies the step to every row of `segment`; on a row failure, gives the segment back.
    fn apply(
        &mut self,
        mut segment: Segment,
        partition: i32,
        nulls: NullValues,
    ) -> Result<Vec<Segment>, Box<(Segment, RowError)>> {
        match &self.op {
            Op::Filter => Ok(Vec::new()),
            Op::NoEffect => Ok(vec![segment]),
            Op::RegexRouter { regex, replacement } => {
                if regex.is_match(&segment.topic) {
                    let renamed = regex.replace(&segment.topic, replacement.as_str());
                    segment.topic = Arc::from(renamed.as_ref());
                }
                Ok(vec![segment])
            }
            Op::InsertHeader(name) => {
                segment.headers.push(HeaderOp::Insert(name.clone()));
                Ok(vec![segment])
            }
            Op::DropHeaders(names) => {
                segment.headers.push(HeaderOp::Drop(names.clone()));
                Ok(vec![segment])
            }
            Op::TimestampRouter {
                topic_format,
                format,
            } => {
                let mut topics: Vec<String> = Vec::with_capacity(segment.run.len());
                for (row, t) in segment.run.timestamps.iter().enumerate() {
                    let Some(t) = t else {
                        return Err(Box::new((
                            segment,
                            RowError::new(row, "Timestamp missing on record"),
                        )));
                    };
                    let stamp = match format.format(*t) {
                        Ok(s) => s,
                        Err(e) => return Err(Box::new((segment, RowError::new(row, e)))),
                    };
                    topics.push(
                        topic_format
                            .replace("${topic}", &segment.topic)
                            .replace("${timestamp}", &stamp),
                    );
                }
                // Rows of a partition are mostly in time order: long runs share one topic.
                let mut out = Vec::new();
                let mut start = 0;
                for end in 1..=topics.len() {
                    if end == topics.len() || topics[end] != topics[start] {
                        out.push(Segment {
                            run: segment.run.slice(start, end),
                            topic: Arc::from(topics[start].as_str()),
                            headers: segment.headers.clone(),
                        });
                        start = end;
                    }
                }
                Ok(out)
            }
            Op::Value(op) => {
                let input = segment.run.schema.clone();
                let ctx = RowContext {
                    topic: &segment.topic,
                    partition,
                    offsets: &segment.run.offsets,
                    timestamps: &segment.run.timestamps,
                };
                let result = match input.kind {
                    ValueKind::Typed => op.typed(&input, &segment.run.columns, &ctx),
                    ValueKind::JsonText => op.json(&segment.run.columns, &ctx),
                };
                let out = match result {
                    Ok(out) => out,
                    Err(e) => return Err(Box::new((segment, e))),
                };
                if let Some(name) = op.header_names() {
                    for n in name {
                        segment.headers.push(HeaderOp::Insert(n.clone()));
                    }
                }
                let schema = match out.connect {
                    // Schemaless documents keep their one-column schema.
                    None => input.clone(),
                    Some(connect) => self.intern(&input, connect),
                };
                let columns = match RecordBatch::try_new_with_options(
                    schema.arrow.clone(),
                    out.columns,
                    &arrow_array::RecordBatchOptions::new().with_row_count(Some(segment.run.len())),
                ) {
                    Ok(c) => c,
                    Err(e) => {
                        return Err(Box::new((
                            segment,
                            RowError::new(
                                0,
                                format!("transformed columns do not fit the schema: {e}"),
                            ),
                        )));
                    }
                };
                let mut run = Converted {
                    schema,
                    columns,
                    offsets: std::mem::take(&mut segment.run.offsets),
                    timestamps: std::mem::take(&mut segment.run.timestamps),
                    // The values are not the records' encoded datums any more.
                    datums: None,
                };
                if let Some(null_rows) = out.null_rows {
                    if nulls == NullValues::Fail
                        && let Some(row) = null_rows.iter().position(|n| *n)
                    {
                        segment.run = run;
                        return Err(Box::new((
                            segment,
                            RowError::new(
                                row,
                                "the transformed value is null and behavior.on.null.values=fail",
                            ),
                        )));
                    }
                    let keep: Vec<bool> = null_rows.iter().map(|n| !n).collect();
                    run = match run.filter(&keep) {
                        Ok(run) => run,
                        Err(e) => {
                            segment.run = run;
                            return Err(Box::new((
                                segment,
                                RowError::new(0, format!("cannot drop the null values: {e}")),
                            )));
                        }
                    };
                }
                segment.run = run;
                Ok(vec![segment])
            }
        }
    }

    /// The output schema for `input`, made once per input schema.
    fn intern(
        &mut self,
        input: &Arc<ValueSchema>,
        connect: lakesink_convert::ConnectSchema,
    ) -> Arc<ValueSchema> {
        if let Some((_, out)) = self
            .schemas
            .iter()
            .find(|(i, o)| Arc::ptr_eq(i, input) && o.connect.as_ref() == Some(&connect))
        {
            return out.clone();
        }
        let out = Arc::new(ValueSchema {
            id: NEXT_SCHEMA_ID.fetch_add(1, Ordering::Relaxed),
            kind: ValueKind::Typed,
            arrow: Arc::new(connect.arrow_schema()),
            connect: Some(connect),
            avro_writer: None,
        });
        self.schemas.push((input.clone(), out.clone()));
        out
    }
}

/// Splits a segment into runs of rows the predicate selects and rows it does not.
fn split(
    segment: Segment,
    predicate: Option<&Predicate>,
    negate: bool,
    batch: &RawBatch,
) -> Vec<(Segment, bool)> {
    let Some(predicate) = predicate else {
        return vec![(segment, true)];
    };
    let mask: Vec<bool> = match predicate {
        Predicate::TopicNameMatches(re) => {
            let hit = re.is_match(&segment.topic) != negate;
            return vec![(segment, hit)];
        }
        // Converted rows always have a value: tombstones are handled by
        // `behavior.on.null.values` before the chain.
        Predicate::RecordIsTombstone => return vec![(segment, negate)],
        Predicate::HasHeaderKey(name) => segment
            .run
            .offsets
            .iter()
            .map(|o| has_header(&segment.headers, batch, *o, name) != negate)
            .collect(),
    };
    let mut out = Vec::new();
    let mut start = 0;
    for end in 1..=mask.len() {
        if end == mask.len() || mask[end] != mask[start] {
            out.push((
                Segment {
                    run: segment.run.slice(start, end),
                    topic: segment.topic.clone(),
                    headers: segment.headers.clone(),
                },
                mask[start],
            ));
            start = end;
        }
    }
    out
}

fn has_header(ops: &[HeaderOp], batch: &RawBatch, offset: i64, name: &str) -> bool {
    for op in ops.iter().rev() {
        match op {
            HeaderOp::Insert(n) if n == name => return true,
            HeaderOp::Drop(names) if names.iter().any(|n| n == name) => return false,
            _ => {}
        }
    }
    batch
        .index_of(offset)
        .is_some_and(|i| batch.get(i).headers().any(|(n, _)| n == name))
}

#[cfg(test)]
mod tests;
