use super::*;
use proptest::prelude::*;
use serde_json::json;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn references_parse_bracketed_and_bare() {
    assert_eq!(FieldPath::parse_reference("[log][file][path]").unwrap().dotted(), "log.file.path");
    assert_eq!(FieldPath::parse_reference("message").unwrap().keys(), ["message"]);
    // A bare name is one key, dots and all, as in Logstash.
    assert_eq!(FieldPath::parse_reference("a.b").unwrap().keys(), ["a.b"]);
    assert_eq!(FieldPath::parse_reference("[@metadata][beat]").unwrap().to_string(), "[@metadata][beat]");
}

#[test]
fn bad_references_are_errors_naming_the_reference() {
    for bad in ["", "[]", "[a", "a[b]", "[a]b", "[a[b]]"] {
        let err = FieldPath::parse_reference(bad).unwrap_err();
        assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
    }
    assert!(FieldPath::parse_dotted("a..b").is_err());
}

#[test]
fn get_set_remove_nested() {
    let mut event = Event::new();
    event.set_ref("[log][file][path]", json!("/var/log/nginx/access.log")).unwrap();
    event.set_dotted("log.offset", json!(42)).unwrap();
    assert_eq!(event.as_map()["log"], json!({"file": {"path": "/var/log/nginx/access.log"}, "offset": 42}));
    assert_eq!(event.get_dotted("log.file.path"), Some(&json!("/var/log/nginx/access.log")));
    assert_eq!(event.get_ref("[log][offset]"), Some(&json!(42)));
    assert_eq!(event.get_ref("[log][missing]"), None);
    assert_eq!(event.remove(&FieldPath::parse_dotted("log.offset").unwrap()), Some(json!(42)));
    assert_eq!(event.get_dotted("log.offset"), None);
}

#[test]
fn set_through_a_non_object_is_an_error_and_changes_nothing() {
    let mut event = Event::new();
    event.set_ref("message", json!("hi")).unwrap();
    let before = event.clone();
    let err = event.set_ref("[message][x]", json!(1)).unwrap_err();
    assert_eq!(err.to_string(), "failed to set field [message][x]: `[message]` holds a string, not an object");
    assert_eq!(event, before);
}

#[test]
fn tags_are_added_once_and_a_lone_string_becomes_an_array() {
    let mut event = Event::from_map(json!({"tags": "access"}).as_object().unwrap().clone());
    assert!(event.has_tag("access"));
    event.add_tag("_jsonparsefailure");
    event.add_tag("_jsonparsefailure");
    assert_eq!(event.as_map()["tags"], json!(["access", "_jsonparsefailure"]));
}

#[test]
fn timestamps_are_utc_millis_with_z() {
    assert_eq!(format_timestamp(at("2024-01-02T03:04:05.6789+08:00")), "2024-01-01T19:04:05.678Z");
    let mut event = Event::new();
    event.set_timestamp(at("2024-01-02T03:04:05Z"));
    assert_eq!(event.as_map()["@timestamp"], json!("2024-01-02T03:04:05.000Z"));
    assert_eq!(event.timestamp(), Some(at("2024-01-02T03:04:05Z")));
}

fn line<'a>(tags: &'a [String], fields: &'a Map<String, Value>, under_root: bool) -> ShippedLine<'a> {
    ShippedLine {
        message: "GET / 200",
        path: "/var/log/nginx/access.log",
        offset: 1234,
        input_type: InputType::Filestream,
        host_name: "web1",
        tags,
        fields,
        fields_under_root: under_root,
        multiline: false,
        read_at: at("2024-01-02T03:04:05.006Z"),
    }
}

#[test]
fn filebeat_event_has_filebeats_shape() {
    let tags = vec!["access".to_string()];
    let fields = json!({"log_topic": "nginx"}).as_object().unwrap().clone();
    let event = filebeat_event(&line(&tags, &fields, false));
    let map = event.as_map();
    assert_eq!(map["@timestamp"], json!("2024-01-02T03:04:05.006Z"));
    assert_eq!(map["message"], json!("GET / 200"));
    assert_eq!(map["log"], json!({"file": {"path": "/var/log/nginx/access.log"}, "offset": 1234}));
    assert_eq!(map["input"], json!({"type": "filestream"}));
    assert_eq!(map["host"], json!({"name": "web1"}));
    assert_eq!(map["agent"]["type"], json!("filebeat"));
    assert_eq!(map["ecs"]["version"], json!(ECS_VERSION));
    assert_eq!(map["tags"], json!(["access"]));
    assert_eq!(map["fields"], json!({"log_topic": "nginx"}));
}

#[test]
fn fields_under_root_override_and_empty_tags_are_absent() {
    let fields = json!({"env": "prod", "message": "custom"}).as_object().unwrap().clone();
    let event = filebeat_event(&line(&[], &fields, true));
    let map = event.as_map();
    assert_eq!(map["env"], json!("prod"));
    assert_eq!(map["message"], json!("custom"));
    assert!(!map.contains_key("tags") && !map.contains_key("fields"));
}

proptest! {
    #[test]
    fn set_then_get_round_trips(keys in prop::collection::vec("[a-z@_]{1,6}", 1..5), n in any::<i64>()) {
        let path = FieldPath::new(keys).unwrap();
        let mut event = Event::new();
        event.set(&path, json!(n)).unwrap();
        prop_assert_eq!(event.get(&path), Some(&json!(n)));
        let reparsed = FieldPath::parse_reference(&path.to_string()).unwrap();
        prop_assert_eq!(&reparsed, &path);
        prop_assert_eq!(FieldPath::parse_dotted(&path.dotted()).unwrap(), path);
    }

    #[test]
    fn reference_parsing_never_panics(text in ".{0,40}") {
        let _ = FieldPath::parse_reference(&text);
        let _ = FieldPath::parse_dotted(&text);
    }
}
