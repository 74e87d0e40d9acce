//! `java.text.SimpleDateFormat` patterns, as `TimestampConverter` and `TimestampRouter` take
//! them, translated once into chrono's format items. Written by hand because no crate reads
//! Java's pattern letters; the letters a timestamp in UTC can print are covered, and a
//! pattern using any other letter is refused when the connector is configured.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A parsed pattern.
#[derive(Debug, Clone)]
pub struct DateFormat {
    pattern: String,
    /// The chrono equivalent (`%Y-%m-%d`...), with literal `%` escaped.
    strftime: String,
    /// Whether the pattern has a zone offset (parsing then honours it).
    has_offset: bool,
}

impl DateFormat {
    pub fn new(pattern: &str) -> Result<DateFormat, String> {
        let mut out = String::new();
        let mut has_offset = false;
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                if chars.get(i + 1) == Some(&'\'') {
                    out.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                while j < chars.len() {
                    if chars[j] == '\'' {
                        if chars.get(j + 1) == Some(&'\'') {
                            out.push('\'');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    push_literal(&mut out, chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("'{pattern}': unterminated quote"));
                }
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut out, c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            let item = match (c, n) {
                ('y' | 'u', 2) => "%y",
                ('y' | 'u', _) => "%Y",
                ('M', 1) => "%-m",
                ('M', 2) => "%m",
                ('M', 3) => "%b",
                ('M', _) => "%B",
                ('d', 1) => "%-d",
                ('d', _) => "%d",
                ('D', _) => "%j",
                ('H', 1) => "%-H",
                ('H', _) => "%H",
                ('h', 1) => "%-I",
                ('h', _) => "%I",
                ('m', 1) => "%-M",
                ('m', _) => "%M",
                ('s', 1) => "%-S",
                ('s', _) => "%S",
                ('S', 1) => "%1f",
                ('S', 2) => "%2f",
                ('S', 3) => "%3f",
                ('S', 6) => "%6f",
                ('S', 9) => "%9f",
                ('a', _) => "%p",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('Z', _) => {
                    has_offset = true;
                    "%z"
                }
                ('X', 1 | 2) => {
                    has_offset = true;
                    "%z"
                }
                ('X', _) => {
                    has_offset = true;
                    "%:z"
                }
                // Always UTC here.
                ('z', _) => "UTC",
                _ => {
                    return Err(format!(
                        "'{pattern}': the pattern letter '{}' is not supported",
                        c.to_string().repeat(n)
                    ));
                }
            };
            out.push_str(item);
            i += n;
        }
        if StrftimeItems::new(&out).any(|i| matches!(i, Item::Error)) {
            return Err(format!("'{pattern}' cannot be used as a date format"));
        }
        Ok(DateFormat {
            pattern: pattern.to_string(),
            strftime: out,
            has_offset,
        })
    }

    /// Formats epoch milliseconds in UTC.
    pub fn format(&self, epoch_ms: i64) -> Result<String, String> {
        let t = Utc
            .timestamp_millis_opt(epoch_ms)
            .single()
            .ok_or_else(|| format!("{epoch_ms} ms is out of the range of dates"))?;
        Ok(t.format(&self.strftime).to_string())
    }

    /// Parses a string into epoch milliseconds (UTC unless the pattern has an offset).
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let fail = |e: chrono::ParseError| {
            format!(
                "Could not parse timestamp: value ({text}) does not match pattern ({}): {e}",
                self.pattern
            )
        };
        if self.has_offset {
            return DateTime::parse_from_str(text, &self.strftime)
                .map(|t| t.timestamp_millis())
                .map_err(fail);
        }
        match NaiveDateTime::parse_from_str(text, &self.strftime) {
            Ok(t) => Ok(t.and_utc().timestamp_millis()),
            // A pattern without a time of day (`yyyy-MM-dd`) parses as a date at midnight.
            Err(e) => chrono::NaiveDate::parse_from_str(text, &self.strftime)
                .map(|d| {
                    d.and_time(chrono::NaiveTime::MIN)
                        .and_utc()
                        .timestamp_millis()
                })
                .map_err(|_| fail(e)),
        }
    }
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_format_and_parse_in_utc() {
        let f = DateFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").unwrap();
        // 2024-03-01T12:34:56.789Z
        let ms = 1_709_296_496_789;
        assert_eq!(f.format(ms).unwrap(), "2024-03-01T12:34:56.789Z");
        assert_eq!(f.parse("2024-03-01T12:34:56.789Z").unwrap(), ms);
        let day = DateFormat::new("yyyyMMdd").unwrap();
        assert_eq!(day.format(ms).unwrap(), "20240301");
        assert_eq!(day.parse("20240301").unwrap(), 1_709_251_200_000);
        let quoted = DateFormat::new("yyyy 'o''clock' HH").unwrap();
        assert_eq!(quoted.format(ms).unwrap(), "2024 o'clock 12");
        let zoned = DateFormat::new("yyyy-MM-dd HH:mm:ssXXX").unwrap();
        assert_eq!(
            zoned.parse("2024-03-01 14:34:56+02:00").unwrap(),
            1_709_296_496_000
        );
    }

    #[test]
    fn unknown_letters_and_mismatches_are_named() {
        assert!(DateFormat::new("yyyy-QQ").unwrap_err().contains("'QQ'"));
        assert!(
            DateFormat::new("'open")
                .unwrap_err()
                .contains("unterminated")
        );
        let f = DateFormat::new("yyyy-MM-dd").unwrap();
        assert!(
            f.parse("01/02/2024")
                .unwrap_err()
                .contains("does not match pattern (yyyy-MM-dd)")
        );
    }
}
