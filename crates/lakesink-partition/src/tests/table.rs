//! Expected directories, worked out by hand from the calendar and the zones' published rules.

use chrono::NaiveDate;

use super::{check_shape, dir_per_row, no_columns, run, utc_ms, zone};
use crate::{Partitioner, TimestampSource};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// The directory (without `t/`) of each instant under `p`, reading time from Kafka timestamps.
fn dirs(p: &Partitioner, times: &[i64]) -> Vec<String> {
    let ts: Vec<Option<i64>> = times.iter().copied().map(Some).collect();
    let b = no_columns(times.len());
    let out = run(p, &b, false, &ts, 0).unwrap();
    check_shape(&out, times.len());
    assert_eq!(out.times.as_deref(), Some(times));
    dir_per_row(&out, times.len())
        .into_iter()
        .map(|d| d.strip_prefix("t/").unwrap().to_string())
        .collect()
}

fn hourly(z: &str) -> Partitioner {
    Partitioner::hourly("en-US", zone(z), TimestampSource::Record).unwrap()
}

fn daily(z: &str) -> Partitioner {
    Partitioner::daily("en-US", zone(z), TimestampSource::Record).unwrap()
}

fn custom(duration_ms: i64, pattern: &str, z: &str) -> Partitioner {
    Partitioner::time_based(duration_ms, pattern, "en", zone(z), TimestampSource::Record).unwrap()
}

/// Checks `(zone, instant, expected)` rows, one batch per zone so grouping is exercised too.
fn check(make: impl Fn(&str) -> Partitioner, rows: &[(&str, i64, &str)]) {
    let mut zones: Vec<&str> = rows.iter().map(|r| r.0).collect();
    zones.dedup();
    for z in zones {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == z).collect();
        let times: Vec<i64> = mine.iter().map(|r| r.1).collect();
        let got = dirs(&make(z), &times);
        for (r, g) in mine.iter().zip(&got) {
            assert_eq!(g, r.2, "zone {z}, instant {} ms", r.1);
        }
    }
}

#[test]
fn hourly_table() {
    check(
        hourly,
        &[
            // New York, spring forward 2024-03-10: 02:00 EST (07:00Z) becomes 03:00 EDT.
            (
                "America/New_York",
                utc_ms(2024, 3, 10, 6, 59, 59),
                "year=2024/month=03/day=10/hour=01",
            ),
            (
                "America/New_York",
                utc_ms(2024, 3, 10, 7, 0, 0),
                "year=2024/month=03/day=10/hour=03",
            ),
            // Fall back 2024-11-03: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:30 happens twice.
            (
                "America/New_York",
                utc_ms(2024, 11, 3, 4, 59, 59),
                "year=2024/month=11/day=03/hour=00",
            ),
            (
                "America/New_York",
                utc_ms(2024, 11, 3, 5, 30, 0),
                "year=2024/month=11/day=03/hour=01",
            ),
            (
                "America/New_York",
                utc_ms(2024, 11, 3, 6, 30, 0),
                "year=2024/month=11/day=03/hour=01",
            ),
            (
                "America/New_York",
                utc_ms(2024, 11, 3, 7, 0, 0),
                "year=2024/month=11/day=03/hour=02",
            ),
            // Before 1970 with DST: 1960-07-04 16:30Z is 12:30 EDT.
            (
                "America/New_York",
                utc_ms(1960, 7, 4, 16, 30, 0),
                "year=1960/month=07/day=04/hour=12",
            ),
            // Berlin, 2024-03-31: 02:00 CET (01:00Z) becomes 03:00 CEST.
            (
                "Europe/Berlin",
                utc_ms(2024, 3, 31, 0, 59, 59),
                "year=2024/month=03/day=31/hour=01",
            ),
            (
                "Europe/Berlin",
                utc_ms(2024, 3, 31, 1, 0, 0),
                "year=2024/month=03/day=31/hour=03",
            ),
            // 2024-10-27: 03:00 CEST (01:00Z) becomes 02:00 CET; 02:30 happens twice.
            (
                "Europe/Berlin",
                utc_ms(2024, 10, 27, 0, 30, 0),
                "year=2024/month=10/day=27/hour=02",
            ),
            (
                "Europe/Berlin",
                utc_ms(2024, 10, 27, 1, 30, 0),
                "year=2024/month=10/day=27/hour=02",
            ),
            (
                "Europe/Berlin",
                utc_ms(2024, 10, 27, 2, 0, 0),
                "year=2024/month=10/day=27/hour=03",
            ),
            // 30-minute offsets: hour buckets follow local hours (10:15 local → 10).
            (
                "+05:30",
                utc_ms(2024, 1, 15, 4, 45, 0),
                "year=2024/month=01/day=15/hour=10",
            ),
            (
                "+05:30",
                utc_ms(2024, 1, 15, 18, 29, 59),
                "year=2024/month=01/day=15/hour=23",
            ),
            (
                "+05:30",
                utc_ms(2024, 1, 15, 18, 30, 0),
                "year=2024/month=01/day=16/hour=00",
            ),
            (
                "Asia/Kolkata",
                utc_ms(2024, 1, 15, 4, 45, 0),
                "year=2024/month=01/day=15/hour=10",
            ),
            (
                "Asia/Kolkata",
                utc_ms(2024, 1, 15, 5, 29, 59),
                "year=2024/month=01/day=15/hour=10",
            ),
            (
                "Asia/Kolkata",
                utc_ms(2024, 1, 15, 5, 30, 0),
                "year=2024/month=01/day=15/hour=11",
            ),
            // UTC and times before 1970. Confluent's truncating division would put the
            // 1900-01-01 00:30 record in hour 01; flooring keeps it in hour 00.
            ("UTC", 0, "year=1970/month=01/day=01/hour=00"),
            ("UTC", -1, "year=1969/month=12/day=31/hour=23"),
            ("UTC", -HOUR, "year=1969/month=12/day=31/hour=23"),
            ("UTC", -HOUR - 1, "year=1969/month=12/day=31/hour=22"),
            (
                "UTC",
                utc_ms(1900, 1, 1, 0, 0, 0),
                "year=1900/month=01/day=01/hour=00",
            ),
            (
                "UTC",
                utc_ms(1900, 1, 1, 0, 30, 0),
                "year=1900/month=01/day=01/hour=00",
            ),
            (
                "UTC",
                utc_ms(500, 6, 15, 12, 34, 56),
                "year=0500/month=06/day=15/hour=12",
            ),
            (
                "UTC",
                utc_ms(2024, 2, 29, 23, 59, 59),
                "year=2024/month=02/day=29/hour=23",
            ),
        ],
    );
}

#[test]
fn daily_table() {
    check(
        daily,
        &[
            (
                "America/New_York",
                utc_ms(2024, 3, 10, 4, 59, 59),
                "year=2024/month=03/day=09",
            ),
            (
                "America/New_York",
                utc_ms(2024, 3, 10, 5, 0, 0),
                "year=2024/month=03/day=10",
            ),
            // The 23-hour day ends at 04:00Z (midnight EDT).
            (
                "America/New_York",
                utc_ms(2024, 3, 11, 3, 59, 59),
                "year=2024/month=03/day=10",
            ),
            (
                "America/New_York",
                utc_ms(2024, 3, 11, 4, 0, 0),
                "year=2024/month=03/day=11",
            ),
            (
                "America/New_York",
                utc_ms(2024, 11, 3, 6, 30, 0),
                "year=2024/month=11/day=03",
            ),
            // The 25-hour day ends at 05:00Z (midnight EST).
            (
                "America/New_York",
                utc_ms(2024, 11, 4, 4, 59, 59),
                "year=2024/month=11/day=03",
            ),
            (
                "Europe/Berlin",
                utc_ms(2024, 3, 30, 23, 0, 0),
                "year=2024/month=03/day=31",
            ),
            (
                "Europe/Berlin",
                utc_ms(2024, 10, 26, 22, 0, 0),
                "year=2024/month=10/day=27",
            ),
            (
                "Asia/Kolkata",
                utc_ms(2024, 1, 15, 18, 29, 59),
                "year=2024/month=01/day=15",
            ),
            (
                "Asia/Kolkata",
                utc_ms(2024, 1, 15, 18, 30, 0),
                "year=2024/month=01/day=16",
            ),
            ("UTC", -1, "year=1969/month=12/day=31"),
            (
                "UTC",
                utc_ms(1900, 1, 1, 0, 0, 0),
                "year=1900/month=01/day=01",
            ),
            (
                "UTC",
                utc_ms(1900, 1, 1, 0, 0, 0) - 1,
                "year=1899/month=12/day=31",
            ),
            (
                "UTC",
                utc_ms(500, 6, 15, 12, 34, 56),
                "year=0500/month=06/day=15",
            ),
        ],
    );
}

#[test]
fn custom_patterns() {
    let cases: &[(i64, &str, &str, i64, &str)] = &[
        // (duration, pattern, zone, instant, expected)
        (
            HOUR,
            "'dt'=yyyy-MM-dd/'hr'=HH",
            "America/New_York",
            utc_ms(2024, 3, 10, 7, 0, 0),
            "dt=2024-03-10/hr=03",
        ),
        (
            HOUR,
            "'dt'=yyyy-MM-dd/'hr'=HH",
            "UTC",
            -1,
            "dt=1969-12-31/hr=23",
        ),
        (
            30 * MIN,
            "YYYY/MM/dd/HH/mm",
            "UTC",
            utc_ms(2024, 3, 10, 12, 47, 13),
            "2024/03/10/12/30",
        ),
        (
            30 * MIN,
            "YYYY/MM/dd/HH/mm",
            "UTC",
            utc_ms(2024, 3, 10, 12, 30, 0) - 1,
            "2024/03/10/12/00",
        ),
        // 30-minute buckets at a +05:30 offset: 10:35 local → 10:30, 10:29:59 → 10:00.
        (
            30 * MIN,
            "yyyyMMdd'T'HHmm",
            "Asia/Kolkata",
            utc_ms(2024, 1, 15, 5, 5, 0),
            "20240115T1030",
        ),
        (
            30 * MIN,
            "yyyyMMdd'T'HHmm",
            "Asia/Kolkata",
            utc_ms(2024, 1, 15, 4, 59, 59),
            "20240115T1000",
        ),
        (30 * MIN, "YYYY/MM/dd/HH/mm", "UTC", -1, "1969/12/31/23/30"),
        // 2024-12-30 is in ISO week 1 of 2025; 2021-01-03 in week 53 of 2020.
        (
            24 * HOUR,
            "'y'=yyyy/'w'=ww",
            "UTC",
            utc_ms(2024, 12, 30, 12, 0, 0),
            "y=2024/w=01",
        ),
        (
            24 * HOUR,
            "'y'=yyyy/'w'=ww",
            "UTC",
            utc_ms(2021, 1, 3, 12, 0, 0),
            "y=2021/w=53",
        ),
        (
            24 * HOUR,
            "'x'=xxxx/'w'=ww",
            "UTC",
            utc_ms(2021, 1, 3, 12, 0, 0),
            "x=2020/w=53",
        ),
        // Quoting: '' is a quote, inside or outside quoted text; a trailing '/' is dropped.
        (
            HOUR,
            "'it''s'/yyyy/",
            "UTC",
            utc_ms(2024, 5, 1, 0, 0, 0),
            "it's/2024",
        ),
        (
            HOUR,
            "''yyyy''",
            "UTC",
            utc_ms(2024, 5, 1, 0, 0, 0),
            "'2024'",
        ),
        (
            HOUR,
            "'o''clock'=HH'h'",
            "UTC",
            utc_ms(2024, 5, 1, 9, 0, 0),
            "o'clock=09h",
        ),
        // 7-hour buckets count from 1970-01-01 00:00 local. 2024-03-10 12:00 local is hour
        // 19792 * 24 + 12 = 475020 = 7 * 67860 since then, so it starts a bucket.
        (
            7 * HOUR,
            "yyyy-MM-dd'T'HH",
            "UTC",
            utc_ms(2024, 3, 10, 15, 30, 0),
            "2024-03-10T12",
        ),
        (
            7 * HOUR,
            "yyyy-MM-dd'T'HH",
            "UTC",
            utc_ms(2024, 3, 10, 11, 59, 0),
            "2024-03-10T05",
        ),
        // In New York, 16:30Z is 12:30 EDT: bucket 12:00, offset there -04:00.
        (
            7 * HOUR,
            "yyyy-MM-dd'T'HHZ",
            "America/New_York",
            utc_ms(2024, 3, 10, 16, 30, 0),
            "2024-03-10T12-0400",
        ),
        // 07:30Z is 03:30 EDT = local hour 475011.5, in the bucket from 475006 = 03-09 22:00 EST.
        (
            7 * HOUR,
            "yyyy-MM-dd'T'HHZ",
            "America/New_York",
            utc_ms(2024, 3, 10, 7, 30, 0),
            "2024-03-09T22-0500",
        ),
        // 2-hour buckets: 03:30 EDT falls in the bucket starting at 02:00, a local time that
        // does not exist that day; its zone fields show the offset in force before the gap.
        (
            2 * HOUR,
            "HH:mm Z z",
            "America/New_York",
            utc_ms(2024, 3, 10, 7, 30, 0),
            "02:00 -0500 EST",
        ),
        // Both 01:30s of the fall-back night share the 01:00 bucket, which takes the earlier
        // (EDT) offset, as Joda does.
        (
            HOUR,
            "HH Z z",
            "America/New_York",
            utc_ms(2024, 11, 3, 5, 30, 0),
            "01 -0400 EDT",
        ),
        (
            HOUR,
            "HH Z z",
            "America/New_York",
            utc_ms(2024, 11, 3, 6, 30, 0),
            "01 -0400 EDT",
        ),
        // Zone names and ids.
        (
            HOUR,
            "z ZZ ZZZ",
            "America/New_York",
            utc_ms(2024, 7, 1, 12, 0, 0),
            "EDT -04:00 America/New_York",
        ),
        (
            HOUR,
            "z ZZ ZZZ",
            "America/New_York",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "EST -05:00 America/New_York",
        ),
        (
            HOUR,
            "z ZZ ZZZ",
            "Europe/Berlin",
            utc_ms(2024, 7, 1, 12, 0, 0),
            "CEST +02:00 Europe/Berlin",
        ),
        (
            HOUR,
            "z ZZ ZZZ",
            "Europe/Berlin",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "CET +01:00 Europe/Berlin",
        ),
        (
            HOUR,
            "z ZZ ZZZ",
            "Asia/Kolkata",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "IST +05:30 Asia/Kolkata",
        ),
        (
            HOUR,
            "z ZZ ZZZ",
            "+05:30",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "+05:30 +05:30 +05:30",
        ),
        (
            HOUR,
            "z Z ZZZ",
            "-0800",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "-08:00 -0800 -08:00",
        ),
        (
            HOUR,
            "z Z ZZZ",
            "UTC",
            utc_ms(2024, 1, 1, 12, 0, 0),
            "UTC +0000 UTC",
        ),
        // Text fields in English; 2024-03-10 is a Sunday.
        (
            HOUR,
            "EEE, dd MMM yyyy hh a",
            "UTC",
            utc_ms(2024, 3, 10, 13, 5, 0),
            "Sun, 10 Mar 2024 01 PM",
        ),
        (
            HOUR,
            "EEEE d MMMM G",
            "UTC",
            utc_ms(2024, 3, 10, 0, 5, 0),
            "Sunday 10 March AD",
        ),
        // Fraction of second with 1 ms buckets.
        (
            1,
            "ss.S|SS|SSS|SSSS",
            "UTC",
            utc_ms(2024, 3, 10, 12, 34, 56) + 789,
            "56.7|78|789|7890",
        ),
        (1, "ss.SSS", "UTC", -1, "59.999"),
    ];
    for &(d, pattern, z, t, want) in cases {
        let got = dirs(&custom(d, pattern, z), &[t]);
        assert_eq!(got[0], want, "pattern {pattern:?}, zone {z}, instant {t}");
    }
}

#[test]
fn negative_years() {
    // Proleptic year -44 (45 BC): Joda prints `yyyy` signed and `YYYY` as year of era.
    let t = NaiveDate::from_ymd_opt(-44, 3, 15)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let got = dirs(&custom(HOUR, "yyyy|YYYY|G|HH", "UTC"), &[t]);
    assert_eq!(got, ["-0044|0045|BC|10"]);
}
