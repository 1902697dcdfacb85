//! Which API versions this broker advertises: Apache Kafka 3.9's range per API key, cut to the
//! versions the `kafka-protocol` codecs implement (which dropped versions below Kafka 4.0's floors).
//! A unit test in `handlers` checks that every key listed here has a handler and vice versa.

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;

/// (API key, Kafka 3.9's min, Kafka 3.9's max).
pub const KAFKA_3_9: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 0, 17),
    (ApiKey::ListOffsets, 0, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
];

/// The versions served for `key`, if any.
pub fn served(key: ApiKey) -> Option<VersionRange> {
    let &(_, min, max) = KAFKA_3_9.iter().find(|(k, _, _)| *k == key)?;
    let codec = key.valid_versions();
    let r = VersionRange { min: min.max(codec.min), max: max.min(codec.max) };
    (!r.is_empty()).then_some(r)
}

/// Every served key with its range, for ApiVersions.
pub fn all() -> Vec<(ApiKey, VersionRange)> {
    KAFKA_3_9.iter().filter_map(|(k, _, _)| served(*k).map(|r| (*k, r))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_kafka_3_9_within_the_codec() {
        assert_eq!(served(ApiKey::Produce), Some(VersionRange { min: 3, max: 11 }));
        assert_eq!(served(ApiKey::Fetch), Some(VersionRange { min: 4, max: 17 }));
        assert_eq!(served(ApiKey::Metadata), Some(VersionRange { min: 0, max: 12 }));
        assert_eq!(served(ApiKey::ApiVersions), Some(VersionRange { min: 0, max: 3 }));
        assert_eq!(served(ApiKey::EndTxn), None);
        assert_eq!(all().len(), KAFKA_3_9.len());
    }
}
