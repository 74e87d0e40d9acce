//! Wall-clock rotation times aligned to local midnight, as the Confluent sink computes them
//! (`DateTimeUtils.getNextTimeAdjustedByDay`): slots of `interval` from the start of the
//! local day, the last slot cut at the next midnight.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use lakesink_config::TimeZoneId;

/// The start of the local day containing `date` at midnight, as epoch ms. On a day whose
/// midnight does not exist (a DST gap at 00:00), the first instant of the day.
fn local_day_start_ms(date: NaiveDate, tz: TimeZoneId) -> i64 {
    let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz {
        TimeZoneId::Fixed(offset) => midnight.and_utc().timestamp_millis() - offset as i64 * 1000,
        TimeZoneId::Named(zone) => {
            let mut probe = midnight;
            // A gap is at most a few hours; step forward until the local time exists.
            for _ in 0..48 {
                match zone.from_local_datetime(&probe) {
                    LocalResult::Single(t) => return t.timestamp_millis(),
                    LocalResult::Ambiguous(earliest, _) => return earliest.timestamp_millis(),
                    LocalResult::None => probe += chrono::Duration::minutes(30),
                }
            }
            midnight.and_utc().timestamp_millis()
        }
    }
}

fn local_date(now_ms: i64, tz: TimeZoneId) -> NaiveDate {
    let utc: DateTime<Utc> = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    match tz {
        TimeZoneId::Fixed(offset) => (utc + chrono::Duration::seconds(offset as i64)).date_naive(),
        TimeZoneId::Named(zone) => utc.with_timezone(&zone).date_naive(),
    }
}

/// The next scheduled rotation strictly after `now_ms`.
pub fn next_scheduled_rotation(now_ms: u64, interval_ms: u64, tz: TimeZoneId) -> u64 {
    let now = now_ms as i64;
    let date = local_date(now, tz);
    let start = local_day_start_ms(date, tz);
    let next_day = local_day_start_ms(date.checked_add_days(Days::new(1)).unwrap_or(date), tz);
    let interval = interval_ms.max(1) as i64;
    let next = start + ((now - start) / interval + 1) * interval;
    next.min(next_day).max(now + 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakesink_config::parse_timezone;

    fn ms(s: &str) -> u64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis() as u64
    }

    #[test]
    fn slots_align_to_local_midnight() {
        let utc = parse_timezone("UTC").unwrap();
        let hour = 3_600_000;
        assert_eq!(
            next_scheduled_rotation(ms("2024-03-01T10:15:00Z"), hour, utc),
            ms("2024-03-01T11:00:00Z")
        );
        // 7-hour slots: 00, 07, 14, 21, then cut at midnight.
        assert_eq!(
            next_scheduled_rotation(ms("2024-03-01T22:00:00Z"), 7 * hour, utc),
            ms("2024-03-02T00:00:00Z")
        );
        let india = parse_timezone("+05:30").unwrap();
        assert_eq!(
            next_scheduled_rotation(ms("2024-03-01T10:15:00Z"), hour, india),
            ms("2024-03-01T10:30:00Z")
        );
    }

    #[test]
    fn dst_days() {
        let ny = parse_timezone("America/New_York").unwrap();
        let hour = 3_600_000;
        // 2024-03-10: clocks jump 02:00 -> 03:00 EST->EDT; the day has 23 hours.
        // Slots count from local midnight (05:00Z): 01:30 EST is 06:30Z -> next slot 07:00Z.
        assert_eq!(
            next_scheduled_rotation(ms("2024-03-10T06:30:00Z"), hour, ny),
            ms("2024-03-10T07:00:00Z")
        );
        // A daily interval ends at the next local midnight (04:00Z in EDT), not 24 h later.
        assert_eq!(
            next_scheduled_rotation(ms("2024-03-10T12:00:00Z"), 24 * hour, ny),
            ms("2024-03-11T04:00:00Z")
        );
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        // 2024-10-27: 03:00 CEST -> 02:00 CET, a 25-hour day starting 22:00Z the day before.
        // Slots measure elapsed time from local midnight (the anchor's arithmetic), so the
        // 24-hour slot ends at 23:00 local (22:00Z) and the next one at midnight (23:00Z).
        assert_eq!(
            next_scheduled_rotation(ms("2024-10-27T12:00:00Z"), 24 * hour, berlin),
            ms("2024-10-27T22:00:00Z")
        );
        assert_eq!(
            next_scheduled_rotation(ms("2024-10-27T22:30:00Z"), 24 * hour, berlin),
            ms("2024-10-27T23:00:00Z")
        );
    }
}
