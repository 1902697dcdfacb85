//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (`/config/topics/<t>`);
//! broker configs are described read-only (they come from server.properties).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::log::{LogConfig, TOPIC_KEYS};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
// Config sources (DescribeConfigsResponse): 1 topic override, 4 static broker config, 5 default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn config_type(key: &str) -> i8 {
    match key {
        "cleanup.policy" => 7,
        "compression.type" | "message.timestamp.type" => 2,
        "max.message.bytes" | "min.insync.replicas" | "segment.bytes" | "index.interval.bytes" => 3,
        _ => 5,
    }
}

/// The server.properties keys that set a topic config's default (as Kafka's synonyms).
fn broker_synonyms(topic_key: &str) -> &'static [&'static str] {
    match topic_key {
        "retention.ms" => &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
        "segment.ms" => &["log.roll.ms", "log.roll.hours"],
        "cleanup.policy" => &["log.cleanup.policy"],
        "compression.type" => &["compression.type"],
        "flush.messages" => &["log.flush.interval.messages"],
        "flush.ms" => &["log.flush.interval.ms"],
        "index.interval.bytes" => &["log.index.interval.bytes"],
        "max.message.bytes" => &["message.max.bytes"],
        "message.timestamp.type" => &["log.message.timestamp.type"],
        "min.insync.replicas" => &["min.insync.replicas"],
        "retention.bytes" => &["log.retention.bytes"],
        "segment.bytes" => &["log.segment.bytes"],
        _ => &[],
    }
}

fn entry(name: &str, value: String, source: i8, read_only: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default().with_name(s(name)).with_value(Some(s(value))).with_config_source(source).with_read_only(read_only).with_config_type(config_type(name))
}

pub async fn describe(b: &Broker, _c: &mut Conn, req: DescribeConfigsRequest, _h: &RequestHeader) -> Option<DescribeConfigsResponse> {
    let mut resp = DescribeConfigsResponse::default();
    for r in req.resources {
        let name = r.resource_name.to_string();
        let keys: Option<Vec<String>> = r.configuration_keys.map(|k| k.iter().map(|x| x.to_string()).collect());
        let wanted = |k: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|x| x == k));
        let mut out = DescribeConfigsResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
        match r.resource_type {
            TOPIC => match b.snapshot().topics.get(&name) {
                None => out = out.with_error_code(ResponseError::UnknownTopicOrPartition.code()).with_error_message(Some(s(format!("topic {name} does not exist")))),
                Some(t) => {
                    let eff = b.log_config(&t.config);
                    out.configs = TOPIC_KEYS
                        .iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, _)| {
                            let source = if t.config.contains_key(*k) {
                                SOURCE_TOPIC
                            } else if b.config.is_set(broker_synonyms(k)) {
                                SOURCE_STATIC
                            } else {
                                SOURCE_DEFAULT
                            };
                            entry(k, eff.value_of(k), source, false)
                        })
                        .collect();
                }
            },
            BROKER if name.is_empty() || name == b.id().to_string() => {
                let c = &b.config;
                let defaults = [
                    ("broker.id", c.broker_id.to_string()),
                    ("log.dirs", c.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(",")),
                    ("num.partitions", c.num_partitions.to_string()),
                    ("default.replication.factor", c.default_replication_factor.to_string()),
                    ("min.insync.replicas", c.min_insync_replicas.to_string()),
                    ("log.retention.ms", c.log.retention_ms.to_string()),
                    ("log.retention.bytes", c.log.retention_bytes.to_string()),
                    ("log.segment.bytes", c.log.segment_bytes.to_string()),
                    ("message.max.bytes", c.message_max_bytes.to_string()),
                    ("auto.create.topics.enable", c.auto_create_topics_enable.to_string()),
                    ("delete.topic.enable", c.delete_topic_enable.to_string()),
                    ("offsets.topic.replication.factor", c.offsets_topic_replication_factor.to_string()),
                    ("zookeeper.connect", c.zookeeper_connect.clone()),
                ];
                // What server.properties says, then the effective defaults of keys it leaves out.
                let mut configs: Vec<DescribeConfigsResourceResult> = c.raw.iter().filter(|(k, _)| wanted(k) && !k.contains("jaas") && !k.contains("password")).map(|(k, v)| entry(k, v.clone(), SOURCE_STATIC, true)).collect();
                for (k, v) in defaults {
                    if wanted(k) && !c.raw.contains_key(k) {
                        configs.push(entry(k, v, SOURCE_DEFAULT, true));
                    }
                }
                out.configs = configs;
            }
            BROKER => out = out.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(s(format!("this is broker {}, not {name}", b.id())))),
            t => out = out.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(s(format!("resource type {t} is not supported")))),
        }
        resp.results.push(out);
    }
    Some(resp)
}

/// Validates and stores a topic's new override set.
async fn apply(b: &Broker, resource_type: i8, name: &str, build: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String>, validate_only: bool) -> Result<(), (i16, String)> {
    if resource_type != TOPIC {
        return Err((ResponseError::InvalidRequest.code(), "only topic configs can be altered; broker configs come from server.properties".into()));
    }
    let snap = b.snapshot();
    let t = snap.topics.get(name).ok_or((ResponseError::UnknownTopicOrPartition.code(), format!("topic {name} does not exist")))?;
    let new = build(&t.config).map_err(|e| (ResponseError::InvalidConfig.code(), e))?;
    LogConfig::resolve(&b.config.log, &new).map_err(|e| (ResponseError::InvalidConfig.code(), e))?;
    if validate_only {
        return Ok(());
    }
    b.cluster.set_topic_config(name, &new).await.map_err(|e| (ResponseError::UnknownServerError.code(), e.to_string()))?;
    b.sync_with_cluster();
    Ok(())
}

pub async fn alter(b: &Broker, _c: &mut Conn, req: AlterConfigsRequest, _h: &RequestHeader) -> Option<AlterConfigsResponse> {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let mut resp = AlterConfigsResponse::default();
    for r in req.resources {
        let name = r.resource_name.to_string();
        let set: BTreeMap<String, String> = r.configs.iter().filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string()))).collect();
        let mut out = AlterConfigsResourceResponse::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
        if let Err((c, m)) = apply(b, r.resource_type, &name, |_| Ok(set), req.validate_only).await {
            out = out.with_error_code(c).with_error_message(Some(s(m)));
        }
        resp.responses.push(out);
    }
    Some(resp)
}

pub async fn incremental(b: &Broker, _c: &mut Conn, req: IncrementalAlterConfigsRequest, _h: &RequestHeader) -> Option<IncrementalAlterConfigsResponse> {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for r in req.resources {
        let name = r.resource_name.to_string();
        let ops: Vec<(String, i8, Option<String>)> = r.configs.iter().map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string()))).collect();
        let mut out = AlterConfigsResourceResponse::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
        let log_defaults = b.config.log.clone();
        let build = |cur: &BTreeMap<String, String>| {
            let mut new = cur.clone();
            let effective = LogConfig::resolve(&log_defaults, cur).map_err(|e| e.to_string())?;
            for (k, op, v) in &ops {
                // APPEND and SUBTRACT start from the current value, the default when not overridden.
                let list = |m: &BTreeMap<String, String>| -> Vec<String> {
                    let v = m.get(k).cloned().unwrap_or_else(|| effective.value_of(k));
                    v.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
                };
                match (op, v) {
                    (0, Some(v)) => {
                        new.insert(k.clone(), v.clone());
                    }
                    (1, _) => {
                        new.remove(k);
                    }
                    (2, Some(v)) => {
                        let mut l = list(&new);
                        for x in v.split(',') {
                            if !l.iter().any(|y| y == x) {
                                l.push(x.to_string());
                            }
                        }
                        new.insert(k.clone(), l.join(","));
                    }
                    (3, Some(v)) => {
                        let drop: Vec<&str> = v.split(',').collect();
                        let l: Vec<String> = list(&new).into_iter().filter(|x| !drop.contains(&x.as_str())).collect();
                        new.insert(k.clone(), l.join(","));
                    }
                    _ => return Err(format!("invalid operation {op} for {k}")),
                }
            }
            Ok(new)
        };
        if let Err((c, m)) = apply(b, r.resource_type, &name, build, req.validate_only).await {
            out = out.with_error_code(c).with_error_message(Some(s(m)));
        }
        resp.responses.push(out);
    }
    Some(resp)
}
