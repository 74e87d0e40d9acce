//! Configuration errors and accepted settings.

use super::{no_columns, run, zone};
use crate::{Partitioner, PartitionerConfigError, TimestampSource};

fn time(d: i64, pattern: &str, locale: &str) -> Result<Partitioner, PartitionerConfigError> {
    Partitioner::time_based(d, pattern, locale, zone("UTC"), TimestampSource::Record)
}

fn key_and_message(r: Result<Partitioner, PartitionerConfigError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.key, e.message)
}

#[test]
fn field_names() {
    let (key, message) = key_and_message(Partitioner::field(&[]));
    assert_eq!(key, "partition.field.name");
    assert_eq!(message, "FieldPartitioner needs at least one field name");
    for bad in ["", "  ", "a..b", ".a", "a."] {
        let (key, _) = key_and_message(Partitioner::field(&["ok".into(), bad.into()]));
        assert_eq!(key, "partition.field.name", "{bad:?}");
    }
    match Partitioner::field(&["a".into(), "b.c".into()]).unwrap() {
        Partitioner::Field(f) => assert_eq!(f.fields().collect::<Vec<_>>(), ["a", "b.c"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn duration_must_be_positive() {
    for d in [0, -1, -3_600_000] {
        let (key, message) = key_and_message(time(d, "yyyy", "en"));
        assert_eq!(key, "partition.duration.ms");
        assert_eq!(
            message,
            format!("must be a positive number of milliseconds, got {d}")
        );
    }
}

#[test]
fn pattern_errors() {
    for empty in ["", "   ", "/"] {
        let e = time(1, empty, "en").unwrap_err();
        assert_eq!(e.to_string(), "path.format: must not be empty", "{empty:?}");
    }
    let e = time(1, "'year'=yyyy/'week'=Wx", "en").unwrap_err();
    assert_eq!(
        e.to_string(),
        "path.format: illegal pattern component 'W' at position 19"
    );
    let e = time(1, "'year=yyyy", "en").unwrap_err();
    assert_eq!(
        e.to_string(),
        "path.format: unterminated quote starting at position 0"
    );
    assert_eq!(key_and_message(time(1, "zzzz", "en")).0, "path.format");
}

#[test]
fn one_trailing_slash_is_dropped() {
    let p = time(3_600_000, "'y'=yyyy/", "en").unwrap();
    match &p {
        Partitioner::Time(t) => {
            assert_eq!(t.path_format(), "'y'=yyyy");
            assert_eq!(t.duration_ms(), 3_600_000);
            assert_eq!(t.zone(), zone("UTC"));
            assert_eq!(*t.timestamp_source(), TimestampSource::Record);
        }
        other => panic!("{other:?}"),
    }
    let out = run(&p, &no_columns(1), false, &[Some(0)], 0).unwrap();
    assert_eq!(out.slices[0].dir, "t/y=1970");
}

#[test]
fn locale_is_required() {
    for blank in ["", "  "] {
        let (key, message) = key_and_message(time(1, "yyyy", blank));
        assert_eq!(key, "locale");
        assert!(
            message.contains("'locale'") && message.contains("en-US"),
            "{message}"
        );
        let (key, _) = key_and_message(Partitioner::daily(
            blank,
            zone("UTC"),
            TimestampSource::Record,
        ));
        assert_eq!(key, "locale");
    }
}

#[test]
fn text_fields_need_an_english_locale() {
    for locale in ["de_DE", "fr", "ja-JP"] {
        let (key, message) = key_and_message(time(1, "yyyy/MMM", locale));
        assert_eq!(key, "locale", "{locale}");
        assert!(message.contains("only available in English"), "{message}");
        // Numeric patterns do not depend on the locale.
        assert!(time(1, "yyyy/MM", locale).is_ok(), "{locale}");
        assert!(Partitioner::hourly(locale, zone("UTC"), TimestampSource::Record).is_ok());
    }
    for locale in ["en", "en_US", "en-US", "EN-gb", "En"] {
        assert!(time(1, "EEE/MMMM/a/G", locale).is_ok(), "{locale}");
    }
}

#[test]
fn timestamp_field_must_be_a_path() {
    for bad in ["", "meta..ts"] {
        let e = Partitioner::hourly("en", zone("UTC"), TimestampSource::RecordField(bad.into()))
            .unwrap_err();
        assert_eq!(e.key, "timestamp.field", "{bad:?}");
    }
}
