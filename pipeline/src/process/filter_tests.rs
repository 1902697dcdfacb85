use serde_json::json;

use super::*;
use crate::config::ProcessConfig;

fn steps(yaml: &str) -> Vec<Step> {
    let cfg: ProcessConfig = serde_yaml::from_str(&format!("input: {{kafka: {{brokers: [b], topics: [t]}}}}\noutputs: [{{stdout: {{}}}}]\nfilters:\n{yaml}")).unwrap();
    compile(&cfg.filters).unwrap()
}

fn event(v: serde_json::Value) -> Event {
    match v {
        serde_json::Value::Object(m) => Event::from_map(m),
        _ => unreachable!(),
    }
}

const ACCESS: &str = r#"10.0.0.7 - - [02/Jan/2024:03:04:05 +0800] "GET /index.html HTTP/1.1" 200 612 "-" "curl/8.5.0""#;

#[test]
fn the_seeds_branches_parse_access_and_error_lines_into_ecs_fields_with_their_time() {
    let s = steps(
        r#"
  - branches:
      - when: '"access" in [tags]'
        filters:
          - nginx_combined: {}
          - date: {field: timestamp, formats: ["dd/MMM/yyyy:HH:mm:ss Z"]}
      - when: '"error" in [tags]'
        filters:
          - nginx_error: {}
          - date: {field: timestamp, formats: ["yyyy/MM/dd HH:mm:ss"], timezone: "+08:00"}
"#,
    );
    let mut a = event(json!({"message": ACCESS, "tags": ["access"], "@timestamp": "2026-11-27T00:00:00.000Z"}));
    run(&s, &mut a);
    assert_eq!(a.get_dotted("http.response.status_code"), Some(&json!(200)));
    assert_eq!(a.get_dotted("url.original"), Some(&json!("/index.html")));
    assert_eq!(a.get_dotted("source.address"), Some(&json!("10.0.0.7")));
    // the log line's own time, in UTC
    assert_eq!(a.as_map()["@timestamp"], "2024-01-01T19:04:05.000Z");
    assert!(a.tags().is_empty() || !a.tags().iter().any(|t| t.starts_with('_')), "{a:?}");
    let mut e = event(json!({"message": "2024/01/02 03:04:05 [error] 12#0: *5 open() \"/x\" failed", "tags": ["error"], "@timestamp": "2026-11-27T00:00:00.000Z"}));
    run(&s, &mut e);
    assert_eq!(e.get_dotted("log.level"), Some(&json!("error")));
    assert_eq!(e.as_map()["@timestamp"], "2024-01-01T19:04:05.000Z");
    // a line that is neither: tagged by the parser, the date filter does nothing more
    let mut bad = event(json!({"message": "garbage", "tags": ["access"]}));
    run(&s, &mut bad);
    assert!(bad.has_tag("_grokparsefailure"));
    assert!(bad.has_tag("_dateparsefailure") || bad.get_ref("[timestamp]").is_none());
}

#[test]
fn json_filter_merges_or_nests_and_tags_failures() {
    let s = steps("  - json: {source: message}\n");
    let mut e = event(json!({"message": "{\"user\":\"ann\",\"n\":3}"}));
    run(&s, &mut e);
    assert_eq!((e.get_ref("[user]"), e.get_ref("[n]")), (Some(&json!("ann")), Some(&json!(3))));
    let mut e = event(json!({"message": "{oops"}));
    run(&s, &mut e);
    assert!(e.has_tag("_jsonparsefailure"));
    let s = steps("  - json: {source: message, target: doc}\n    add_tag: [decoded]\n");
    let mut e = event(json!({"message": "[1,2]"}));
    run(&s, &mut e);
    assert_eq!(e.get_ref("[doc]"), Some(&json!([1, 2])));
    assert!(e.has_tag("decoded"), "decorations on success");
}

#[test]
fn decorations_apply_only_on_success_and_interpolate() {
    let s = steps("  - nginx_combined: {}\n    add_field: {\"[route]\": \"%{[http][request][method]}-%{[url][original]}\"}\n    add_tag: [parsed]\n    remove_field: [message]\n");
    let mut ok = event(json!({"message": ACCESS}));
    run(&s, &mut ok);
    assert_eq!(ok.get_ref("[route]"), Some(&json!("GET-/index.html")));
    assert!(ok.has_tag("parsed") && ok.get_ref("[message]").is_none());
    let mut bad = event(json!({"message": "nope"}));
    run(&s, &mut bad);
    assert!(!bad.has_tag("parsed") && bad.get_ref("[message]").is_some() && bad.has_tag("_grokparsefailure"));
}

#[test]
fn when_and_rename() {
    let s = steps("  - when: '[level] == \"warn\"'\n    mutate: {rename: {\"[level]\": \"[log][level]\"}}\n    remove_tag: [raw]\n");
    let mut e = event(json!({"level": "warn", "tags": ["raw", "x"]}));
    run(&s, &mut e);
    assert_eq!(e.get_dotted("log.level"), Some(&json!("warn")));
    assert_eq!(e.tags(), ["x"]);
    let mut other = event(json!({"level": "info", "tags": ["raw"]}));
    run(&s, &mut other);
    assert_eq!(other.get_ref("[level]"), Some(&json!("info")));
}
