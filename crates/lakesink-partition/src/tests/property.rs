//! Randomised checks of time bucketing against an independent chrono computation.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

use super::{check_shape, dir_per_row, no_columns, run, zone};
use crate::{Partitioner, TimeZoneId, TimestampSource};

/// splitmix64: a tiny deterministic generator, so failures reproduce without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ZONES: [&str; 8] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "+05:30",
    "-03:00",
];
const DURATIONS_MIN: [i64; 6] = [1, 15, 30, 60, 7 * 60, 24 * 60];
const PATTERN: &str = "yyyy-MM-dd HH:mm:ss.SSS";

/// The local date-time of the UTC instant `t` in `zone`, by chrono alone.
fn local_of(zone: &TimeZoneId, t: i64) -> NaiveDateTime {
    let utc = DateTime::from_timestamp_millis(t).unwrap().naive_utc();
    match zone {
        TimeZoneId::Named(tz) => tz.from_utc_datetime(&utc).naive_local(),
        TimeZoneId::Fixed(secs) => FixedOffset::east_opt(*secs)
            .unwrap()
            .from_utc_datetime(&utc)
            .naive_local(),
    }
}

#[test]
fn buckets_contain_their_records_and_print_their_start() {
    let mut rng = SplitMix(0x1a4e_5111_c0ff_ee00);
    let mut checked = 0;
    for _batch in 0..80 {
        let zone_name = ZONES[rng.below(ZONES.len() as u64) as usize];
        let z = zone(zone_name);
        let d = DURATIONS_MIN[rng.below(DURATIONS_MIN.len() as u64) as usize] * 60_000;
        let p = Partitioner::time_based(d, PATTERN, "en", z, TimestampSource::Record).unwrap();
        // Mostly spread over ±4e12 ms (1843..2096); some rows close together so batches have
        // repeated buckets as well.
        let base = rng.below(8_000_000_000_001) as i64 - 4_000_000_000_000;
        let times: Vec<i64> = (0..100)
            .map(|_| match rng.below(3) {
                0 => base + rng.below(3 * d as u64) as i64,
                _ => rng.below(8_000_000_000_001) as i64 - 4_000_000_000_000,
            })
            .collect();
        let ts: Vec<Option<i64>> = times.iter().copied().map(Some).collect();
        let b = no_columns(times.len());
        let out = run(&p, &b, false, &ts, 0).unwrap();
        check_shape(&out, times.len());
        assert_eq!(out.times.as_deref(), Some(&times[..]));
        for (&t, dir) in times.iter().zip(dir_per_row(&out, times.len())) {
            let shown = dir.strip_prefix("t/").unwrap();
            let bucket = NaiveDateTime::parse_from_str(shown, "%Y-%m-%d %H:%M:%S%.3f").unwrap();
            let local = local_of(&z, t);
            let ctx = format!("t={t} zone={zone_name} d={d} dir={shown} local={local}");
            // The record's local time lies in [bucket, bucket + d) ...
            assert!(bucket <= local, "{ctx}");
            assert!(local < bucket + chrono::Duration::milliseconds(d), "{ctx}");
            // ... and the bucket is the d-aligned local time below it, printed exactly.
            let local_ms = local.and_utc().timestamp_millis();
            let start = local_ms.div_euclid(d) * d;
            let expected = DateTime::from_timestamp_millis(start)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string();
            assert_eq!(shown, expected, "{ctx}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8000);
}
