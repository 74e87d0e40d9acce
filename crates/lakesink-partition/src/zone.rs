//! UTC offsets and names of a configured `timezone`.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{GapInfo, OffsetName};
use lakesink_config::TimeZoneId;

use crate::joda::ZoneAt;

/// Offset east of UTC, in seconds, in effect at the UTC instant `utc`.
pub(crate) fn offset_at_utc(zone: &TimeZoneId, utc: &NaiveDateTime) -> i32 {
    match zone {
        TimeZoneId::Fixed(secs) => *secs,
        TimeZoneId::Named(tz) => tz.offset_from_utc_datetime(utc).fix().local_minus_utc(),
    }
}

/// The offset and names that go with the local date-time `local` (a bucket start).
///
/// A local time that occurs twice (autumn overlap) takes the earlier instant's offset, as
/// Joda's `convertLocalToUTC` does. A local time that does not exist (spring gap; only odd
/// durations put a bucket start there) takes the offset in force just before the gap, so the
/// printed pair "local time + offset" still names a real instant.
pub(crate) fn zone_at_local(zone: &TimeZoneId, local: &NaiveDateTime) -> ZoneAt {
    match zone {
        TimeZoneId::Fixed(secs) => {
            let name: Cow<'static, str> = Cow::Owned(fixed_zone_name(*secs));
            ZoneAt {
                offset_secs: *secs,
                short_name: name.clone(),
                id: name,
            }
        }
        TimeZoneId::Named(tz) => {
            let offset = match tz.offset_from_local_datetime(local) {
                LocalResult::Single(o) => o,
                LocalResult::Ambiguous(earliest, _) => earliest,
                LocalResult::None => GapInfo::new(local, tz)
                    .and_then(|gap| gap.begin)
                    .map(|(_, before)| before)
                    .unwrap_or_else(|| tz.offset_from_utc_datetime(local)),
            };
            let offset_secs = offset.fix().local_minus_utc();
            let short_name = match offset.abbreviation() {
                Some(abbreviation) => Cow::Owned(abbreviation.to_string()),
                None => Cow::Owned(print_offset(offset_secs)),
            };
            ZoneAt {
                offset_secs,
                short_name,
                id: Cow::Borrowed(tz.name()),
            }
        }
    }
}

/// Joda's id (and short name) of a fixed-offset zone: `UTC` for zero, else `+05:30`.
fn fixed_zone_name(secs: i32) -> String {
    if secs == 0 {
        "UTC".into()
    } else {
        print_offset(secs)
    }
}

/// Joda's `DateTimeZone.printOffset`: `+05:30`, with `:ss` only when seconds are not zero.
fn print_offset(secs: i32) -> String {
    let mut out = String::new();
    crate::joda::push_offset_hhmm(&mut out, secs, true);
    let rem = secs.unsigned_abs() % 60;
    if rem != 0 {
        let _ = write!(out, ":{rem:02}");
    }
    out
}
