use super::*;
use crate::config::*;

const SEED: &str = include_str!("../../tests/fixtures/seed-nginx.conf");
const SEED_FIXED: &str = include_str!("../../tests/fixtures/seed-nginx-fixed.conf");
const FULL: &str = include_str!("../../tests/fixtures/nginx-full.conf");

fn err(text: &str) -> String {
    to_process(text, "p.conf").unwrap_err().to_string()
}

#[test]
fn the_seeds_file_as_published_lacks_a_closing_brace() {
    // The article's listing never closes `output {`; Logstash refuses it too.
    assert_eq!(
        to_process(SEED, "seed-nginx.conf").unwrap_err().to_string(),
        "failed to parse Logstash pipeline seed-nginx.conf: expected `}`, found end of file at line 26, column 1"
    );
}

#[test]
fn the_seeds_file_with_the_brace_translates() {
    let process = to_process(SEED_FIXED, "seed-nginx-fixed.conf").unwrap();
    let kafka = &process.input.kafka;
    assert_eq!(kafka.brokers, ["192.168.223.104:9092", "192.168.223.105:9092", "192.168.223.106:9092"]);
    assert_eq!(kafka.topics, ["nginx"]);
    assert_eq!(kafka.codec, Codec::Json);
    assert_eq!(kafka.auto_offset_reset, OffsetReset::Latest);
    assert_eq!(kafka.event_type.as_deref(), Some("nginx_filebeat_kafka"));
    assert_eq!(kafka.group_id, "logstash");
    assert!(process.filters.is_empty());
    let routes: Vec<(String, String)> = process
        .outputs
        .iter()
        .map(|o| {
            let Output::Elasticsearch(es) = &o.output else { panic!() };
            assert_eq!(es.hosts, ["192.168.223.100:9200", "192.168.223.101:9200"]);
            (o.when.as_ref().unwrap().to_string(), es.index.clone())
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("\"access\" in [tags]".to_string(), "nginx_access-%{+YYYY.MM.dd}".to_string()),
            ("\"error\" in [tags]".to_string(), "nginx_error-%{+YYYY.MM.dd}".to_string()),
        ]
    );
}

#[test]
fn a_fuller_pipeline_translates() {
    let process = to_process(FULL, "nginx-full.conf").unwrap();
    let kafka = &process.input.kafka;
    assert_eq!(kafka.brokers, ["kafka-0:9092", "kafka-1:9092"]);
    assert_eq!(kafka.topics, ["nginx", "nginx-extra"]);
    assert_eq!((kafka.consumer_threads, kafka.decorate_events, kafka.auto_offset_reset), (2, true, OffsetReset::Earliest));
    let Filter::Branches(arms) = &process.filters[0].filter else { panic!() };
    assert_eq!(arms.len(), 2);
    assert!(matches!(&arms[0].filters[0].filter, Filter::NginxCombined(p) if p.source == "message"));
    let date = &arms[0].filters[1];
    assert!(matches!(&date.filter, Filter::Date(d) if d.field == "timestamp" && d.formats == ["dd/MMM/yyyy:HH:mm:ss Z"]));
    assert_eq!(date.on_success.remove_field, ["timestamp"]);
    assert_eq!(arms[1].filters[0].on_success.add_tag, ["nginx_error"]);
    let conditions: Vec<String> = process.outputs.iter().map(|o| o.when.as_ref().map_or("-".into(), |c| c.to_string())).collect();
    assert_eq!(
        conditions,
        [
            r#""access" in [tags]"#,
            r#"!("access" in [tags]) and ("error" in [tags] and [log][level] != "debug")"#,
            r#"!("access" in [tags] or ("error" in [tags] and [log][level] != "debug"))"#,
            "-",
        ]
    );
    let Output::Elasticsearch(es) = &process.outputs[0].output else { panic!() };
    assert_eq!((es.user.as_deref(), es.password.as_deref()), (Some("elastic"), Some("changeme")));
    assert_eq!(es.tls.as_ref().unwrap().ca, std::path::PathBuf::from("/etc/es/ca.crt"));
    assert!(matches!(process.outputs[3].output, Output::Stdout(StdoutOutput { codec: LineCodec::Rubydebug })));
    // What we translate is a valid config of our own, and survives YAML.
    let config = PipelineConfig { ship: None, process: Some(process) };
    assert_eq!(PipelineConfig::from_yaml(&config.to_yaml().unwrap(), "x").unwrap(), config);
}

#[test]
fn unsupported_things_name_their_place() {
    let base = "input { kafka { topics => [\"t\"] } }\n";
    let cases = [
        ("filter {\n  ruby { code => \"x\" }\n}", "unsupported plugin `ruby` at line 3, column 3"),
        ("filter { grok { match => { \"message\" => \"%{SYSLOGLINE}\" } } }", "unsupported grok pattern `%{SYSLOGLINE}` at line 2, column 17"),
        ("filter { json { source => \"message\" skip_on_invalid_json => true } }", "unsupported setting `skip_on_invalid_json` of plugin `json` at line 2, column 37"),
        ("output { elasticsearch { data_stream => true } }", "unsupported setting `data_stream` of plugin `elasticsearch`"),
        ("output { if [a] xor [b] { stdout {} } }", "unsupported boolean operator (xor/nand) at line 2, column 17"),
        ("output { stdout { codec => line } }", "unsupported codec `line` at line 2, column 19"),
        ("output { stdout { } stdout { codec => rubydebug codec => json } }", "setting `codec` of plugin `stdout` given twice"),
        ("output { kafka { bootstrap_servers => \"k:9092\" } }", "kafka output needs `topic_id`"),
        ("output { stdout {} } banana {}", "expected `input`, `filter` or `output`, found `banana` at line 2, column 22"),
        ("output { elasticsearch { index => \"x-%{+YYYY.qq}\" } }", "the result is invalid at `process.outputs[0].elasticsearch.index`"),
    ];
    for (rest, expected) in cases {
        let message = err(&format!("{base}{rest}"));
        assert!(message.contains(expected), "{rest}\n{message}");
    }
    assert!(err("input { beats { port => 5044 } } output { stdout {} }").contains("unsupported plugin `beats` at line 1, column 9"));
    assert!(err("output { stdout {} }").contains("the pipeline needs a kafka input"));
}

#[test]
fn syntax_details() {
    let text = "# c\ninput { kafka { topics => 'a' } } # trailing\nfilter { mutate { add_field => { \"[a][b]\" => \"%{x}\" 'c' => 1 } } }\noutput { stdout {} }";
    let process = to_process(text, "p.conf").unwrap();
    let add = &process.filters[0].on_success.add_field;
    assert_eq!(add.get("[a][b]").map(String::as_str), Some("%{x}"));
    assert_eq!(add.get("c").map(String::as_str), Some("1"));
    assert!(err("input { kafka { topics => ['a' 'b'] } }").contains("expected `,`, found `'b']`"));
    assert!(err("input { kafka { topics => \"a } }").contains("unterminated string at line 1, column 27"));
}
