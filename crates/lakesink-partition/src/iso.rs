//! ISO-8601 timestamps in record fields (`timestamp.extractor=RecordField` with a string field).

use chrono::{NaiveDate, NaiveTime, Timelike};

/// Parses an ISO-8601 date or date-time into epoch milliseconds.
///
/// Accepted: `2024-03-10`, `2024-03-10T02:30`, `2024-03-10T02:30:00`, with optional fraction
/// (`.123`, `,5`, up to 9 digits, truncated to milliseconds) and optional offset (`Z`, `+05:30`,
/// `-0800`, `+05`). A space may stand for the `T`.
///
/// Without an offset the time is read as UTC. Confluent's Joda parser would use the JVM's
/// default zone, which is UTC on most servers but is not a contract worth copying: a sink's
/// output must not depend on the host's zone.
pub(crate) fn parse_iso_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4)?;
    p.expect(b'-')?;
    let month = p.digits(2)?;
    p.expect(b'-')?;
    let day = p.digits(2)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let mut millis_of_day = 0i64;
    let mut offset_secs = 0i64;
    if p.i < b.len() {
        match b[p.i] {
            b'T' | b't' | b' ' => p.i += 1,
            _ => return None,
        }
        let hour = p.digits(2)?;
        let (mut minute, mut second, mut millis) = (0, 0, 0);
        if p.peek() == Some(b':') {
            p.i += 1;
            minute = p.digits(2)?;
            if p.peek() == Some(b':') {
                p.i += 1;
                second = p.digits(2)?;
                if matches!(p.peek(), Some(b'.' | b',')) {
                    p.i += 1;
                    millis = p.fraction_millis()?;
                }
            }
        }
        let time = NaiveTime::from_hms_opt(hour, minute, second)?;
        millis_of_day = i64::from(time.num_seconds_from_midnight()) * 1000 + millis;
        match p.peek() {
            None => {}
            Some(b'Z' | b'z') => {
                p.i += 1;
            }
            Some(sign @ (b'+' | b'-')) => {
                p.i += 1;
                let oh = p.digits(2)?;
                let mut om = 0;
                if p.peek() == Some(b':') {
                    p.i += 1;
                    om = p.digits(2)?;
                } else if p.i < b.len() {
                    om = p.digits(2)?;
                }
                if oh > 23 || om > 59 {
                    return None;
                }
                let secs = i64::from(oh * 3600 + om * 60);
                offset_secs = if sign == b'-' { -secs } else { secs };
            }
            Some(_) => return None,
        }
        if p.i != b.len() {
            return None;
        }
    }
    let day_millis = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    day_millis
        .checked_add(millis_of_day)?
        .checked_sub(offset_secs * 1000)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let run = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in run {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }

    /// 1 to 9 fraction digits, truncated to milliseconds.
    fn fraction_millis(&mut self) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        let mut ms = 0i64;
        for k in 0..3 {
            ms = ms * 10 + digits.get(k).map_or(0, |&c| i64::from(c - b'0'));
        }
        Some(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_iso_millis as p;

    // 2024-03-10T00:00:00Z = 19792 days after the epoch (hand-computed: 54 years of which 13
    // leap years = 19723 days to 2024-01-01, then 31 + 29 + 9 days).
    const MAR10: i64 = 19_792 * 86_400_000;
    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    #[test]
    fn accepted_forms() {
        assert_eq!(p("2024-03-10"), Some(MAR10));
        assert_eq!(p("2024-03-10T02:30:00Z"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10T02:30Z"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10T02:30:00"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10 02:30:00"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10T08:00:00+05:30"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-09T18:30:00-0800"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10T07:30:00+05"), Some(MAR10 + 2 * H + 30 * M));
        assert_eq!(p("2024-03-10T00:00:00.123Z"), Some(MAR10 + 123));
        assert_eq!(p("2024-03-10T00:00:00.9999999Z"), Some(MAR10 + 999));
        assert_eq!(p("2024-03-10T00:00:00,5Z"), Some(MAR10 + 500));
        assert_eq!(p("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(p("1970-01-01T00:00:00+01:00"), Some(-H));
    }

    #[test]
    fn rejected_forms() {
        for s in [
            "",
            "2024",
            "2024-3-10",
            "2024-02-30",
            "2024-03-10T",
            "2024-03-10T25:00",
            "2024-03-10T02:30:00X",
            "2024-03-10T02:30:00+5",
            "2024-03-10T02:30:00.Z",
            "2024-03-10T02:30:00Z ",
            "2024-03-10x",
            "yesterday",
        ] {
            assert_eq!(p(s), None, "{s:?}");
        }
    }
}
