use super::*;

const SEED: &str = include_str!("../../tests/fixtures/seed-pipeline.yaml");

fn err(text: &str) -> String {
    PipelineConfig::from_yaml(text, "test.yaml").unwrap_err().to_string()
}

#[test]
fn the_seed_setup_loads_with_defaults() {
    let config = PipelineConfig::from_yaml(SEED, "seed-pipeline.yaml").unwrap();
    let ship = config.ship.as_ref().unwrap();
    assert_eq!(ship.inputs[1].multiline.as_ref().unwrap().max_lines, 500);
    assert_eq!(ship.inputs[0].close_inactive, Duration::from_secs(300));
    assert_eq!(ship.output.kafka.max_message_bytes, 1_000_000);
    assert_eq!(ship.output.kafka.partitioning.strategy, PartitionStrategy::RoundRobin);
    let process = config.process.as_ref().unwrap();
    assert_eq!(process.input.kafka.codec, Codec::Json);
    let Filter::Branches(arms) = &process.filters[0].filter else { panic!() };
    assert_eq!(arms[1].when.as_ref().unwrap().to_string(), "\"error\" in [tags]");
    let Output::Elasticsearch(es) = &process.outputs[0].output else { panic!() };
    assert_eq!(es.action, BulkAction::Index);
    assert_eq!(
        config.summary(),
        "ship: 2 input(s), 2 path(s) -> kafka topic %{[fields][log_topic]}; process: kafka topic(s) nginx -> 1 filter(s), 2 output(s)"
    );
}

#[test]
fn yaml_round_trips() {
    let config = PipelineConfig::from_yaml(SEED, "seed").unwrap();
    let again = PipelineConfig::from_yaml(&config.to_yaml().unwrap(), "again").unwrap();
    assert_eq!(again, config);
}

#[test]
fn typos_are_errors_with_key_path_and_line() {
    let text = SEED.replace("      fields_under_root", "x").replace("group_id: logstash", "groupid: logstash");
    let message = err(&text);
    assert!(message.starts_with("failed to parse config test.yaml (line 29, column 7): at `process.input.kafka.groupid`: unknown field `groupid`"), "{message}");
    assert!(message.contains("unknown field `groupid`"), "{message}");
}

#[test]
fn bad_values_name_their_key() {
    let message = err(&SEED.replace("match: after", "match: later"));
    assert!(message.contains("at `ship.inputs[1].multiline.match`"), "{message}");
    let message = err(&SEED.replace("- nginx_error: {}", "- nginx_error: {}\n              json: {}"));
    assert!(message.contains("exactly one of json, nginx_combined, nginx_error, date, mutate, branches; found json, nginx_error"), "{message}");
    let message = err(&SEED.replace(r#"'"access" in [tags]'"#, r#"'"access" in'"#));
    assert!(message.contains("bad condition `\"access\" in`"), "{message}");
}

#[test]
fn validation_names_the_key_path() {
    let cases = [
        ("192.168.223.105:9092", "192.168.223.105", "`ship.output.kafka.brokers[1]`: `192.168.223.105` is not host:port"),
        ("- id: nginx-error", "- id: nginx-access", "`ship.inputs[1].id`: duplicate input id `nginx-access`"),
        ("'^\\d{4}/\\d{2}/\\d{2} '", "'^(unclosed'", "`ship.inputs[1].multiline.pattern`: bad regex"),
        ("nginx_access-%{+YYYY.MM.dd}", "nginx_access-%{+YYYY.MM.dd", "`process.outputs[0].elasticsearch.index`: failed to parse format"),
        ("timezone: \"+08:00\"", "timezone: Mars/Base", "`process.filters[0].branches[1].filters[1].date.timezone`"),
        ("password_file: /etc/strom/es-password", "password: x\n        password_file: /p", "give either password or password_file"),
        ("        user: elastic\n", "", "`process.outputs[1].elasticsearch.user`: user (or user_file) and a password"),
        ("- when: '\"access\" in [tags]'\n          filters", "- filters", "`process.filters[0].branches[0].when`: only the last arm"),
        ("[\"dd/MMM/yyyy:HH:mm:ss Z\"]", "[\"dd/MMM/yyyy:HH:mm:ss qq\"]", "`process.filters[0].branches[0].filters[1].date.formats[0]`"),
    ];
    for (from, to, expected) in cases {
        assert!(SEED.contains(from), "fixture lacks {from}");
        let message = err(&SEED.replacen(from, to, 1));
        assert!(message.starts_with("invalid config test.yaml: "), "{message}");
        assert!(message.contains(expected), "{to}: {message}");
    }
    assert!(err("{}").contains("needs a `ship` or a `process` section"));
}

#[test]
fn load_names_the_missing_file() {
    let message = PipelineConfig::load(std::path::Path::new("/nonexistent/p.yaml")).unwrap_err().to_string();
    assert!(message.starts_with("failed to read config file /nonexistent/p.yaml"), "{message}");
}
