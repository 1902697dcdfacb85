//! Date parsing as Logstash's `date` filter does it: Joda patterns (`dd/MMM/yyyy:HH:mm:ss Z`,
//! `yyyy/MM/dd HH:mm:ss`), `ISO8601`, `UNIX` (seconds, fractions allowed), `UNIX_MS`.
//!
//! A time without an offset is read in the filter's timezone. Logstash's default is the host's zone;
//! ours is UTC, so that a pipeline means the same on every node: set `timezone` explicitly.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

use crate::joda::{self, JodaError, Token, MONTHS};

#[derive(Debug, Clone, PartialEq)]
pub enum DateFormat {
    Iso8601,
    Unix,
    UnixMs,
    Pattern(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DateError {
    #[error(transparent)]
    Pattern(#[from] JodaError),
    #[error("failed to read date pattern `{pattern}`: `{letter}` cannot be parsed, only formatted")]
    FormatOnly { pattern: String, letter: char },
    #[error("failed to find timezone `{zone}`: {reason}")]
    Zone { zone: String, reason: String },
}

impl DateFormat {
    pub fn parse(format: &str) -> Result<DateFormat, DateError> {
        match format {
            "ISO8601" => return Ok(DateFormat::Iso8601),
            "UNIX" => return Ok(DateFormat::Unix),
            "UNIX_MS" => return Ok(DateFormat::UnixMs),
            _ => {}
        }
        let tokens = joda::tokenize(format)?;
        for token in &tokens {
            if let Token::Field { letter: letter @ ('x' | 'w' | 'D'), .. } = token {
                return Err(DateError::FormatOnly { pattern: format.to_string(), letter: *letter });
            }
        }
        Ok(DateFormat::Pattern(tokens))
    }

    /// Reads `text`; `None` when it does not match.
    pub fn read(&self, text: &str, zone: &TimeZone) -> Option<Timestamp> {
        match self {
            DateFormat::Iso8601 => iso8601(text.trim(), zone),
            DateFormat::Unix => {
                let seconds: f64 = text.trim().parse().ok()?;
                if !seconds.is_finite() {
                    return None;
                }
                Timestamp::from_millisecond((seconds * 1000.0).round() as i64).ok()
            }
            DateFormat::UnixMs => Timestamp::from_millisecond(text.trim().parse().ok()?).ok(),
            DateFormat::Pattern(tokens) => pattern(tokens, text, zone),
        }
    }
}

/// An IANA zone name (`Asia/Shanghai`, `UTC`) or a fixed offset (`+08:00`, `-0500`).
pub fn zone(name: &str) -> Result<TimeZone, DateError> {
    if let Some(seconds) = read_offset(name).filter(|(_, used)| *used == name.len()).map(|(s, _)| s) {
        return Offset::from_seconds(seconds).map(TimeZone::fixed).map_err(|e| DateError::Zone {
            zone: name.to_string(),
            reason: e.to_string(),
        });
    }
    TimeZone::get(name).map_err(|e| DateError::Zone { zone: name.to_string(), reason: e.to_string() })
}

/// Tries the formats in order, as the date filter's `match` does.
pub fn read_first(formats: &[DateFormat], text: &str, zone: &TimeZone) -> Option<Timestamp> {
    formats.iter().find_map(|f| f.read(text, zone))
}

fn iso8601(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let civil: DateTime = text.parse().ok()?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// `+0800`, `+08:00`, `-05`, `Z` → (seconds east, bytes used).
fn read_offset(text: &str) -> Option<(i32, usize)> {
    if text.starts_with('Z') {
        return Some((0, 1));
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let bytes = text.as_bytes();
    let digit = |i: usize| bytes.get(i).filter(|b| b.is_ascii_digit()).map(|b| i32::from(b - b'0'));
    let hours = digit(1)? * 10 + digit(2)?;
    let (minutes, used) = match bytes.get(3) {
        Some(b':') => (digit(4)? * 10 + digit(5)?, 6),
        Some(b) if b.is_ascii_digit() => (digit(3)? * 10 + digit(4)?, 5),
        _ => (0, 3),
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60), used))
}

fn digits(text: &str, min: usize, max: usize) -> Option<(i64, usize)> {
    let used = text.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if used < min {
        return None;
    }
    Some((text[..used].parse().ok()?, used))
}

fn pattern(tokens: &[Token], text: &str, zone: &TimeZone) -> Option<Timestamp> {
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut nanos) = (1970i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut offset: Option<i32> = None;
    let mut rest = text;
    for token in tokens {
        match token {
            Token::Literal(literal) => rest = rest.strip_prefix(literal.as_str())?,
            Token::Field { letter, count } => {
                let (value, used) = match letter {
                    'y' | 'Y' if *count == 2 => {
                        let (n, used) = digits(rest, 2, 2)?;
                        (if n < 70 { 2000 + n } else { 1900 + n }, used)
                    }
                    'y' | 'Y' => digits(rest, 1, 9)?,
                    'M' if *count >= 3 => {
                        let (index, used) = MONTHS.iter().enumerate().find_map(|(i, name)| {
                            let name = if *count == 3 { &name[..3] } else { name };
                            let head = rest.get(..name.len())?;
                            head.eq_ignore_ascii_case(name).then_some((i as i64 + 1, name.len()))
                        })?;
                        (index, used)
                    }
                    'S' => {
                        let (n, used) = digits(rest, 1, 9)?;
                        (n * 10i64.pow(9 - used as u32), used)
                    }
                    'Z' => {
                        let (seconds, used) = read_offset(rest)?;
                        offset = Some(seconds);
                        (0, used)
                    }
                    _ => digits(rest, 1, (*count).max(2))?,
                };
                match letter {
                    'y' | 'Y' => year = value,
                    'M' => month = value,
                    'd' => day = value,
                    'H' => hour = value,
                    'm' => minute = value,
                    's' => second = value,
                    'S' => nanos = value,
                    _ => {}
                }
                rest = &rest[used..];
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let civil = DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        i32::try_from(nanos).ok()?,
    )
    .ok()?;
    let zone = match offset {
        Some(seconds) => TimeZone::fixed(Offset::from_seconds(seconds).ok()?),
        None => zone.clone(),
    };
    civil.to_zoned(zone).ok().map(|z| z.timestamp())
}

#[cfg(test)]
#[path = "date_tests.rs"]
mod tests;
