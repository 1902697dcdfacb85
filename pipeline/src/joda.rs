//! Joda-Time patterns, the date language of Logstash (`dd/MMM/yyyy:HH:mm:ss Z`, `YYYY.MM.dd`).
//!
//! Supported letters: `y` year, `Y` year of era (same as `y` for our dates), `x` week-year, `w` week of
//! week-year, `M` month (`MMM` Jan, `MMMM` January), `d` day, `D` day of year, `H` hour, `m` minute,
//! `s` second, `S` fraction, `Z` offset (`Z` +0800, `ZZ` +08:00), `'text'` literal. Other letters are
//! refused: better an error at config time than a wrong index name at run time.

use jiff::Zoned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Field { letter: char, count: usize },
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JodaError {
    #[error("failed to read date pattern `{pattern}`: unsupported letter `{letter}`")]
    Letter { pattern: String, letter: char },
    #[error("failed to read date pattern `{pattern}`: unclosed quote")]
    Quote { pattern: String },
}

pub const MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
];

const LETTERS: &str = "yYxwMdDHmsSZ";

pub fn tokenize(pattern: &str) -> Result<Vec<Token>, JodaError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // '' is a quote; 'text' is literal text.
            if chars.get(i + 1) == Some(&'\'') {
                literal.push('\'');
                i += 2;
                continue;
            }
            let Some(end) = chars[i + 1..].iter().position(|&c| c == '\'') else {
                return Err(JodaError::Quote { pattern: pattern.to_string() });
            };
            literal.extend(&chars[i + 1..i + 1 + end]);
            i += end + 2;
        } else if c.is_ascii_alphabetic() {
            if !LETTERS.contains(c) {
                return Err(JodaError::Letter { pattern: pattern.to_string(), letter: c });
            }
            let count = chars[i..].iter().take_while(|&&d| d == c).count();
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Field { letter: c, count });
            i += count;
        } else {
            literal.push(c);
            i += 1;
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

fn padded(n: i64, width: usize) -> String {
    if n < 0 {
        format!("-{:0width$}", -n)
    } else {
        format!("{n:0width$}")
    }
}

/// Formats a zoned time with tokens from `tokenize`.
pub fn format(tokens: &[Token], at: &Zoned) -> String {
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Literal(text) => out.push_str(text),
            Token::Field { letter, count } => {
                let count = *count;
                let text = match letter {
                    'y' | 'Y' | 'x' => {
                        let year = if *letter == 'x' {
                            i64::from(at.date().iso_week_date().year())
                        } else {
                            i64::from(at.year())
                        };
                        if count == 2 {
                            padded(year.rem_euclid(100), 2)
                        } else {
                            padded(year, count)
                        }
                    }
                    'w' => padded(i64::from(at.date().iso_week_date().week()), count),
                    'M' => {
                        let month = at.month();
                        let name = MONTHS[usize::try_from(month - 1).unwrap_or(0) % 12];
                        match count {
                            1 | 2 => padded(i64::from(month), count),
                            3 => name[..3].to_string(),
                            _ => name.to_string(),
                        }
                    }
                    'd' => padded(i64::from(at.day()), count),
                    'D' => padded(i64::from(at.day_of_year()), count),
                    'H' => padded(i64::from(at.hour()), count),
                    'm' => padded(i64::from(at.minute()), count),
                    's' => padded(i64::from(at.second()), count),
                    'S' => {
                        let nanos = format!("{:09}", at.subsec_nanosecond());
                        let mut digits = nanos[..count.min(9)].to_string();
                        digits.extend(std::iter::repeat_n('0', count.saturating_sub(9)));
                        digits
                    }
                    _ => offset_text(at.offset().seconds(), count),
                };
                out.push_str(&text);
            }
        }
    }
    out
}

/// `Z` → `+0800`, `ZZ` → `+08:00` (zero offset as `+0000`/`Z`? Joda prints `+0000`; `ZZ` prints `Z`
/// only with the ISO formatter, so we print `+00:00`).
pub fn offset_text(seconds: i32, count: usize) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (hours, minutes) = (abs / 3600, (abs % 3600) / 60);
    if count == 1 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}:{minutes:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    #[test]
    fn tokenizes_letters_literals_and_quotes() {
        assert_eq!(
            tokenize("yyyy.MM'T'dd").unwrap(),
            vec![
                Token::Field { letter: 'y', count: 4 },
                Token::Literal(".".into()),
                Token::Field { letter: 'M', count: 2 },
                Token::Literal("T".into()),
                Token::Field { letter: 'd', count: 2 },
            ]
        );
        assert_eq!(tokenize("yyyy.MM.qq").unwrap_err().to_string(), "failed to read date pattern `yyyy.MM.qq`: unsupported letter `q`");
        assert!(tokenize("'open").is_err());
    }

    #[test]
    fn formats_logstash_index_patterns() {
        let at = zoned("2024-01-02T03:04:05.678+00:00[UTC]");
        let f = |p: &str| format(&tokenize(p).unwrap(), &at);
        assert_eq!(f("YYYY.MM.dd"), "2024.01.02");
        assert_eq!(f("yyyy-MM-dd'T'HH:mm:ss.SSSZ"), "2024-01-02T03:04:05.678+0000");
        assert_eq!(f("dd/MMM/yyyy"), "02/Jan/2024");
        assert_eq!(f("yy MMMM D"), "24 January 2");
        // 2021-01-01 is in ISO week 53 of 2020.
        let new_year = zoned("2021-01-01T00:00:00+00:00[UTC]");
        assert_eq!(format(&tokenize("xxxx.ww").unwrap(), &new_year), "2020.53");
        assert_eq!(format(&tokenize("ZZ").unwrap(), &zoned("2021-01-01T00:00:00+08:00[Asia/Shanghai]")), "+08:00");
    }
}
