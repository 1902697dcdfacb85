use super::*;
use proptest::prelude::*;

fn read(format: &str, text: &str, zone_name: &str) -> Option<String> {
    let at = DateFormat::parse(format).unwrap().read(text, &zone(zone_name).unwrap())?;
    Some(crate::event::format_timestamp(at))
}

#[test]
fn nginx_access_time_with_offset() {
    assert_eq!(read("dd/MMM/yyyy:HH:mm:ss Z", "02/Jan/2024:03:04:05 +0800", "UTC").as_deref(), Some("2024-01-01T19:04:05.000Z"));
    assert_eq!(read("dd/MMM/yyyy:HH:mm:ss Z", "02/jan/2024:03:04:05 -0130", "UTC").as_deref(), Some("2024-01-02T04:34:05.000Z"));
    assert_eq!(read("dd/MMM/yyyy:HH:mm:ss Z", "02/Foo/2024:03:04:05 +0800", "UTC"), None);
    assert_eq!(read("dd/MMM/yyyy:HH:mm:ss Z", "02/Jan/2024:03:04:05 +0800 trailing", "UTC"), None);
}

#[test]
fn nginx_error_time_uses_the_timezone() {
    assert_eq!(read("yyyy/MM/dd HH:mm:ss", "2024/01/02 03:04:05", "UTC").as_deref(), Some("2024-01-02T03:04:05.000Z"));
    assert_eq!(read("yyyy/MM/dd HH:mm:ss", "2024/01/02 03:04:05", "+08:00").as_deref(), Some("2024-01-01T19:04:05.000Z"));
    assert_eq!(read("yyyy/MM/dd HH:mm:ss", "2024/07/02 03:04:05", "Europe/Paris").as_deref(), Some("2024-07-02T01:04:05.000Z"));
    assert_eq!(read("yyyy/MM/dd HH:mm:ss", "2024/02/30 03:04:05", "UTC"), None);
}

#[test]
fn iso8601_unix_and_fractions() {
    assert_eq!(read("ISO8601", "2024-01-02T03:04:05.123+02:00", "UTC").as_deref(), Some("2024-01-02T01:04:05.123Z"));
    assert_eq!(read("ISO8601", "2024-01-02T03:04:05", "+01:00").as_deref(), Some("2024-01-02T02:04:05.000Z"));
    assert_eq!(read("UNIX", "1704164645.5", "UTC").as_deref(), Some("2024-01-02T03:04:05.500Z"));
    assert_eq!(read("UNIX_MS", "1704164645123", "UTC").as_deref(), Some("2024-01-02T03:04:05.123Z"));
    assert_eq!(read("yyyy-MM-dd HH:mm:ss.SSS", "2024-01-02 03:04:05.12", "UTC").as_deref(), Some("2024-01-02T03:04:05.120Z"));
    assert_eq!(read("UNIX", "soon", "UTC"), None);
}

#[test]
fn bad_formats_and_zones_are_errors() {
    assert!(matches!(DateFormat::parse("xxxx-ww"), Err(DateError::FormatOnly { letter: 'x', .. })));
    assert!(DateFormat::parse("yyyy-qq").is_err());
    assert!(zone("Mars/Olympus").unwrap_err().to_string().starts_with("failed to find timezone `Mars/Olympus`"));
    assert!(zone("+25:00").is_err());
}

proptest! {
    #[test]
    fn joda_format_then_read_round_trips(secs in 0i64..4_000_000_000, offset_min in -720i32..=840) {
        let offset = Offset::from_seconds(offset_min * 60).unwrap();
        let at = Timestamp::from_second(secs).unwrap();
        let pattern = "dd/MMM/yyyy:HH:mm:ss Z";
        let text = joda::format(&joda::tokenize(pattern).unwrap(), &at.to_zoned(TimeZone::fixed(offset)));
        prop_assert_eq!(DateFormat::parse(pattern).unwrap().read(&text, &TimeZone::UTC), Some(at));
    }

    #[test]
    fn reading_never_panics(text in ".{0,40}") {
        for format in ["dd/MMM/yyyy:HH:mm:ss Z", "yyyy/MM/dd HH:mm:ss", "ISO8601", "UNIX", "UNIX_MS", "yy-M-d S"] {
            let _ = DateFormat::parse(format).unwrap().read(&text, &TimeZone::UTC);
        }
    }
}
