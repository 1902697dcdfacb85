//! filebeat.yml (typed) → our `ship` config.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::model::*;
use crate::condition::Condition;
use crate::config::*;
use crate::event::InputType;

/// A problem with the key path it is about.
pub type Problem = (String, String);

fn duration(key: &str, text: &Option<String>, default: Duration) -> Result<Duration, Problem> {
    match text {
        None => Ok(default),
        Some(text) => Duration::parse(text).map_err(|e| (key.to_string(), e)),
    }
}

pub fn ship(yml: &FilebeatYml) -> Result<ShipConfig, Problem> {
    let mut inputs = Vec::new();
    for (i, input) in yml.filebeat.inputs.iter().enumerate() {
        if input.enabled == Some(false) {
            continue;
        }
        inputs.push(self::input(&format!("filebeat.inputs[{i}]"), i, input, &yml.tags)?);
    }
    let data = yml.path.as_ref().and_then(|p| p.data.clone()).unwrap_or_else(|| "data".into());
    let registry_dir = yml.filebeat.registry.as_ref().map_or_else(|| format!("{data}/registry"), |r| r.path.clone());
    Ok(ShipConfig {
        inputs,
        output: ShipOutput { kafka: kafka(&yml.output.kafka)? },
        registry: PathBuf::from(registry_dir).join("strom-registry.json"),
    })
}

fn input(at: &str, index: usize, input: &FbInput, global_tags: &[String]) -> Result<InputConfig, Problem> {
    let input_type = match input.input_type.as_str() {
        "log" => InputType::Log,
        "filestream" => InputType::Filestream,
        other => return Err((format!("{at}.type"), format!("unsupported input type `{other}` (only log, filestream)"))),
    };
    let mut multiline = input.multiline.as_ref().map(|m| self::multiline(&format!("{at}.multiline"), m)).transpose()?;
    for (j, parser) in input.parsers.iter().enumerate() {
        if multiline.is_some() {
            return Err((format!("{at}.parsers[{j}]"), "more than one multiline setting".into()));
        }
        multiline = Some(self::multiline(&format!("{at}.parsers[{j}].multiline"), &parser.multiline)?);
    }
    let close_inactive = match (&input.close_inactive, &input.close) {
        (Some(_), Some(_)) => return Err((format!("{at}.close"), "give close_inactive or close.on_state_change.inactive, not both".into())),
        (_, Some(close)) => Some(close.on_state_change.inactive.clone()),
        (text, None) => text.clone(),
    };
    let scanner = input.prospector.as_ref().map(|p| &p.scanner);
    let scan_frequency = match (&input.scan_frequency, scanner.and_then(|s| s.check_interval.clone())) {
        (Some(_), Some(_)) => return Err((format!("{at}.prospector"), "give scan_frequency or prospector.scanner.check_interval, not both".into())),
        (text, None) => text.clone(),
        (None, interval) => interval,
    };
    let fingerprint = match &input.file_identity {
        None => scanner.and_then(|s| s.fingerprint.as_ref()).is_some_and(|f| f.enabled),
        Some(identity) => match identity.keys().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["fingerprint"] => true,
            ["native"] => false,
            _ => return Err((format!("{at}.file_identity"), "only file_identity.native or file_identity.fingerprint".into())),
        },
    };
    let mut tags = global_tags.to_vec();
    tags.extend(input.tags.iter().cloned());
    Ok(InputConfig {
        id: input.id.clone().unwrap_or_else(|| format!("input-{index}")),
        input_type,
        paths: input.paths.clone(),
        tags,
        fields: input.fields.clone(),
        fields_under_root: input.fields_under_root,
        multiline,
        exclude_lines: input.exclude_lines.clone(),
        include_lines: input.include_lines.clone(),
        close_inactive: duration(&format!("{at}.close_inactive"), &close_inactive, Duration::from_secs(300))?,
        scan_frequency: duration(&format!("{at}.scan_frequency"), &scan_frequency, Duration::from_secs(10))?,
        fingerprint,
    })
}

fn multiline(at: &str, m: &FbMultiline) -> Result<MultilineConfig, Problem> {
    if let Some(kind) = m.kind.as_deref().filter(|k| *k != "pattern") {
        return Err((format!("{at}.type"), format!("unsupported multiline type `{kind}` (only pattern)")));
    }
    let match_ = match m.match_.as_str() {
        "after" => MultilineMatch::After,
        "before" => MultilineMatch::Before,
        other => return Err((format!("{at}.match"), format!("`{other}` is neither after nor before"))),
    };
    Ok(MultilineConfig {
        pattern: m.pattern.clone(),
        negate: m.negate,
        match_,
        max_lines: m.max_lines.unwrap_or(500),
        timeout: duration(&format!("{at}.timeout"), &m.timeout, Duration::from_secs(5))?,
    })
}

/// Filebeat writes `%{[fields.log_topic]}` for the nested field; ours is `%{[fields][log_topic]}`.
pub fn topic_format(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("%{[") {
        let Some(len) = rest[start..].find("]}") else { break };
        let inner = &rest[start + 3..start + len];
        out.push_str(&rest[..start]);
        out.push_str("%{");
        for key in inner.split('.') {
            out.push_str(&format!("[{key}]"));
        }
        out.push('}');
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn reference(dotted: &str) -> String {
    dotted.split('.').map(|k| format!("[{k}]")).collect()
}

fn kafka(k: &FbKafka) -> Result<KafkaOutputConfig, Problem> {
    let at = "output.kafka";
    if k.enabled == Some(false) {
        return Err((format!("{at}.enabled"), "the kafka output is disabled: nothing to ship to".into()));
    }
    let mut routes = Vec::new();
    for (i, t) in k.topics.iter().enumerate() {
        routes.push(TopicRoute { when: when(&format!("{at}.topics[{i}].when"), &t.when)?, topic: topic_format(&t.topic) });
    }
    let topic = match (&k.topic, routes.is_empty()) {
        (Some(topic), _) => topic_format(topic),
        (None, false) => return Err((format!("{at}.topic"), "needs a default topic beside `topics`".into())),
        (None, true) => return Err((format!("{at}.topic"), "missing".into())),
    };
    // Without `required_acks`, strom's default (all, with an idempotent producer) rather than
    // Filebeat's 1: the same delivery or better; `required_acks: 1` keeps Filebeat's.
    let acks = match k.required_acks {
        None => Acks::default(),
        Some(1) => Acks::Leader,
        Some(0) => Acks::None,
        Some(-1) => Acks::All,
        Some(n) => return Err((format!("{at}.required_acks"), format!("`{n}` is not 0, 1 or -1"))),
    };
    let compression = match k.compression.as_deref() {
        None | Some("gzip") => Compression::Gzip,
        Some("none") => Compression::None,
        Some("snappy") => Compression::Snappy,
        Some("lz4") => Compression::Lz4,
        Some("zstd") => Compression::Zstd,
        Some(other) => return Err((format!("{at}.compression"), format!("unsupported compression `{other}`"))),
    };
    let partitioning = match &k.partition {
        None => Partitioning::default(),
        Some(p) => match (&p.round_robin, &p.random, &p.hash) {
            (Some(_), None, None) => Partitioning { strategy: PartitionStrategy::RoundRobin, hash_fields: vec![] },
            (None, Some(_), None) => Partitioning { strategy: PartitionStrategy::Random, hash_fields: vec![] },
            (None, None, Some(h)) if h.hash.is_empty() && h.random == Some(true) => {
                Partitioning { strategy: PartitionStrategy::Random, hash_fields: vec![] }
            }
            (None, None, Some(h)) => Partitioning {
                strategy: PartitionStrategy::Hash,
                hash_fields: h.hash.iter().map(|f| reference(f)).collect(),
            },
            _ => return Err((format!("{at}.partition"), "give exactly one of round_robin, random, hash".into())),
        },
    };
    Ok(KafkaOutputConfig {
        brokers: k.hosts.clone(),
        topic,
        routes,
        acks,
        compression,
        partitioning,
        max_message_bytes: k.max_message_bytes.unwrap_or(1_000_000),
    })
}

/// Flattens an expanded condition map back to (dotted field, value).
fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in map {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(inner) => flatten(&path, inner, out),
            other => out.push((path, other.clone())),
        }
    }
}

fn when(at: &str, w: &FbWhen) -> Result<Condition, Problem> {
    let (kind, map) = match (&w.contains, &w.equals, &w.regexp) {
        (Some(m), None, None) => ("contains", m),
        (None, Some(m), None) => ("equals", m),
        (None, None, Some(m)) => ("regexp", m),
        _ => return Err((at.to_string(), "give exactly one of contains, equals, regexp".into())),
    };
    let mut pairs = Vec::new();
    flatten("", map, &mut pairs);
    let [(field, value)] = pairs.as_slice() else {
        return Err((format!("{at}.{kind}"), "only one field per condition is supported".into()));
    };
    let field = reference(field);
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // Filebeat's `contains` is a substring test on a string or on each string of an array; a regex
    // of the escaped text is the same test.
    let source = match kind {
        "contains" => format!("{field} =~ /{}/", regex::escape(&text).replace('/', "\\/")),
        "equals" => match value {
            Value::String(_) => format!("{field} == \"{}\"", text.replace('"', "\\\"")),
            _ => format!("{field} == {text}"),
        },
        _ => format!("{field} =~ /{}/", text.replace('/', "\\/")),
    };
    Condition::parse(&source).map_err(|e| (format!("{at}.{kind}"), e.message))
}
