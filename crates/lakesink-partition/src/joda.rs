//! Joda-Time `DateTimeFormat` patterns, implemented by hand: Confluent's `path.format` is a Joda
//! pattern and no Rust crate implements Joda's pattern language (chrono's `strftime` differs in
//! every letter).
//!
//! A pattern is parsed once into tokens; formatting a bucket then only walks the tokens.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::PartitionerConfigError;

/// The zone facts a pattern may print for one bucket (see [`crate::zone::zone_at_local`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneAt {
    /// Offset east of UTC, seconds.
    pub offset_secs: i32,
    /// `z`: abbreviation such as `EST`, or a printed offset such as `+05:30`.
    pub short_name: Cow<'static, str>,
    /// `ZZZ`: the zone id, such as `America/New_York`.
    pub id: Cow<'static, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    CenturyOfEra,
    YearOfEra,
    Year,
    Weekyear,
    WeekOfWeekyear,
    DayOfWeek,
    DayOfYear,
    Month,
    DayOfMonth,
    HourOfHalfday,
    ClockhourOfHalfday,
    HourOfDay,
    ClockhourOfDay,
    Minute,
    Second,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Era,
    DayOfWeekShort,
    DayOfWeekLong,
    MonthShort,
    MonthLong,
    Halfday,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Num(Num, usize),
    /// `yy`/`YY` (year) or `xx` (weekyear): last two digits of the absolute value, as Joda.
    TwoDigit {
        weekyear: bool,
    },
    Fraction(usize),
    Text(Text),
    ZoneShortName,
    Offset {
        colon: bool,
    },
    ZoneId,
}

/// A parsed Joda pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JodaPattern {
    tokens: Vec<Token>,
}

const KEY: &str = "path.format";

fn err(message: String) -> PartitionerConfigError {
    PartitionerConfigError {
        key: KEY.into(),
        message,
    }
}

impl JodaPattern {
    /// Parses `pattern` the way Joda's `DateTimeFormat.forPattern` does, except that an
    /// unterminated quote is an error (Joda silently takes the rest as literal text, which hides
    /// typos in directory layouts).
    pub(crate) fn parse(pattern: &str) -> Result<JodaPattern, PartitionerConfigError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_alphabetic() {
                let start = i;
                while i < chars.len() && chars[i] == c {
                    i += 1;
                }
                tokens.push(letter_token(c, i - start, start)?);
                continue;
            }
            // Literal run: quoted text and any non-letter, up to the next unquoted letter.
            let mut text = String::new();
            let mut quote_start = None;
            while i < chars.len() {
                let c = chars[i];
                if c == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        text.push('\'');
                        i += 2;
                        continue;
                    }
                    quote_start = match quote_start {
                        Some(_) => None,
                        None => Some(i),
                    };
                } else if quote_start.is_none() && c.is_ascii_alphabetic() {
                    break;
                } else {
                    text.push(c);
                }
                i += 1;
            }
            if let Some(at) = quote_start {
                return Err(err(format!("unterminated quote starting at position {at}")));
            }
            if !text.is_empty() {
                // Adjacent literal runs (`'a''b'` is one run, `-'x'` too) merge into one token.
                match tokens.last_mut() {
                    Some(Token::Literal(prev)) => prev.push_str(&text),
                    _ => tokens.push(Token::Literal(text)),
                }
            }
        }
        if tokens.is_empty() {
            return Err(err("must not be empty".into()));
        }
        Ok(JodaPattern { tokens })
    }

    /// Whether the pattern prints month, weekday, era or AM/PM names (locale-dependent in Joda).
    pub(crate) fn has_text_fields(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Text(_)))
    }

    /// Whether formatting needs the zone's offset or name at the bucket.
    pub(crate) fn uses_zone(&self) -> bool {
        self.tokens.iter().any(|t| {
            matches!(
                t,
                Token::ZoneShortName | Token::Offset { .. } | Token::ZoneId
            )
        })
    }

    /// Appends the formatted local date-time `dt` to `out`. `zone` must be given when
    /// [`Self::uses_zone`] is true; without it zone tokens print nothing.
    pub(crate) fn format_into(&self, dt: &NaiveDateTime, zone: Option<&ZoneAt>, out: &mut String) {
        for token in &self.tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::Num(field, width) => push_padded(out, num_value(*field, dt), *width),
                Token::TwoDigit { weekyear } => {
                    let year = if *weekyear {
                        dt.iso_week().year()
                    } else {
                        dt.year()
                    };
                    push_padded(out, i64::from(year.unsigned_abs() % 100), 2);
                }
                Token::Fraction(width) => {
                    // Joda scales the milliseconds to `width` digits, truncating.
                    let millis = dt.nanosecond() / 1_000_000;
                    let digits = format!("{millis:03}");
                    if *width <= 3 {
                        out.push_str(&digits[..*width]);
                    } else {
                        out.push_str(&digits);
                        out.extend(std::iter::repeat_n('0', *width - 3));
                    }
                }
                Token::Text(text) => out.push_str(text_value(*text, dt)),
                Token::ZoneShortName => {
                    if let Some(z) = zone {
                        out.push_str(&z.short_name);
                    }
                }
                Token::Offset { colon } => {
                    if let Some(z) = zone {
                        push_offset_hhmm(out, z.offset_secs, *colon);
                    }
                }
                Token::ZoneId => {
                    if let Some(z) = zone {
                        out.push_str(&z.id);
                    }
                }
            }
        }
    }
}

/// The token for a run of `count` letters `c` starting at `pos`, following Joda's
/// `DateTimeFormat.parsePatternTo`.
fn letter_token(c: char, count: usize, pos: usize) -> Result<Token, PartitionerConfigError> {
    let num = |field| Ok(Token::Num(field, count));
    match c {
        'G' => Ok(Token::Text(Text::Era)),
        'C' => num(Num::CenturyOfEra),
        // Joda maps `YY` to the two-digit *year* (not year-of-era) printer; so do we.
        'y' | 'Y' if count == 2 => Ok(Token::TwoDigit { weekyear: false }),
        'x' if count == 2 => Ok(Token::TwoDigit { weekyear: true }),
        'y' => num(Num::Year),
        'Y' => num(Num::YearOfEra),
        'x' => num(Num::Weekyear),
        'w' => num(Num::WeekOfWeekyear),
        'e' => num(Num::DayOfWeek),
        'E' if count >= 4 => Ok(Token::Text(Text::DayOfWeekLong)),
        'E' => Ok(Token::Text(Text::DayOfWeekShort)),
        'D' => num(Num::DayOfYear),
        'M' if count >= 4 => Ok(Token::Text(Text::MonthLong)),
        'M' if count == 3 => Ok(Token::Text(Text::MonthShort)),
        'M' => num(Num::Month),
        'd' => num(Num::DayOfMonth),
        'a' => Ok(Token::Text(Text::Halfday)),
        'K' => num(Num::HourOfHalfday),
        'h' => num(Num::ClockhourOfHalfday),
        'H' => num(Num::HourOfDay),
        'k' => num(Num::ClockhourOfDay),
        'm' => num(Num::Minute),
        's' => num(Num::Second),
        'S' => Ok(Token::Fraction(count)),
        // Joda prints full zone names ("Eastern Standard Time") for `zzzz`; we have no table of
        // them, and printing something else would silently change the layout.
        'z' if count >= 4 => Err(err(format!(
            "'zzzz' (full time zone names) at position {pos} is not supported; use z, Z, ZZ or ZZZ"
        ))),
        'z' => Ok(Token::ZoneShortName),
        'Z' if count == 1 => Ok(Token::Offset { colon: false }),
        'Z' if count == 2 => Ok(Token::Offset { colon: true }),
        'Z' => Ok(Token::ZoneId),
        _ => Err(err(format!(
            "illegal pattern component '{c}' at position {pos}"
        ))),
    }
}

fn num_value(field: Num, dt: &NaiveDateTime) -> i64 {
    let year = dt.year();
    // Proleptic ISO calendar as Joda's ISOChronology: year 0 is 1 BC.
    let year_of_era = if year >= 1 { year } else { 1 - year };
    let hour = dt.hour();
    let v = match field {
        Num::CenturyOfEra => year_of_era / 100,
        Num::YearOfEra => year_of_era,
        Num::Year => year,
        Num::Weekyear => dt.iso_week().year(),
        Num::WeekOfWeekyear => dt.iso_week().week() as i32,
        Num::DayOfWeek => dt.weekday().number_from_monday() as i32,
        Num::DayOfYear => dt.ordinal() as i32,
        Num::Month => dt.month() as i32,
        Num::DayOfMonth => dt.day() as i32,
        Num::HourOfHalfday => (hour % 12) as i32,
        Num::ClockhourOfHalfday => match hour % 12 {
            0 => 12,
            h => h as i32,
        },
        Num::HourOfDay => hour as i32,
        Num::ClockhourOfDay => match hour {
            0 => 24,
            h => h as i32,
        },
        Num::Minute => dt.minute() as i32,
        Num::Second => dt.second() as i32,
    };
    i64::from(v)
}

const DAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAYS_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn text_value(text: Text, dt: &NaiveDateTime) -> &'static str {
    let weekday = dt.weekday().num_days_from_monday() as usize;
    let month = dt.month0() as usize;
    match text {
        Text::Era if dt.year() >= 1 => "AD",
        Text::Era => "BC",
        Text::DayOfWeekShort => DAYS_SHORT[weekday],
        Text::DayOfWeekLong => DAYS_LONG[weekday],
        Text::MonthShort => MONTHS_SHORT[month],
        Text::MonthLong => MONTHS_LONG[month],
        Text::Halfday if dt.hour() < 12 => "AM",
        Text::Halfday => "PM",
    }
}

/// Joda's `FormatUtils.appendPaddedInteger`: sign first, then the magnitude zero-padded to
/// `width` digits (so -44 at width 4 is `-0044`; Rust's `{:04}` would give `-044`).
fn push_padded(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:0width$}", v.unsigned_abs());
}

/// Joda's `TimeZoneOffset` printer with two fields: `-0800` / `-08:00`, seconds truncated.
pub(crate) fn push_offset_hhmm(out: &mut String, offset_secs: i32, colon: bool) {
    out.push(if offset_secs < 0 { '-' } else { '+' });
    let abs = offset_secs.unsigned_abs();
    let _ = write!(out, "{:02}", abs / 3600);
    if colon {
        out.push(':');
    }
    let _ = write!(out, "{:02}", abs % 3600 / 60);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn fmt(pattern: &str, dt: NaiveDateTime) -> String {
        let p = JodaPattern::parse(pattern).unwrap();
        let mut out = String::new();
        p.format_into(&dt, None, &mut out);
        out
    }

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_milli_opt(h, mi, s, ms)
            .unwrap()
    }

    #[test]
    fn quoting() {
        let t = dt(2024, 3, 10, 1, 2, 3, 0);
        assert_eq!(fmt("'it''s'/yyyy", t), "it's/2024");
        assert_eq!(fmt("''yyyy''", t), "'2024'");
        assert_eq!(fmt("'a''b'''", t), "a'b'");
        assert_eq!(fmt("'year'=YYYY", t), "year=2024");
        // Non-ASCII letters are literal text in Joda.
        assert_eq!(fmt("é-yyyy", t), "é-2024");
        // A quoted letter run is text, not a field.
        assert_eq!(fmt("'HH'HH", t), "HH01");
    }

    #[test]
    fn numeric_fields_and_padding() {
        // 2024-03-10 is a Sunday, day 31 + 29 + 10 = 70 of a leap year, ISO week 10.
        let t = dt(2024, 3, 10, 13, 5, 9, 789);
        assert_eq!(
            fmt("y-yyy-yyyyy-yy-YY-YYYYY", t),
            "2024-2024-02024-24-24-02024"
        );
        assert_eq!(fmt("C CC G", t), "20 20 AD");
        assert_eq!(fmt("D DDD e w ww x xx", t), "70 070 7 10 10 2024 24");
        assert_eq!(fmt("M MM MMM MMMM d dd", t), "3 03 Mar March 10 10");
        assert_eq!(fmt("E EEE EEEE", t), "Sun Sun Sunday");
        assert_eq!(fmt("H HH k K h hh a", t), "13 13 13 1 1 01 PM");
        assert_eq!(fmt("m mm s ss", t), "5 05 9 09");
        assert_eq!(fmt("S SS SSS SSSS", t), "7 78 789 7890");
    }

    #[test]
    fn hour_variants_at_midnight_and_noon() {
        let midnight = dt(2024, 3, 10, 0, 30, 0, 0);
        assert_eq!(fmt("H k K h a", midnight), "0 24 0 12 AM");
        let noon = dt(2024, 3, 10, 12, 0, 0, 0);
        assert_eq!(fmt("H k K h a", noon), "12 12 0 12 PM");
    }

    #[test]
    fn weekyear_differs_from_year_at_year_ends() {
        // 2024-12-30 is the Monday of ISO week 1 of 2025.
        let t = dt(2024, 12, 30, 0, 0, 0, 0);
        assert_eq!(fmt("'y'=yyyy/'w'=ww/'x'=xxxx", t), "y=2024/w=01/x=2025");
        // 2021-01-03 (a Sunday) belongs to ISO week 53 of 2020.
        let t = dt(2021, 1, 3, 0, 0, 0, 0);
        assert_eq!(fmt("yyyy/xxxx/ww/xx", t), "2021/2020/53/20");
    }

    #[test]
    fn years_before_the_common_era() {
        // Proleptic year -44 is 45 BC.
        let t = dt(-44, 3, 15, 0, 0, 0, 0);
        assert_eq!(fmt("yyyy YYYY G yy CC", t), "-0044 0045 BC 44 00");
        // Year 0 is 1 BC.
        let t = dt(0, 1, 1, 0, 0, 0, 0);
        assert_eq!(fmt("y Y G yy", t), "0 1 BC 00");
        let t = dt(500, 6, 15, 0, 0, 0, 0);
        assert_eq!(fmt("yyyy y C", t), "0500 500 5");
    }

    #[test]
    fn zone_tokens() {
        let p = JodaPattern::parse("Z|ZZ|ZZZ|z").unwrap();
        assert!(p.uses_zone());
        let zone = ZoneAt {
            offset_secs: -(4 * 3600 + 56 * 60 + 2),
            short_name: "LMT".into(),
            id: "America/New_York".into(),
        };
        let mut out = String::new();
        p.format_into(&dt(1880, 1, 1, 0, 0, 0, 0), Some(&zone), &mut out);
        // Seconds of the offset are dropped, as Joda's two-field offset printer does.
        assert_eq!(out, "-0456|-04:56|America/New_York|LMT");
        let zone = ZoneAt {
            offset_secs: 0,
            short_name: "UTC".into(),
            id: "UTC".into(),
        };
        let mut out = String::new();
        p.format_into(&dt(2024, 1, 1, 0, 0, 0, 0), Some(&zone), &mut out);
        assert_eq!(out, "+0000|+00:00|UTC|UTC");
    }

    #[test]
    fn parse_errors() {
        let e = JodaPattern::parse("yyyy/'hour'=HH/q").unwrap_err();
        assert_eq!(e.key, "path.format");
        assert_eq!(e.message, "illegal pattern component 'q' at position 15");
        let e = JodaPattern::parse("'year=yyyy").unwrap_err();
        assert_eq!(e.message, "unterminated quote starting at position 0");
        let e = JodaPattern::parse("yyyy/'it''s").unwrap_err();
        assert_eq!(e.message, "unterminated quote starting at position 5");
        let e = JodaPattern::parse("").unwrap_err();
        assert_eq!(e.message, "must not be empty");
        assert!(JodaPattern::parse("zzzz").is_err());
        assert!(JodaPattern::parse("T").is_err());
    }

    #[test]
    fn text_field_detection() {
        assert!(
            !JodaPattern::parse("'year'=YYYY/MM")
                .unwrap()
                .has_text_fields()
        );
        for p in ["MMM", "MMMM", "E", "EEEE", "G", "a"] {
            assert!(JodaPattern::parse(p).unwrap().has_text_fields(), "{p}");
        }
        assert!(!JodaPattern::parse("yyyy").unwrap().uses_zone());
    }
}
