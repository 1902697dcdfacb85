//! The Kafka admin requests the Topic controller makes, over the broker's own minimal client
//! (`strom_broker::replication::client`): Metadata, CreateTopics, CreatePartitions, DeleteTopics.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_broker::replication::client::KafkaConn;

use crate::crd::topic::PartitionStatus;

const TIMEOUT: Duration = Duration::from_secs(30);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A connection to the first bootstrap server that answers, all tried at once (one that is down,
/// such as a deleted pod whose name still resolves, costs no wait when another answers), each
/// given half a second: a connection on the cluster network takes milliseconds, and a reconcile
/// must not wait seconds for brokers that are starting or gone.
async fn connect(bootstrap: &str) -> Result<KafkaConn, String> {
    let tries: Vec<_> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|addr| Box::pin(async move { KafkaConn::connect(addr, "strom-operator", Duration::from_millis(500)).await.map_err(|e| format!("{addr}: {e}")) }))
        .collect();
    if tries.is_empty() {
        return Err("no bootstrap server".into());
    }
    futures::future::select_ok(tries).await.map(|(c, _)| c)
}

/// The topic's partitions (leader, replicas, ISR), or `None` when it does not exist.
pub async fn describe(bootstrap: &str, topic: &str) -> Result<Option<Vec<PartitionStatus>>, String> {
    let mut c = connect(bootstrap).await?;
    let req = MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(s(topic))))])).with_allow_auto_topic_creation(false);
    let md = c.send(&req, 9, TIMEOUT).await.map_err(|e| e.to_string())?;
    let Some(t) = md.topics.into_iter().next() else { return Ok(None) };
    match t.error_code {
        0 => {}
        3 => return Ok(None), // UNKNOWN_TOPIC_OR_PARTITION
        code => return Err(format!("metadata of {topic}: error {code}")),
    }
    let mut parts: Vec<PartitionStatus> = t
        .partitions
        .iter()
        .map(|p| PartitionStatus { partition: p.partition_index, leader: p.leader_id.0, replicas: p.replica_nodes.iter().map(|r| r.0).collect(), isr: p.isr_nodes.iter().map(|r| r.0).collect() })
        .collect();
    parts.sort_by_key(|p| p.partition);
    Ok(Some(parts))
}

pub async fn create(bootstrap: &str, topic: &str, partitions: i32, rf: i32, config: &BTreeMap<String, String>) -> Result<(), String> {
    let mut c = connect(bootstrap).await?;
    let t = CreatableTopic::default()
        .with_name(TopicName(s(topic)))
        .with_num_partitions(partitions)
        .with_replication_factor(rf as i16)
        .with_configs(config.iter().map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v)))).collect());
    let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(TIMEOUT.as_millis() as i32);
    let resp = c.send(&req, 5, TIMEOUT).await.map_err(|e| e.to_string())?;
    match resp.topics.first().map(|r| (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))) {
        Some((0 | 36, _)) | None => Ok(()), // 36: TOPIC_ALREADY_EXISTS
        Some((code, msg)) => Err(format!("CreateTopics {topic}: error {code} {}", msg.unwrap_or_default())),
    }
}

pub async fn grow(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let mut c = connect(bootstrap).await?;
    let req = CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default().with_name(TopicName(s(topic))).with_count(partitions).with_assignments(None)]).with_timeout_ms(TIMEOUT.as_millis() as i32);
    let resp = c.send(&req, 1, TIMEOUT).await.map_err(|e| e.to_string())?;
    match resp.results.first().map(|r| (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))) {
        Some((0, _)) | None => Ok(()),
        Some((code, msg)) => Err(format!("CreatePartitions {topic}: error {code} {}", msg.unwrap_or_default())),
    }
}

pub async fn delete(bootstrap: &str, topic: &str) -> Result<(), String> {
    let mut c = connect(bootstrap).await?;
    let req = DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s(topic))]).with_timeout_ms(TIMEOUT.as_millis() as i32);
    let resp = c.send(&req, 4, TIMEOUT).await.map_err(|e| e.to_string())?;
    match resp.responses.first().map(|r| r.error_code) {
        Some(0 | 3) | None => Ok(()), // 3: already gone
        Some(code) => Err(format!("DeleteTopics {topic}: error {code}")),
    }
}

/// The broker ids that hold a replica of any partition (topics being deleted included).
pub async fn brokers_with_replicas(bootstrap: &str) -> Result<std::collections::BTreeSet<i32>, String> {
    let mut c = connect(bootstrap).await?;
    let md = c.send(&MetadataRequest::default().with_topics(None), 9, TIMEOUT).await.map_err(|e| e.to_string())?;
    Ok(md.topics.iter().flat_map(|t| t.partitions.iter()).flat_map(|p| p.replica_nodes.iter().map(|r| r.0)).collect())
}

/// The registered broker ids and the controller, as the first reachable bootstrap broker sees them.
pub async fn brokers(bootstrap: &str) -> Result<(Vec<i32>, i32), String> {
    let mut c = connect(bootstrap).await?;
    let md = c.send(&MetadataRequest::default().with_topics(Some(vec![])), 9, TIMEOUT).await.map_err(|e| e.to_string())?;
    let mut ids: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort_unstable();
    Ok((ids, md.controller_id.0))
}

/// The controller and the number of under-replicated partitions (fewer in sync than replicas,
/// replicas a reassignment is still adding aside: the metadata does not say which those are, so
/// a reassignment in progress counts; the roller then waits for it, which is what it should do).
pub async fn health(bootstrap: &str) -> Result<crate::probe::BrokerHealth, String> {
    let mut c = connect(bootstrap).await?;
    let md = c.send(&MetadataRequest::default().with_topics(None), 9, TIMEOUT).await.map_err(|e| e.to_string())?;
    let under_replicated = md.topics.iter().flat_map(|t| t.partitions.iter()).filter(|p| p.isr_nodes.len() < p.replica_nodes.len()).count();
    Ok(crate::probe::BrokerHealth { controller: md.controller_id.0, under_replicated })
}

/// Kafka's resource type of a topic in the config APIs.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs' config source of a per-topic override.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;

/// The topic's overrides (its dynamic topic configs), as kafka-configs.sh --describe lists them.
pub async fn topic_configs(bootstrap: &str, topic: &str) -> Result<BTreeMap<String, String>, String> {
    let mut c = connect(bootstrap).await?;
    let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default().with_resource_type(TOPIC_RESOURCE).with_resource_name(s(topic)).with_configuration_keys(None)]);
    let resp = c.send(&req, 1, TIMEOUT).await.map_err(|e| e.to_string())?;
    let Some(r) = resp.results.first() else { return Err(format!("DescribeConfigs {topic}: no result")) };
    if r.error_code != 0 {
        return Err(format!("DescribeConfigs {topic}: error {} {}", r.error_code, r.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default()));
    }
    Ok(r.configs.iter().filter(|e| e.config_source == DYNAMIC_TOPIC_CONFIG).map(|e| (e.name.to_string(), e.value.as_ref().map(|v| v.to_string()).unwrap_or_default())).collect())
}

/// Sets the topic's overrides to exactly `config` (AlterConfigs replaces the whole set: a key
/// left out goes back to the broker's default).
pub async fn set_topic_configs(bootstrap: &str, topic: &str, config: &BTreeMap<String, String>) -> Result<(), String> {
    let mut c = connect(bootstrap).await?;
    let entries = config.iter().map(|(k, v)| AlterableConfig::default().with_name(s(k)).with_value(Some(s(v)))).collect();
    let req = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default().with_resource_type(TOPIC_RESOURCE).with_resource_name(s(topic)).with_configs(entries)]);
    let resp = c.send(&req, 1, TIMEOUT).await.map_err(|e| e.to_string())?;
    match resp.responses.first().map(|r| (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))) {
        Some((0, _)) | None => Ok(()),
        Some((code, msg)) => Err(format!("AlterConfigs {topic}: error {code} {}", msg.unwrap_or_default())),
    }
}

/// A consumer group's lag on a topic: for each partition where the group has committed an
/// offset, the partition's end offset minus it (partitions it never committed count nothing),
/// summed. `kafka-consumer-groups.sh --describe`'s LAG column, added up.
pub async fn group_lag(bootstrap: &str, group: &str, topic: &str) -> Result<i64, String> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, GroupId, ListOffsetsRequest, OffsetFetchRequest};
    let mut c = connect(bootstrap).await?;
    let req = MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(s(topic))))])).with_allow_auto_topic_creation(false);
    let md = c.send(&req, 9, TIMEOUT).await.map_err(|e| e.to_string())?;
    let Some(t) = md.topics.first().filter(|t| t.error_code == 0) else { return Err(format!("topic {topic} is not there")) };
    let addr = |id: i32| md.brokers.iter().find(|b| b.node_id == BrokerId(id)).map(|b| format!("{}:{}", b.host, b.port));
    // End offsets, asked of each partition's leader.
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &t.partitions {
        by_leader.entry(p.leader_id.0).or_default().push(p.partition_index);
    }
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for (leader, parts) in by_leader {
        let a = addr(leader).ok_or_else(|| format!("partition leader {leader} of {topic} is unknown"))?;
        let mut lc = connect(&a).await?;
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default().with_name(TopicName(s(topic))).with_partitions(parts.iter().map(|p| ListOffsetsPartition::default().with_partition_index(*p).with_timestamp(-1)).collect())]);
        let resp = lc.send(&req, 1, TIMEOUT).await.map_err(|e| e.to_string())?;
        for p in resp.topics.iter().flat_map(|t| t.partitions.iter()).filter(|p| p.error_code == 0) {
            ends.insert(p.partition_index, p.offset);
        }
    }
    // Committed offsets, asked of the group's coordinator.
    let fc = c.send(&FindCoordinatorRequest::default().with_key(s(group)).with_key_type(0), 1, TIMEOUT).await.map_err(|e| e.to_string())?;
    if fc.error_code != 0 {
        return Err(format!("no coordinator for group {group}: error {}", fc.error_code));
    }
    let mut gc = connect(&format!("{}:{}", fc.host, fc.port)).await?;
    let req = OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![OffsetFetchRequestTopic::default().with_name(TopicName(s(topic))).with_partition_indexes(ends.keys().copied().collect())]));
    let resp = gc.send(&req, 5, TIMEOUT).await.map_err(|e| e.to_string())?;
    if resp.error_code != 0 {
        return Err(format!("offsets of group {group}: error {}", resp.error_code));
    }
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
        .map(|p| (ends.get(&p.partition_index).copied().unwrap_or(0) - p.committed_offset).max(0))
        .sum())
}
