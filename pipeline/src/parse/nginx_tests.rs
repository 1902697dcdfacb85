use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn combined_line_to_ecs() {
    let line = r#"192.168.223.1 - alice [02/Jan/2024:03:04:05 +0800] "GET /index.html?a=1 HTTP/1.1" 200 612 "http://example.com/" "Mozilla/5.0 (X11; Linux x86_64)""#;
    let object = to_object(parse_combined(line).unwrap());
    assert_eq!(
        Value::Object(object),
        json!({
            "source": {"address": "192.168.223.1"},
            "user": {"name": "alice"},
            "timestamp": "02/Jan/2024:03:04:05 +0800",
            "http": {
                "request": {"method": "GET", "referrer": "http://example.com/"},
                "version": "1.1",
                "response": {"status_code": 200, "body": {"bytes": 612}}
            },
            "url": {"original": "/index.html?a=1"},
            "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64)"}
        })
    );
}

#[test]
fn dashes_are_left_out_and_odd_requests_keep_no_request_fields() {
    let line = r#"::1 - - [02/Jan/2024:03:04:05 +0000] "\x16\x03\x01" 400 - "-" "-" "10.0.0.9""#;
    let object = to_object(parse_combined(line).unwrap());
    assert_eq!(
        Value::Object(object),
        json!({
            "source": {"address": "::1"},
            "timestamp": "02/Jan/2024:03:04:05 +0000",
            "http": {"response": {"status_code": 400}}
        })
    );
    let quoted = r#"1.2.3.4 - - [02/Jan/2024:03:04:05 +0000] "GET /a\"b HTTP/2.0" 404 0 "-" "curl \"x\"""#;
    let object = to_object(parse_combined(quoted).unwrap());
    assert_eq!(object["url"]["original"], json!("/a\\\"b"));
    assert_eq!(object["user_agent"]["original"], json!("curl \\\"x\\\""));
}

#[test]
fn non_matching_lines_are_none() {
    assert!(parse_combined("hello world").is_none());
    assert!(parse_combined(r#"1.2.3.4 - - [x] "GET / HTTP/1.1" 200 5"#).is_none(), "common format lacks referrer/agent");
    assert!(parse_error("2024-01-02 03:04:05 error").is_none());
}

#[test]
fn error_line_to_fields() {
    let line = r#"2024/01/02 03:04:05 [error] 123#0: *5 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 192.168.223.1, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "192.168.223.101""#;
    let object = to_object(parse_error(line).unwrap());
    assert_eq!(object["timestamp"], json!("2024/01/02 03:04:05"));
    assert_eq!(object["log"], json!({"level": "error"}));
    assert_eq!(object["process"], json!({"pid": 123, "thread": {"id": 0}}));
    assert_eq!(object["nginx"], json!({"error": {"connection_id": 5}}));
    assert!(object["message"].as_str().unwrap().starts_with("open() \"/usr/share/nginx/html/favicon.ico\" failed"));
    assert_eq!(object["event"]["original"], json!(line));
    let no_conn = to_object(parse_error("2024/01/02 03:04:05 [notice] 1#1: signal process started").unwrap());
    assert!(!no_conn.contains_key("nginx"));
    assert_eq!(no_conn["message"], json!("signal process started"));
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:/?=&%-]{1,20}".prop_filter("not a dash", |s| s != "-")
}

fn quoted_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ./;:()=,_-]{1,30}".prop_filter("not a dash", |s| s != "-")
}

proptest! {
    #[test]
    fn generated_combined_lines_round_trip(
        addr in token(), user in prop::option::of("[a-z]{1,8}"), method in "[A-Z]{3,7}", url in token(),
        version in prop::option::of("[12]\\.[01]"), status in 100u64..600, bytes in prop::option::of(0u64..10_000_000),
        referrer in prop::option::of(quoted_text()), agent in prop::option::of(quoted_text()),
    ) {
        let request = match &version { Some(v) => format!("{method} {url} HTTP/{v}"), None => format!("{method} {url}") };
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let line = format!(
            "{addr} - {} [02/Jan/2024:03:04:05 +0800] \"{request}\" {status} {} \"{}\" \"{}\"",
            dash(&user), bytes.map_or("-".into(), |b| b.to_string()), dash(&referrer), dash(&agent),
        );
        let object = Value::Object(to_object(parse_combined(&line).unwrap()));
        prop_assert_eq!(&object["source"]["address"], &json!(addr));
        prop_assert_eq!(object["user"]["name"].as_str(), user.as_deref());
        prop_assert_eq!(&object["http"]["request"]["method"], &json!(method));
        prop_assert_eq!(&object["url"]["original"], &json!(url));
        prop_assert_eq!(object["http"]["version"].as_str(), version.as_deref());
        prop_assert_eq!(&object["http"]["response"]["status_code"], &json!(status));
        prop_assert_eq!(object["http"]["response"]["body"]["bytes"].as_u64(), bytes);
        prop_assert_eq!(object["http"]["request"]["referrer"].as_str(), referrer.as_deref());
        prop_assert_eq!(object["user_agent"]["original"].as_str(), agent.as_deref());
    }

    #[test]
    fn generated_error_lines_round_trip(level in "(error|warn|notice|crit)", pid in 0u64..1_000_000, tid in 0u64..64,
                                        conn in prop::option::of(0u64..1_000_000), text in "([ -)+-~][ -~]{0,59})?") {
        let conn_text = conn.map_or(String::new(), |c| format!("*{c} "));
        let line = format!("2024/01/02 03:04:05 [{level}] {pid}#{tid}: {conn_text}{text}");
        let object = Value::Object(to_object(parse_error(&line).unwrap()));
        prop_assert_eq!(&object["log"]["level"], &json!(level));
        prop_assert_eq!(&object["process"]["pid"], &json!(pid));
        prop_assert_eq!(&object["process"]["thread"]["id"], &json!(tid));
        prop_assert_eq!(object["nginx"]["error"]["connection_id"].as_u64(), conn);
        // (A text starting with "*N " would read as a connection id, as in Filebeat's pattern.)
        prop_assert_eq!(&object["message"], &json!(text));
    }

    #[test]
    fn parsing_never_panics(line in ".{0,120}") {
        let _ = parse_combined(&line);
        let _ = parse_error(&line);
    }
}
