//! FieldPartitioner.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray, StructArray,
    UInt64Array,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields};

use super::{batch, check_shape, json_batch, run};
use crate::{Partitioned, Partitioner, RecordPartitionError, Slice};

fn fields(names: &[&str]) -> Partitioner {
    Partitioner::field(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn slice(dir: &str, rows: Option<Vec<u32>>) -> Slice {
    Slice {
        dir: dir.into(),
        rows,
    }
}

fn part(p: &Partitioner, b: &arrow_array::RecordBatch, json: bool) -> Partitioned {
    let out = run(p, b, json, &vec![None; b.num_rows()], 0).unwrap();
    check_shape(&out, b.num_rows());
    assert_eq!(out.times, None);
    out
}

fn err(p: &Partitioner, b: &arrow_array::RecordBatch, json: bool) -> RecordPartitionError {
    run(p, b, json, &vec![None; b.num_rows()], 0).unwrap_err()
}

/// Columns: id Int32, name Utf8, flag Boolean, score Float64, meta {region Utf8, n Int64}.
fn sample() -> arrow_array::RecordBatch {
    let region: ArrayRef = Arc::new(StringArray::from(vec![
        Some("eu"),
        Some("hidden"),
        None,
        Some("us"),
    ]));
    let n: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
    let meta = StructArray::new(
        Fields::from(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]),
        vec![region, n],
        // Row 1's struct is null: its child value "hidden" must not be used.
        Some(NullBuffer::from(vec![true, false, true, true])),
    );
    batch(vec![
        (
            "id",
            Arc::new(Int32Array::from(vec![1, 2, 1, -5])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![
                Some("a/b"),
                Some("x:y"),
                Some("50%"),
                None,
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0])),
        ),
        ("meta", Arc::new(meta)),
    ])
}

#[test]
fn interleaved_integers_group_in_first_row_order() {
    let b = batch(vec![(
        "id",
        Arc::new(Int32Array::from(vec![1, 2, 1, 3, 2, 2])) as ArrayRef,
    )]);
    let out = part(&fields(&["id"]), &b, false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/id=1", Some(vec![0, 2])),
            slice("t/id=2", Some(vec![1, 4, 5])),
            slice("t/id=3", Some(vec![3])),
        ]
    );
}

#[test]
fn one_value_is_one_slice_without_rows() {
    let b = batch(vec![(
        "id",
        Arc::new(Int32Array::from(vec![7, 7, 7])) as ArrayRef,
    )]);
    let out = part(&fields(&["id"]), &b, false);
    assert_eq!(out.slices, vec![slice("t/id=7", None)]);
}

#[test]
fn strings_are_escaped_and_null_is_literal() {
    let out = part(&fields(&["name"]), &sample(), false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/name=a%2Fb", Some(vec![0])),
            slice("t/name=x%3Ay", Some(vec![1])),
            slice("t/name=50%25", Some(vec![2])),
            slice("t/name=null", Some(vec![3])),
        ]
    );
}

#[test]
fn every_hive_special_character_is_escaped() {
    let mut out = String::new();
    crate::field::push_escaped(&mut out, "\u{0}\u{1}\u{1f}\"#%'*/:=?\\\u{7f}{[]^ é}-_.~");
    assert_eq!(
        out,
        "%00%01%1F%22%23%25%27%2A%2F%3A%3D%3F%5C%7F%7B%5B%5D%5E é}-_.~"
    );
}

#[test]
fn booleans_negative_numbers_and_several_fields() {
    let out = part(&fields(&["flag"]), &sample(), false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/flag=true", Some(vec![0, 3])),
            slice("t/flag=false", Some(vec![1])),
            slice("t/flag=null", Some(vec![2])),
        ]
    );
    let out = part(&fields(&["id", "flag"]), &sample(), false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/id=1/flag=true", Some(vec![0])),
            slice("t/id=2/flag=false", Some(vec![1])),
            slice("t/id=1/flag=null", Some(vec![2])),
            slice("t/id=-5/flag=true", Some(vec![3])),
        ]
    );
}

#[test]
fn large_unsigned_values() {
    let b = batch(vec![(
        "u",
        Arc::new(UInt64Array::from(vec![u64::MAX, 5])) as ArrayRef,
    )]);
    let out = part(&fields(&["u"]), &b, false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/u=18446744073709551615", Some(vec![0])),
            slice("t/u=5", Some(vec![1])),
        ]
    );
}

#[test]
fn nested_path_and_null_parent() {
    let out = part(&fields(&["meta.region"]), &sample(), false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/meta.region=eu", Some(vec![0])),
            // Row 1: null parent struct; row 2: null child. Both print null, one directory.
            slice("t/meta.region=null", Some(vec![1, 2])),
            slice("t/meta.region=us", Some(vec![3])),
        ]
    );
}

#[test]
fn missing_fields_name_what_exists() {
    let e = err(&fields(&["nope"]), &sample(), false);
    assert_eq!(
        e,
        RecordPartitionError {
            topic: "t".into(),
            partition: 3,
            offset: 100,
            message: "no field 'nope' in the value; fields are: id, name, flag, score, meta".into(),
        }
    );
    let e = err(&fields(&["meta.nope"]), &sample(), false);
    assert_eq!(
        e.message,
        "no field 'nope' in 'meta'; fields are: region, n"
    );
    let e = err(&fields(&["id.x"]), &sample(), false);
    assert_eq!(
        e.message,
        "field 'id' is Int32, not a struct, so it has no field 'x'"
    );
}

#[test]
fn unsupported_types_are_errors() {
    let e = err(&fields(&["score"]), &sample(), false);
    assert_eq!(
        e.message,
        "field 'score' is Float64; only integer, string and boolean fields can name a directory"
    );
    let e = err(&fields(&["meta"]), &sample(), false);
    assert!(
        e.message.starts_with("field 'meta' is Struct("),
        "{}",
        e.message
    );
}

#[test]
fn json_values_with_nested_objects() {
    let b = json_batch(&[
        Some(r#"{"a":{"b":"x/y"},"n":1}"#),
        Some(r#"{"a":{"b":5}}"#),
        Some(r#"{"a":null}"#),
        Some(r#"{"n":2}"#),
        Some(r#"{"a":{"b":"5"}}"#),
        Some(r#"{"a":{"b":true,"c":[1,2]}}"#),
        Some(r#"{"a":{"b":null}}"#),
        Some(r#"{"a":{"b":"caf\u00e9"}}"#),
    ]);
    let out = part(&fields(&["a.b"]), &b, true);
    assert_eq!(
        out.slices,
        vec![
            slice("t/a.b=x%2Fy", Some(vec![0])),
            // The number 5 and the string "5" print alike, so they share a directory.
            slice("t/a.b=5", Some(vec![1, 4])),
            slice("t/a.b=null", Some(vec![2, 3, 6])),
            slice("t/a.b=true", Some(vec![5])),
            slice("t/a.b=café", Some(vec![7])),
        ]
    );
    let out = part(&fields(&["n", "a.b"]), &b, true);
    assert_eq!(out.slices[0], slice("t/n=1/a.b=x%2Fy", Some(vec![0])));
}

#[test]
fn json_errors_name_the_record() {
    let p = fields(&["a.b"]);
    let b = json_batch(&[Some(r#"{"a":{"b":1}}"#), Some(r#"{"a":{"b":1.5}}"#)]);
    let e = err(&p, &b, true);
    assert_eq!(e.offset, 101);
    assert_eq!(
        e.message,
        "field 'a.b' is a JSON floating-point number; only integers, strings, booleans and null \
         can name a directory"
    );
    let b = json_batch(&[Some(r#"{"a":{"b":[1]}}"#)]);
    assert!(err(&p, &b, true).message.contains("is a JSON array"));
    let b = json_batch(&[Some(r#"{"a":3}"#)]);
    assert_eq!(
        err(&p, &b, true).message,
        "field 'a' is a JSON number, not an object, so it has no field 'b'"
    );
    let b = json_batch(&[Some("[1,2]")]);
    assert_eq!(
        err(&p, &b, true).message,
        "the record value is a JSON array, not an object, so it has no field 'a.b'"
    );
    let b = json_batch(&[Some(r#"{"a":"#)]);
    assert!(
        err(&p, &b, true)
            .message
            .starts_with("the record value is not valid JSON")
    );
    let b = json_batch(&[Some("{}"), None]);
    let e = err(&p, &b, true);
    assert_eq!(
        (e.offset, e.message.as_str()),
        (101, "the record value is null")
    );
}

#[test]
fn interleaved_multi_field_keys() {
    let b = batch(vec![
        (
            "a",
            Arc::new(Int32Array::from(vec![1, 1, 2, 1, 2])) as ArrayRef,
        ),
        (
            "b",
            Arc::new(StringArray::from(vec!["x", "y", "x", "x", "x"])),
        ),
    ]);
    let out = part(&fields(&["a", "b"]), &b, false);
    assert_eq!(
        out.slices,
        vec![
            slice("t/a=1/b=x", Some(vec![0, 3])),
            slice("t/a=1/b=y", Some(vec![1])),
            slice("t/a=2/b=x", Some(vec![2, 4])),
        ]
    );
}
