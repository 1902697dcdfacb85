use super::*;
use crate::config::*;
use crate::event::InputType;

const SEED: &str = include_str!("../../tests/fixtures/seed-filebeat-reconstructed.yml");
const FILESTREAM: &str = include_str!("../../tests/fixtures/filebeat-filestream.yml");

fn err(text: &str) -> String {
    to_ship(text, "filebeat.yml").unwrap_err().to_string()
}

#[test]
fn the_seeds_filebeat_yml() {
    let ship = to_ship(SEED, "seed").unwrap();
    assert_eq!(ship.inputs.len(), 2);
    assert_eq!((ship.inputs[0].id.as_str(), ship.inputs[0].input_type), ("input-0", InputType::Log));
    assert_eq!(ship.inputs[0].tags, ["access"]);
    assert_eq!(ship.inputs[1].paths, ["/var/log/nginx/error.log"]);
    let kafka = &ship.output.kafka;
    assert_eq!(kafka.brokers.len(), 3);
    assert_eq!(kafka.topic, "nginx");
    assert_eq!((kafka.acks, kafka.compression, kafka.max_message_bytes), (Acks::All, Compression::Gzip, 1_000_000), "no required_acks: strom's default, all");
    assert_eq!(ship.registry, std::path::PathBuf::from("data/registry/strom-registry.json"));
}

#[test]
fn filestream_inputs_and_kafka_options() {
    let ship = to_ship(FILESTREAM, "fs").unwrap();
    let access = &ship.inputs[0];
    assert_eq!(access.tags, ["web1", "access"]);
    assert_eq!(access.fields["log_topic"], serde_json::json!("nginx"));
    assert_eq!((access.scan_frequency, access.close_inactive, access.fingerprint), (Duration::from_secs(2), Duration::from_secs(60), true));
    let error = &ship.inputs[1];
    let multiline = error.multiline.as_ref().unwrap();
    assert_eq!((multiline.negate, multiline.match_, multiline.max_lines), (true, MultilineMatch::After, 200));
    assert_eq!(error.exclude_lines, ["\\[debug\\]"]);
    let kafka = &ship.output.kafka;
    assert_eq!(kafka.topic, "%{[fields][log_topic]}");
    assert_eq!(kafka.routes[0].topic, "nginx-errors");
    assert_eq!(kafka.routes[0].when.to_string(), "[tags] =~ /error/");
    assert_eq!((kafka.acks, kafka.compression), (Acks::All, Compression::Lz4));
    assert_eq!(kafka.partitioning.hash_fields, ["[host][name]"]);
    assert_eq!(kafka.max_message_bytes, 2_000_000);
    assert_eq!(ship.registry, std::path::PathBuf::from("/var/lib/filebeat/registry/strom-registry.json"));
}

#[test]
fn unsupported_keys_name_key_and_line() {
    let text = SEED.replace("  tags: [\"error\"]", "  tags: [\"error\"]\n  harvester_limit: 2");
    assert_eq!(err(&text), "failed to translate filebeat config filebeat.yml (line 16): `filebeat.inputs[1].harvester_limit`: unsupported key `harvester_limit`");
    let text = format!("{SEED}processors:\n  - add_host_metadata: ~\n");
    assert_eq!(err(&text), "failed to translate filebeat config filebeat.yml (line 21): `processors`: unsupported key `processors`");
    let text = SEED.replace("output.kafka:", "output.elasticsearch:\n  hosts: [x]\noutput.kafka:");
    assert!(err(&text).contains("(line 17): `output.elasticsearch`: unsupported key `elasticsearch`"), "{}", err(&text));
    let text = SEED.replacen("type: log", "type: journald", 1);
    assert!(err(&text).contains("(line 5): `filebeat.inputs[0].type`: unsupported input type `journald`"), "{}", err(&text));
    let text = FILESTREAM.replace("type: pattern", "type: count");
    assert!(err(&text).contains("`filebeat.inputs[1].parsers[0].multiline.type`: unsupported multiline type `count`"), "{}", err(&text));
    let text = FILESTREAM.replace("when.contains:", "when.or:");
    assert!(err(&text).contains("unsupported key `or`"), "{}", err(&text));
}

#[test]
fn invalid_values_are_reported() {
    assert!(err(&SEED.replace("topic: \"nginx\"", "")).contains("`output.kafka.topic`: missing"));
    assert!(err(&FILESTREAM.replace("required_acks: -1", "required_acks: 2")).contains("`2` is not 0, 1 or -1"));
    assert_eq!(to_ship(&FILESTREAM.replace("required_acks: -1", "required_acks: 1"), "f").unwrap().output.kafka.acks, Acks::Leader);
    assert!(err(&FILESTREAM.replace("pattern: '^", "pattern: '(^")).contains("the result is invalid at `ship.inputs[1].multiline.pattern`"));
    assert!(err("a: [").starts_with("failed to parse filebeat config filebeat.yml"));
}

#[test]
fn dotted_keys_expand_and_merge() {
    let value: serde_yaml::Value = serde_yaml::from_str("a.b: 1\na: {c: 2}\nd: [{e.f: 3}]").unwrap();
    let expected: serde_yaml::Value = serde_yaml::from_str("a: {b: 1, c: 2}\nd: [{e: {f: 3}}]").unwrap();
    assert_eq!(expand(value), expected);
    assert_eq!(topic_format("logs-%{[fields.a.b]}-x"), "logs-%{[fields][a][b]}-x");
}
