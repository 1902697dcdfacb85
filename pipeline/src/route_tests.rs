use super::*;
use proptest::prelude::*;
use serde_json::json;

fn event(value: Value) -> Event {
    Event::from_map(value.as_object().unwrap().clone())
}

fn holds(condition: &str, e: &Event) -> bool {
    evaluate(&Condition::parse(condition).unwrap(), e)
}

#[test]
fn tags_membership_as_in_the_seed() {
    let access = event(json!({"tags": ["access"], "message": "GET /"}));
    assert!(holds(r#""access" in [tags]"#, &access));
    assert!(!holds(r#""error" in [tags]"#, &access));
    assert!(holds(r#""error" not in [tags]"#, &access));
    assert!(!holds(r#""access" in [missing]"#, &access));
    assert!(holds(r#""GET" in [message]"#, &access), "substring of a string");
}

#[test]
fn comparisons() {
    let e = event(json!({"http": {"response": {"status_code": 503}}, "level": "error", "flag": false, "n": null}));
    assert!(holds("[http][response][status_code] >= 500", &e));
    assert!(holds("[http][response][status_code] == 503.0", &e));
    assert!(!holds(r#"[http][response][status_code] == "503""#, &e), "no coercion");
    assert!(holds(r#"[level] == "error" and [level] != "warn""#, &e));
    assert!(holds(r#"[missing] != "x""#, &e));
    assert!(!holds(r#"[missing] == "x""#, &e));
    assert!(!holds(r#"[level] > 3"#, &e), "mixed types order as false");
    assert!(holds(r#"[level] < "f""#, &e));
    assert!(holds("[level] and ![flag] and ![n] and ![missing]", &e));
    assert!(holds(r#"[level] =~ /^err/ and [level] !~ /warn/"#, &e));
    assert!(holds(r#"[level] in ["error", "crit"]"#, &e));
}

#[test]
fn outputs_and_topics_follow_conditions() {
    let config = crate::config::PipelineConfig::from_yaml(
        include_str!("../tests/fixtures/seed-pipeline.yaml"),
        "seed",
    )
    .unwrap();
    let process = config.process.unwrap();
    let error = event(json!({"tags": ["error"], "fields": {"log_topic": "nginx"}}));
    let chosen = outputs(&process.outputs, &error);
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].when.as_ref().unwrap().to_string(), r#""error" in [tags]"#);
    assert!(outputs(&process.outputs, &event(json!({}))).is_empty());

    let ship = config.ship.unwrap();
    assert_eq!(topic(&ship.output.kafka, &error).as_deref(), Some("nginx"));
    let mut kafka = ship.output.kafka.clone();
    kafka.routes.push(crate::config::TopicRoute { when: Condition::parse("[tags] =~ /err/").unwrap(), topic: "errors".into() });
    assert_eq!(topic(&kafka, &error).as_deref(), Some("errors"));
    // A missing field stays literal, as Logstash and Filebeat leave it.
    assert_eq!(topic(&ship.output.kafka, &event(json!({}))).as_deref(), Some("%{[fields][log_topic]}"));
}

proptest! {
    #[test]
    fn not_in_is_the_negation_of_in(tags in prop::collection::vec("[a-c]{1,2}", 0..4), needle in "[a-c]{1,2}") {
        let e = event(json!({"tags": tags}));
        let inside = holds(&format!("\"{needle}\" in [tags]"), &e);
        prop_assert_eq!(inside, tags.contains(&needle));
        prop_assert_eq!(holds(&format!("\"{needle}\" not in [tags]"), &e), !inside);
        prop_assert_eq!(holds(&format!("!(\"{needle}\" in [tags])"), &e), !inside);
    }
}
